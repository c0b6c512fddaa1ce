"""The planner against real peaks: a PPO step of gpt2-small and smollm2-360m shapes (random
weights, bench/random_models.py) at two batch sizes, each in a fresh process whose peak
resident size above its post-import baseline is measured (bench/memory.py).

Cost: 105-225 s a case, 10.5 min for the four, measured on a 2-core CPU shared with other
jobs (2026-12-01); plus about 40 s once to build the two random models into the data
folder's bench cache. Marked slow; `make test` still runs it."""

from __future__ import annotations

import pytest

from bench.memory import default_case, error_row, measure

TOLERANCE = 0.25


@pytest.mark.slow
@pytest.mark.parametrize("batch", [2, 8])
@pytest.mark.parametrize("model", ["gpt2-small", "smollm2-360m"])
def test_planned_peak_is_within_25_percent_of_the_measured_one(model, batch):
    case = default_case(
        model=f"random:{model}", batch_size=batch, mini_batch_size=batch, max_new_tokens=16, steps=1
    )
    result = measure(case, timeout=570)
    assert "peak_bytes" in result, result.get("error")
    row = error_row(result)
    assert abs(row["error"]) <= TOLERANCE, row
    assert row["phase"] == "update"  # small prompts: the gradient pass is the peak
