"""GRPO and RLOO maths against hand-computed values."""

import math

import pytest
import torch

from core.grpo.maths import (
    STD_EPS,
    critic_free_loss,
    group_statistics,
    grpo_advantages,
    rloo_advantages,
)
from core.ppo.maths import kl_k3

SCORES = torch.tensor([1.0, 2.0, 3.0, 6.0])  # two groups of two: [1, 2] and [3, 6]


def test_grpo_divides_by_each_groups_unbiased_std():
    # Means 1.5 and 4.5; unbiased stds sqrt(0.5) = 0.70711 and sqrt(4.5) = 2.12132.
    got = grpo_advantages(SCORES, 2, "group")
    s1, s2 = math.sqrt(0.5) + STD_EPS, math.sqrt(4.5) + STD_EPS
    want = [-0.5 / s1, 0.5 / s1, -1.5 / s2, 1.5 / s2]
    assert got.tolist() == pytest.approx(want, rel=1e-6)
    assert got.tolist() == pytest.approx([-0.70700, 0.70700, -0.70707, 0.70707], abs=1e-5)


def test_dr_grpo_skips_the_std_scaling():
    assert grpo_advantages(SCORES, 2, "none").tolist() == [-0.5, 0.5, -1.5, 1.5]


def test_batch_std_scales_every_group_alike():
    # Batch mean 3, squared deviations 4 + 1 + 0 + 9 = 14, unbiased var 14 / 3.
    std = math.sqrt(14 / 3) + STD_EPS
    got = grpo_advantages(SCORES, 2, "batch")
    assert got.tolist() == pytest.approx([-0.5 / std, 0.5 / std, -1.5 / std, 1.5 / std])


def test_a_group_that_agrees_gets_zero_advantage_not_nan():
    got = grpo_advantages(torch.tensor([0.7, 0.7, 0.7, 1.0, 0.0, 0.5]), 3, "group")
    assert torch.isfinite(got).all() and got[:3].tolist() == [0.0, 0.0, 0.0]


def test_rloo_subtracts_the_mean_of_the_other_completions():
    # Group [1, 2, 6]: the others' means are 4, 3.5 and 1.5.
    got = rloo_advantages(torch.tensor([1.0, 2.0, 6.0, 0.0, 0.0, 3.0]), 3)
    assert got.tolist() == pytest.approx([-3.0, -1.5, 4.5, -1.5, -1.5, 3.0])
    # RLOO is the group-centred reward scaled by G / (G - 1).
    centred = grpo_advantages(torch.tensor([1.0, 2.0, 6.0]), 3, "none")
    assert rloo_advantages(torch.tensor([1.0, 2.0, 6.0]), 3).tolist() == pytest.approx(
        (centred * 1.5).tolist()
    )


def test_scores_that_do_not_fill_whole_groups_are_refused():
    with pytest.raises(ValueError, match="groups of 4"):
        grpo_advantages(torch.zeros(6), 4)


def test_group_statistics_count_groups_without_spread():
    zero_share, mean_std = group_statistics(torch.tensor([1.0, 1.0, 0.0, 2.0]), 2)
    assert zero_share == 0.5
    assert mean_std == pytest.approx(math.sqrt(2) / 2)  # stds 0 and sqrt(2)


def test_k3_matches_its_formula():
    # p = 0.5, p_ref = 0.25: r = 0.5, k3 = (r - 1) - log r = -0.5 + log 2.
    got = kl_k3(torch.tensor([math.log(0.5)]), torch.tensor([math.log(0.25)]))
    assert got.item() == pytest.approx(-0.5 + math.log(2))
    assert kl_k3(torch.zeros(3), torch.zeros(3)).tolist() == [0.0, 0.0, 0.0]


def test_loss_is_the_token_mean_of_minus_advantage_at_ratio_one_plus_beta_k3():
    logprobs = torch.full((2, 2), math.log(0.5))
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    advantages = torch.tensor([1.0, -4.0])  # tokens: -1, -1, +4 -> mean 2/3
    loss, gauges = critic_free_loss(logprobs, logprobs, None, advantages, mask, 0.2, 0.5)
    assert loss.item() == pytest.approx(2 / 3) and "loss/kl" not in gauges
    assert gauges["policy/clipfrac"].item() == 0.0

    ref = torch.full((2, 2), math.log(0.25))
    loss, gauges = critic_free_loss(logprobs, logprobs, ref, advantages, mask, 0.2, 0.5)
    k3 = -0.5 + math.log(2)
    assert gauges["loss/kl"].item() == pytest.approx(k3)
    assert loss.item() == pytest.approx(2 / 3 + 0.5 * k3)


def test_loss_clips_the_ratio_of_a_completion_pushed_too_far():
    old = torch.zeros(1, 2)
    new = torch.log(torch.tensor([[1.5, 1.1]]))  # ratios 1.5 (clipped to 1.2) and 1.1
    loss, gauges = critic_free_loss(new, old, None, torch.tensor([1.0]), torch.ones(1, 2), 0.2, 0.0)
    assert loss.item() == pytest.approx(-(1.2 + 1.1) / 2)
    assert gauges["policy/clipfrac"].item() == 0.5
