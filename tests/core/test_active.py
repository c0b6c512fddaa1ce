"""Active labelling's choice: the pair the bootstrap ensemble is least sure of."""

from __future__ import annotations

import numpy as np

from core.rating.active import bootstrap_indices, least_certain, uncertainty


def test_least_certain_picks_coin_flips_then_disagreement():
    p = np.array([
        [0.95, 0.50, 0.10, 0.80, 0.52],
        [0.97, 0.50, 0.05, 0.20, 0.48],
    ])  # fmt: skip
    # The members disagree most on 3, then 2 (std 0.025), then 4 (0.02), then 0 (0.01);
    # on 1 they agree (a coin flip both): it comes last.
    assert least_certain(p, 3) == [3, 2, 4]
    assert least_certain(p, 5, exclude=[3]) == [2, 4, 0, 1]
    same_spread = np.array([[0.6, 0.9], [0.4, 0.7]])  # std 0.1 both: the coin flip first
    assert least_certain(same_spread, 1) == [0]
    assert uncertainty(p)[1] < uncertainty(p)[0]


def test_bootstrap_indices_are_seeded_resamples():
    first = bootstrap_indices(10, 3, seed=1)
    assert first == bootstrap_indices(10, 3, seed=1) != bootstrap_indices(10, 3, seed=2)
    assert [len(member) for member in first] == [10, 10, 10]
    assert all(0 <= i < 10 for member in first for i in member)
    assert any(len(set(member)) < 10 for member in first)  # with replacement
