"""Active labelling's maths: the Bradley–Terry head, its bootstrap ensemble, the rules that
say which pair teaches most, and the diverse batch."""

from __future__ import annotations

import numpy as np
import pytest

from core.rating.active import (
    bootstrap_heads,
    bootstrap_indices,
    disagreement,
    fit_head,
    pair_probabilities,
    pick_batch,
    standardise,
    uncertainty,
)


def test_fit_head_recovers_the_preference_direction():
    rng = np.random.default_rng(0)
    diffs = rng.normal(size=(400, 5))
    truth = np.array([2.0, -1.0, 0.0, 0.0, 0.5])
    labels = (diffs @ truth > 0).astype(float)
    w = fit_head(diffs, labels, l2=0.1)
    held = rng.normal(size=(500, 5))
    assert np.mean((held @ w > 0) == (held @ truth > 0)) > 0.95
    # Soft labels of 0.5 everywhere teach nothing: the head stays at 0.
    assert np.allclose(fit_head(diffs, np.full(400, 0.5)), 0.0, atol=1e-6)


def test_bootstrap_heads_differ_and_agree_where_the_data_is_clear():
    rng = np.random.default_rng(1)
    diffs = rng.normal(size=(30, 3))
    labels = (diffs[:, 0] > 0).astype(float)
    heads = bootstrap_heads(diffs, labels, members=6, seed=0)
    assert heads.shape == (6, 3) and not np.allclose(heads[0], heads[1])
    assert np.array_equal(heads, bootstrap_heads(diffs, labels, members=6, seed=0))
    p = pair_probabilities(heads, np.array([[3.0, 0, 0], [-3.0, 0, 0], [0.0, 0, 0]]))
    assert p.shape == (6, 3)
    assert (p[:, 0] > 0.8).all() and (p[:, 1] < 0.2).all() and np.allclose(p[:, 2], 0.5)


def test_bald_prefers_members_that_disagree_to_a_shared_coin_flip():
    p = np.array([
        [0.95, 0.50, 0.90, 0.60],
        [0.05, 0.50, 0.92, 0.40],
    ])  # fmt: skip
    bald = uncertainty(p, "bald")
    # 0: sure of opposite answers (most to learn); 1: both call it a coin flip (noise, 0).
    assert np.argmax(bald) == 0 and bald[1] == pytest.approx(0.0, abs=1e-9)
    assert bald[3] > bald[2]  # a mild split teaches more than agreement
    margin = uncertainty(p, "margin")
    assert margin[1] == pytest.approx(0.5) and np.argmax(margin) in (0, 1)
    assert np.argmax(uncertainty(p, "spread")) == 0
    with pytest.raises(ValueError, match="unknown acquisition"):
        uncertainty(p, "entropy")


def test_disagreement_is_the_gap_between_the_mean_and_the_judge():
    p = np.array([[0.9, 0.2], [0.7, 0.4]])  # means 0.8, 0.3
    assert disagreement(p, [0.1, 0.3]) == pytest.approx([0.7, 0.0])


def test_pick_batch_takes_the_best_and_lets_near_copies_wait():
    scores = np.array([0.9, 0.8, 0.7, 0.1])
    diffs = np.array([[1.0, 0.0], [2.0, 0.01], [0.0, 1.0], [1.0, 1.0]])  # 1 is a copy of 0
    assert pick_batch(scores, 2) == [0, 1]
    assert pick_batch(scores, 2, diffs) == [0, 2]
    assert pick_batch(scores, 4, diffs) == [0, 2, 3, 1]  # the copy fills the batch last
    assert pick_batch(scores, 3, diffs, exclude=[0]) == [1, 2, 3]


def test_standardise_and_bootstrap_indices():
    x = standardise(np.array([[1.0, 5.0], [3.0, 5.0]]))
    assert np.allclose(x, [[-1.0, 0.0], [1.0, 0.0]])  # a constant column stays 0
    first = bootstrap_indices(10, 3, seed=1)
    assert np.array_equal(first, bootstrap_indices(10, 3, seed=1))
    assert not np.array_equal(first, bootstrap_indices(10, 3, seed=2))
    assert first.shape == (3, 10) and first.min() >= 0 and first.max() < 10
    assert any(len(set(row)) < 10 for row in first)  # with replacement


def test_the_benchmark_interpolates_labels_to_target():
    from bench.active_labelling import labels_to, ratio_of

    labels = np.array([20, 30, 40, 50])
    curve = np.array([0.80, 0.84, 0.90, 0.91])
    assert labels_to(0.87, curve, labels) == pytest.approx(35.0)  # half-way from 30 to 40
    assert labels_to(0.70, curve, labels) == 20.0 and labels_to(0.95, curve, labels) is None
    # The target is random's accuracy at 40 labels (0.90); active reaches it at 30.
    curves = {"random": curve[None], "bald": np.array([[0.80, 0.90, 0.91, 0.92]])}
    assert ratio_of(curves, "bald", labels, at=40) == pytest.approx(0.75)
