"""On a CUDA device (skipped without one; run with `pytest -m gpu` where a GPU is lent):
PPO steps in bfloat16, reproducible sampling, the reference is the base model, and the
memory metric is the CUDA allocator's peak."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from transformers import AutoModelForCausalLM

from core.config import GenerationConfig, ModelSpec, PPOConfig
from core.model.generate import encode_prompts, generate, sample
from core.model.session import ModelSession
from core.onpolicy.rollout import forward_response
from core.ppo.trainer import PPOTrainer

DEVICE = "cuda"
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA device"
    ),
]
PROMPTS = ["I loved", "The movie was", "Terrible", "The blender"]
SMALL = PPOConfig(steps=2, batch_size=4, mini_batch_size=2, ppo_epochs=2, max_new_tokens=8,
                  samples_per_step=2, seed=0)  # fmt: skip


class LengthReward:
    name = "length"

    def score(self, prompts, responses):
        return [len(text) / 20 for text in responses]


def load(folder, dtype: str = "auto") -> ModelSession:
    return ModelSession.load(ModelSpec(name_or_path=str(folder), device=DEVICE, dtype=dtype))


def test_ppo_runs_in_bfloat16_and_reports_the_allocator_peak(tiny_model_dir):
    session = load(tiny_model_dir, dtype="bfloat16")
    assert session.dtype == torch.bfloat16 and session.device.type == DEVICE
    metrics = [result.metrics for result in PPOTrainer(session, LengthReward(), PROMPTS, SMALL)]
    assert [m["step"] for m in metrics] == [1.0, 2.0]
    assert all(math.isfinite(v) for m in metrics for v in m.values())
    if DEVICE == "cuda":
        peak = metrics[-1]["perf/peak_mem_bytes"]
        assert 0 < peak <= torch.cuda.get_device_properties(0).total_memory


def test_sampling_is_reproducible_and_scored_as_sampled(tiny_model_dir):
    session = load(tiny_model_dir)
    config = GenerationConfig(n=2, max_new_tokens=8, seed=3, temperature=0.8)
    first, second = generate(session, PROMPTS, config), generate(session, PROMPTS, config)
    assert [c.response_ids for c in first] == [c.response_ids for c in second]
    batch = sample(session, encode_prompts(session, PROMPTS, 8), config, generator_seed=1)
    out = forward_response(session.model, None, batch, temperature=0.8)
    mask = batch.response_mask.bool()
    assert torch.allclose(out.logprobs[mask], batch.logprobs[mask], atol=1e-4)


def test_the_reference_is_the_base_model_after_training(tiny_model_dir):
    session = load(tiny_model_dir)
    list(PPOTrainer(session, LengthReward(), PROMPTS, replace(SMALL, learning_rate=1e-2)))
    bare = AutoModelForCausalLM.from_pretrained(tiny_model_dir).to(DEVICE).eval()
    tokens = torch.randint(3, 300, (2, 12), generator=torch.Generator().manual_seed(0))
    tokens = tokens.to(DEVICE)
    with torch.no_grad(), session.reference():
        reference = session.model(input_ids=tokens).logits
    with torch.no_grad():
        assert torch.allclose(reference, bare(input_ids=tokens).logits, atol=1e-4)
        assert not torch.allclose(session.model(input_ids=tokens).logits, reference, atol=1e-4)
