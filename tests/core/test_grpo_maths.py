"""GRPO and RLOO maths against hand-computed values."""

import math

import pytest
import torch

from core.grpo.maths import (
    STD_EPS,
    LossOptions,
    aggregate_loss,
    clipped_surrogate,
    critic_free_loss,
    group_statistics,
    grpo_advantages,
    kl_estimate,
    log_importance_weights,
    rloo_advantages,
    zero_spread_rows,
)
from core.onpolicy.maths import kl_k3

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


BNPO = LossOptions(loss_type="bnpo", epsilon_low=0.2, epsilon_high=0.2, beta=0.5)
"""The minibatch token mean, clip 0.2, beta 0.5 with k3: the loss before the options."""


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
    loss, gauges = critic_free_loss(logprobs, logprobs, None, advantages, mask, BNPO)
    assert loss.item() == pytest.approx(2 / 3) and "loss/kl" not in gauges
    assert gauges["policy/clipfrac"].item() == 0.0

    ref = torch.full((2, 2), math.log(0.25))
    loss, gauges = critic_free_loss(logprobs, logprobs, ref, advantages, mask, BNPO)
    k3 = -0.5 + math.log(2)
    assert gauges["loss/kl"].item() == pytest.approx(k3)
    assert loss.item() == pytest.approx(2 / 3 + 0.5 * k3)


def test_loss_clips_the_ratio_of_a_completion_pushed_too_far():
    old = torch.zeros(1, 2)
    new = torch.log(torch.tensor([[1.5, 1.1]]))  # ratios 1.5 (clipped to 1.2) and 1.1
    loss, gauges = critic_free_loss(new, old, None, torch.tensor([1.0]), torch.ones(1, 2), BNPO)
    assert loss.item() == pytest.approx(-(1.2 + 1.1) / 2)
    assert gauges["policy/clipfrac"].item() == 0.5


# ------------------------------------------------------------- the loss options


PER_TOKEN = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])


@pytest.mark.parametrize(
    ("loss_type", "expected"),
    [
        ("grpo", (2.0 + 4.0) / 2),  # row means 2 and 4, then their mean
        ("bnpo", 10.0 / 4),  # the 4 real tokens' mean
        ("dr_grpo", 10.0 / (2 * 5)),  # sum over rows x max_new_tokens (5)
        ("dapo", 10.0 / (2 * 2.5)),  # sum over rows x the batch's mean tokens per row (2.5)
    ],
)
def test_each_loss_type_aggregates_tokens_by_its_rule(loss_type, expected):
    got = aggregate_loss(PER_TOKEN, MASK, loss_type, max_tokens=5, tokens_per_row=2.5)
    assert got.item() == pytest.approx(expected)


def test_dapo_over_two_minibatches_is_the_token_mean_of_the_batch():
    # Minibatches of one row each: averaging their dapo losses gives the batch's token mean
    # (10 / 4), while bnpo's average weighs the short completion's one token as much as
    # the long one's three (mean of 2 and 4).
    tokens_per_row = MASK.sum().item() / 2
    dapo = [aggregate_loss(PER_TOKEN[i : i + 1], MASK[i : i + 1], "dapo", 5, tokens_per_row)
            for i in range(2)]  # fmt: skip
    bnpo = [aggregate_loss(PER_TOKEN[i : i + 1], MASK[i : i + 1], "bnpo", 5, tokens_per_row)
            for i in range(2)]  # fmt: skip
    assert (sum(dapo) / 2).item() == pytest.approx(10.0 / 4)
    assert (sum(bnpo) / 2).item() == pytest.approx(3.0)


def test_unknown_loss_type_is_refused_by_name():
    with pytest.raises(ValueError, match="loss_type is 'ppo'"):
        aggregate_loss(PER_TOKEN, MASK, "ppo", 5, 2.5)


def test_sequence_level_weights_are_the_mean_token_log_ratio_on_every_token():
    old = torch.zeros(2, 3)
    new = torch.tensor([[0.3, 0.0, -0.6], [0.5, 9.0, 9.0]])  # row 2: padding after 1 token
    weights = log_importance_weights(new, old, MASK, "sequence")
    assert weights[0].tolist() == pytest.approx([-0.1] * 3)
    assert weights[1].tolist() == pytest.approx([0.5] * 3)
    assert torch.equal(log_importance_weights(new, old, MASK, "token"), new)


def test_clip_higher_lets_a_positive_advantage_ratio_rise_further_than_it_may_fall():
    log_weights = torch.log(torch.tensor([[1.25, 0.7]]))
    loss, clipped = clipped_surrogate(log_weights, torch.tensor([[1.0]]), 0.2, 0.28)
    assert loss[0].tolist() == pytest.approx([-1.25, -0.7])  # 1.25 < 1.28: not clipped
    assert clipped.tolist() == [[False, False]]
    loss, clipped = clipped_surrogate(log_weights, torch.tensor([[1.0]]), 0.2, 0.2)
    assert loss[0].tolist() == pytest.approx([-1.2, -0.7])  # symmetric: 1.25 clipped to 1.2
    assert clipped.tolist() == [[True, False]]
    # A negative advantage is clipped at the lower bound: ratio 0.7 -> 0.8.
    loss, _ = clipped_surrogate(log_weights, torch.tensor([[-1.0]]), 0.2, 0.28)
    assert loss[0].tolist() == pytest.approx([1.25, 0.8])


def test_kl_estimators_match_their_formulas():
    # p = 0.5, p_ref = 0.25 per token: log p - log p_ref = log 2.
    logp, ref = torch.tensor([math.log(0.5)]), torch.tensor([math.log(0.25)])
    assert kl_estimate(logp, ref, "k1").item() == pytest.approx(math.log(2))
    assert kl_estimate(logp, ref, "k2").item() == pytest.approx(0.5 * math.log(2) ** 2)
    assert kl_estimate(logp, ref, "k3").item() == pytest.approx(-0.5 + math.log(2))
    # Where the policy gave a token less mass than the reference, only k1 goes negative.
    assert kl_estimate(ref, logp, "k1").item() < 0
    assert kl_estimate(ref, logp, "k2").item() > 0 and kl_estimate(ref, logp, "k3").item() > 0


def test_zero_spread_rows_mark_every_completion_of_a_group_that_all_agree():
    scores = torch.tensor([1.0, 1.0, 0.0, 2.0, 3.0, 3.0])
    assert zero_spread_rows(scores, 2).tolist() == [True, True, False, False, True, True]


def test_the_loss_uses_the_chosen_estimator_and_aggregation():
    logprobs = torch.full((2, 3), math.log(0.5), requires_grad=True)
    ref = torch.full((2, 3), math.log(0.25))
    options = LossOptions(loss_type="grpo", beta=0.1, kl_estimator="k2", max_tokens=3)
    loss, gauges = critic_free_loss(logprobs, logprobs.detach(), ref, torch.tensor([1.0, -1.0]),
                                    MASK, options)  # fmt: skip
    k2 = 0.5 * math.log(2) ** 2
    # Row 1: -1 + 0.1 k2 on 3 tokens; row 2: +1 + 0.1 k2 on 1 token; grpo: mean of row means.
    assert loss.item() == pytest.approx(0.1 * k2)
    assert gauges["loss/kl"].item() == pytest.approx(k2)
    loss.backward()
    assert logprobs.grad is not None


def test_kl_bias_correction_keeps_the_kl_value_and_makes_its_gradient_log_p_over_p_ref():
    # One token, p = 0.5, p_ref = 0.25, on policy (ratio 1); loss = beta * KL term only.
    ref = torch.full((1, 1), math.log(0.25))
    mask = torch.ones(1, 1)
    zero_advantage = torch.zeros(1)
    gradients, values = {}, {}
    for corrected in (False, True):
        logprobs = torch.full((1, 1), math.log(0.5), requires_grad=True)
        options = LossOptions(loss_type="bnpo", beta=1.0, kl_bias_correction=corrected)
        loss, gauges = critic_free_loss(
            logprobs, logprobs.detach(), ref, zero_advantage, mask, options
        )
        loss.backward()
        gradients[corrected], values[corrected] = logprobs.grad.item(), loss.item()
    k3 = 0.5 - math.log(0.5) - 1  # r - log r - 1 with r = p_ref / p = 0.5
    assert values[False] == pytest.approx(k3) and values[True] == pytest.approx(k3)
    # k3's gradient in log p: 1 - p_ref / p = 0.5 (the gradient of KL(ref || pi));
    # corrected: + k3 from the ratio, = log(p / p_ref) = log 2 (that of KL(pi || ref)).
    assert gradients[False] == pytest.approx(0.5)
    assert gradients[True] == pytest.approx(math.log(2))


def test_kl_bias_correction_weights_the_kl_by_the_ratio_off_policy():
    old = torch.full((1, 1), math.log(0.5))
    logprobs = torch.full((1, 1), math.log(0.6))  # ratio 1.2, inside the clip range
    ref = torch.full((1, 1), math.log(0.3))
    options = LossOptions(loss_type="bnpo", beta=1.0, kl_bias_correction=True)
    _, gauges = critic_free_loss(logprobs, old, ref, torch.zeros(1), torch.ones(1, 1), options)
    k3 = 0.5 - math.log(0.5) - 1  # p_ref / p = 0.3 / 0.6
    assert gauges["loss/kl"].item() == pytest.approx(1.2 * k3)
