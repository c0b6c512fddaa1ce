"""bench/random_models.py: offline stand-ins of hub models for the benchmark (no TRL needed)."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from bench.random_models import PRESETS, random_model
from core.config import GenerationConfig, ModelSpec
from core.model.generate import generate
from core.model.session import ModelSession


@pytest.mark.parametrize(
    ("preset", "millions"), [("gpt2-small", 124), ("smollm2-360m", 362), ("qwen2.5-0.5b", 494)]
)
def test_presets_have_the_real_models_size(preset, millions):
    make_config, vocab = PRESETS[preset]
    with torch.device("meta"):  # shapes only: no memory, no time
        model = AutoModelForCausalLM.from_config(make_config(vocab))
    assert sum(p.numel() for p in model.parameters()) / 1e6 == pytest.approx(millions, rel=0.02)


def test_random_model_loads_generates_and_is_cached(tmp_path):
    folder = random_model("random:tiny", tmp_path)
    session = ModelSession.load(ModelSpec(name_or_path=str(folder), device="cpu"))
    assert len(session.tokenizer) == PRESETS["tiny"][1] == session.model.config.vocab_size
    [completion] = generate(session, ["The movie was"], GenerationConfig(max_new_tokens=8, seed=0))
    assert len(completion.response_ids) >= 1 and isinstance(completion.text, str)
    assert session.tokenizer.decode([session.tokenizer.convert_tokens_to_ids("<x5>")]) == "<x5>"
    stamp = (folder / "config.json").stat().st_mtime_ns
    assert random_model("random:tiny", tmp_path) == folder
    assert (folder / "config.json").stat().st_mtime_ns == stamp  # reused, not rebuilt
    with pytest.raises(SystemExit, match="unknown preset"):
        random_model("random:gpt5", tmp_path)
