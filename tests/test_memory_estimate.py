"""The rough PPO memory estimate (core), shown by the Train page and printed by the CLI."""

import math

import pytest

from core.config import LoraSpec, ModelSpec, PPOConfig
from core.memory_estimate import estimate_ppo_memory, session_memory_line


@pytest.mark.parametrize("dtype, factor", [("float32", 4), ("bfloat16", 2)])
def test_memory_estimate_counts_weights_by_dtype(dtype, factor):
    info = {"params": 124_000_000, "hidden_size": 768, "vocab_size": 50257, "dtype": dtype}
    estimate = estimate_ppo_memory(info, PPOConfig(), LoraSpec())
    assert estimate.weights == 124_000_000 * factor
    assert estimate.total > estimate.weights
    assert math.isfinite(estimate.total)
    assert "GiB" in estimate.describe()


def test_memory_estimate_grows_with_the_batch_and_the_lora_rank():
    info = {"params": 124_000_000, "hidden_size": 768, "vocab_size": 50257, "dtype": "float32"}
    small = estimate_ppo_memory(info, PPOConfig(), LoraSpec(r=8))
    bigger = estimate_ppo_memory(info, PPOConfig(batch_size=64), LoraSpec(r=32))
    assert bigger.sampling_cache > small.sampling_cache
    assert bigger.lora_and_optimizer == 4 * small.lora_and_optimizer


def test_session_memory_line_describes_the_loaded_model(tiny_model_dir):
    from core.models import ModelSession

    session = ModelSession.load(ModelSpec(name_or_path=str(tiny_model_dir), device="cpu"))
    line = session_memory_line(session, PPOConfig())
    assert line.startswith("memory estimate") and line.endswith("on cpu")
    assert "MiB" in line and "weights" in line
