"""Active labelling: spend the next label where the reward model is least sure.

A bootstrap ensemble (Efron 1979; as in query-by-committee, Seung et al. 1992) stands
for the reward model's uncertainty: M models trained on M resamples (with replacement)
of the labelled pairs each give P(answer A is better) = σ(r_A - r_B) for every unlabelled
pair. The pair to label next is the one the members disagree on most (the spread of their
P: query by committee), ties broken by the mean's closeness to 0.5. Disagreement marks
what the labels so far leave open; a mean near 0.5 with agreeing members is often a pair
with no clear answer, whose label teaches little (bench/active_labelling.py compares
the orders; docs/benchmarks.md has its figures, which are still noisy).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np


def bootstrap_indices(count: int, members: int, seed: int) -> list[list[int]]:
    """`members` resamples with replacement of range(count), one per ensemble member."""
    rng = random.Random(seed)
    return [[rng.randrange(count) for _ in range(count)] for _ in range(members)]


def uncertainty(p_members: np.ndarray) -> np.ndarray:
    """(N,) how unsure the ensemble is of each pair, from its (M, N) P(A better): higher is
    less sure. The members' standard deviation, plus a small share of 0.5 - |mean - 0.5|
    (0 = certain, 0.5 = a coin flip) to break ties."""
    p = np.asarray(p_members, dtype=float)
    return p.std(axis=0) + 1e-3 * (0.5 - np.abs(p.mean(axis=0) - 0.5))


def least_certain(p_members: np.ndarray, k: int, exclude: Sequence[int] = ()) -> list[int]:
    """The indices of the `k` pairs the ensemble is least sure of, least sure first."""
    scores = uncertainty(p_members)
    scores[list(exclude)] = -np.inf
    order = np.argsort(-scores, kind="stable")
    return [int(i) for i in order[:k] if np.isfinite(scores[i])]
