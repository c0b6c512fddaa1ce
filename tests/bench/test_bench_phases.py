"""bench/grpo_phases.py: each side's step split into phases, the timers taken off after."""

import pytest
import torch

from bench import grpo_phases
from bench.common import load_prompts
from bench.grpo_sides import GroupBenchSettings
from core.onpolicy import rollout

TINY = dict(steps=1, batch_size=2, group_size=2, mini_batch_size=2, epochs=1, max_new_tokens=2)


def _settings(model_dir, algorithm="grpo") -> GroupBenchSettings:
    return GroupBenchSettings(
        model_dir=str(model_dir),
        algorithm=algorithm,
        lora_r=2,
        lora_alpha=4,
        threads=1,
        prompts=tuple(load_prompts()),
        **TINY,
    )


@pytest.mark.parametrize("side", ["ours", "trl"])
def test_each_phase_is_timed_once_per_call_and_the_timers_come_off(side, tiny_model_dir):
    if side == "trl":
        pytest.importorskip("trl")
    sample, backward = rollout.sample, torch.Tensor.backward

    found = grpo_phases.measure(side, _settings(tiny_model_dir))

    phases = found["phases"]
    assert phases["generate"][1] == 1  # one step, one sampling call
    assert phases["loss forward"][1] == phases["backward"][1] == 1  # one minibatch, one epoch
    # Sampling is part of the rollout, and every phase is part of the whole loop.
    assert 0 < phases["generate"][0] <= phases["rollout (with generate)"][0]
    assert phases["rollout (with generate)"][0] <= phases["whole loop"][0]
    assert found["samples_per_cpu_s"] > 0
    assert rollout.sample is sample and torch.Tensor.backward is backward
    assert "step" not in vars(torch.optim.AdamW) or torch.optim.AdamW.step.__name__ == "step"
