"""Active labelling: spend the next label where the reward model is least sure.

The reward model is r(x) = w · φ(x) + b on the pooled features φ its score head reads
(core.reward_model.features); for a pair, P(A better) = σ(w · (φ_A - φ_B)) (Bradley–Terry). Refitting
the head alone on the labelled pairs is a small L2-regularised logistic regression, so a
bootstrap ensemble of it is cheap (Efron 1979): M heads fitted on M resamples (with
replacement) of the labelled pairs, each giving P(A better) for every unlabelled pair.

Which pair to ask about next (`acquisition`):

- `bald`: the mutual information between the label and the head, H[mean p] - mean H[p]
  (Houlsby et al. 2011, "BALD"; with a committee, as in Seung et al. 1992). High where the
  members are each sure but of different answers: what the labels so far leave open. A
  pair every member calls a coin flip scores low: its label is noise, and teaches little.
- `spread`: the members' standard deviation of P (query by committee).
- `margin`: the mean P closest to 0.5 (uncertainty sampling, Lewis & Gale 1994).

A batch of k is taken greedily with a diversity rule: a candidate too alike (cosine of
feature differences above `max_similarity`) to one already taken waits, so one round does
not spend ten labels on ten near-copies of one question.

`disagreement` ranks pairs by how far the reward model's mean P is from a judge's P(left
better): where the two sources of feedback part ways, a person's verdict settles which is
right. bench/active_labelling.py measures the orders against random (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ACQUISITIONS = ("bald", "spread", "margin")
L2 = 1.0
"""The heads' L2 penalty (on standardised features): with tens of labels and a hundred
or more features, an unpenalised logistic regression separates the labels and its P
jumps to 0 or 1."""


def standardise(features: np.ndarray) -> np.ndarray:
    """(N, D) features with each column centred and scaled to unit variance (constant
    columns left at 0), so one L2 penalty fits every backbone's scale."""
    x = np.asarray(features, dtype=float)
    std = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) without overflow for large |z|."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=float)))


def fit_head(
    diffs: np.ndarray, labels: np.ndarray, l2: float = L2, start: np.ndarray | None = None,
    iterations: int = 12,
) -> np.ndarray:  # fmt: skip
    """Bradley–Terry head w (D,) for pairs with feature differences `diffs` (N, D) = φ_A - φ_B
    and soft labels (N,) = P(A better): Newton steps on the mean-free L2-penalised log loss
    (convex, so a dozen steps converge; `start` warm-starts from an earlier fit)."""
    x, y = np.asarray(diffs, dtype=float), np.asarray(labels, dtype=float)
    w = np.zeros(x.shape[1]) if start is None else np.array(start, dtype=float)
    ridge = l2 * np.eye(x.shape[1])
    for _ in range(iterations):
        p = sigmoid(x @ w)
        gradient = x.T @ (p - y) + l2 * w
        hessian = (x * (p * (1.0 - p))[:, None]).T @ x + ridge
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w


def bootstrap_indices(count: int, members: int, seed: int) -> np.ndarray:
    """(members, count) resamples with replacement of range(count), one per member."""
    return np.random.default_rng(seed).integers(0, count, size=(members, count))


def bootstrap_heads(
    diffs: np.ndarray, labels: np.ndarray, members: int = 8, seed: int = 0, l2: float = L2
) -> np.ndarray:
    """(members, D) heads, each fitted on a bootstrap resample of the labelled pairs
    (warm-started from the fit on all of them)."""
    x, y = np.asarray(diffs, dtype=float), np.asarray(labels, dtype=float)
    centre = fit_head(x, y, l2)
    resamples = bootstrap_indices(len(y), members, seed)
    return np.stack([fit_head(x[rows], y[rows], l2, start=centre) for rows in resamples])


def pair_probabilities(heads: np.ndarray, diffs: np.ndarray) -> np.ndarray:
    """(M, N) each head's P(A better) for each pair's feature difference (N, D)."""
    return sigmoid(np.asarray(diffs, dtype=float) @ np.asarray(heads, dtype=float).T).T


def _entropy(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-12, 1 - 1e-12)
    return -(q * np.log(q) + (1 - q) * np.log(1 - q))


def uncertainty(p_members: np.ndarray, acquisition: str = "bald") -> np.ndarray:
    """(N,) how much each pair's label would teach, from the ensemble's (M, N) P(A
    better): higher first. See the module doc for the rules."""
    p = np.asarray(p_members, dtype=float)
    mean = p.mean(axis=0)
    if acquisition == "bald":
        return _entropy(mean) - _entropy(p).mean(axis=0)
    if acquisition == "spread":
        return p.std(axis=0)
    if acquisition == "margin":
        return 0.5 - np.abs(mean - 0.5)
    raise ValueError(f"unknown acquisition {acquisition!r}; choose one of {ACQUISITIONS}")


def disagreement(p_members: np.ndarray, judge_p: Sequence[float]) -> np.ndarray:
    """(N,) |reward model's mean P(A better) - judge's P(A better)|: 1 = opposite and
    sure, 0 = the same verdict with the same confidence."""
    return np.abs(np.asarray(p_members, dtype=float).mean(axis=0) - np.asarray(judge_p))


def pick_batch(
    scores: np.ndarray, k: int, diffs: np.ndarray | None = None, max_similarity: float = 0.9,
    exclude: Sequence[int] = (),
) -> list[int]:  # fmt: skip
    """The indices of `k` pairs, highest score first, skipping `exclude` and (given the
    feature differences) any pair whose |cosine| with one already taken exceeds
    `max_similarity`; skipped pairs fill the batch only when too few others are left."""
    scores = np.array(scores, dtype=float)
    scores[list(exclude)] = -np.inf
    order = [int(i) for i in np.argsort(-scores, kind="stable") if np.isfinite(scores[i])]
    if diffs is None:
        return order[:k]
    unit = np.asarray(diffs, dtype=float)
    unit = unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
    taken: list[int] = []
    waiting: list[int] = []
    for index in order:
        if len(taken) == k:
            break
        if taken and np.abs(unit[taken] @ unit[index]).max() > max_similarity:
            waiting.append(index)
        else:
            taken.append(index)
    return taken + waiting[: k - len(taken)]
