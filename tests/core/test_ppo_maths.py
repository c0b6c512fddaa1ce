"""PPO maths, KL controllers and value head against values worked out by hand."""

import math

import pytest
import torch

from core.config import PPOConfig
from core.errors import TrainingError
from core.model.logprobs import entropy_from_logits, logprobs_of
from core.onpolicy.maths import kl_k1, kl_k3, masked_mean, masked_var, masked_whiten
from core.onpolicy.rollout import PromptOrder
from core.ppo.kl_control import AdaptiveKLController, FixedKLController, make_kl_controller
from core.ppo.maths import compute_gae, explained_variance, policy_loss, value_loss
from core.ppo.value_head import ValueHead
from core.train.optim import lr_factor

VALUES = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
MASK = torch.tensor([[1, 1, 0], [1, 0, 0]])  # keeps 1, 2 and 4


def close(actual, expected, tol=1e-5):
    return torch.allclose(
        torch.as_tensor(actual, dtype=torch.float32), torch.tensor(expected), atol=tol
    )


def test_masked_mean_ignores_padding():
    assert close(masked_mean(VALUES, MASK), 7 / 3)
    assert close(masked_mean(VALUES, MASK, dim=1), [1.5, 4.0])


def test_masked_mean_of_an_empty_mask_is_zero_not_nan():
    assert masked_mean(VALUES, torch.zeros_like(MASK)).item() == 0.0


def test_masked_var_biased_and_unbiased():
    # deviations from 7/3: -4/3, -1/3, 5/3 -> squares sum to 14/3
    assert close(masked_var(VALUES, MASK, unbiased=False), 14 / 9)
    assert close(masked_var(VALUES, MASK), 7 / 3)
    assert masked_var(VALUES, torch.tensor([[1, 0, 0], [0, 0, 0]])).item() == 0.0


def test_masked_whiten_centres_and_scales_over_the_mask():
    whitened = masked_whiten(VALUES, MASK)
    expected = [(v - 7 / 3) / math.sqrt(7 / 3) for v in (1.0, 2.0, 4.0)]
    assert close(whitened[MASK.bool()], expected)
    assert close(masked_mean(whitened, MASK), 0.0)
    assert close(masked_var(whitened, MASK), 1.0, tol=1e-4)


def test_masked_whiten_without_shift_keeps_the_mean():
    whitened = masked_whiten(VALUES, MASK, shift_mean=False)
    expected = [(v - 7 / 3) / math.sqrt(7 / 3) + 7 / 3 for v in (1.0, 2.0, 4.0)]
    assert close(whitened[MASK.bool()], expected)
    assert close(masked_mean(whitened, MASK), 7 / 3)


def test_gae_by_hand():
    # gamma 1, lambda 0.5; the last position is padding and its value 9 must not leak.
    rewards = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    values = torch.tensor([[0.5, 0.4, 0.2, 9.0]])
    mask = torch.tensor([[1, 1, 1, 0]])
    advantages, returns = compute_gae(rewards, values, mask, gamma=1.0, lam=0.5)
    # A2 = 1 - 0.2 = 0.8 ; A1 = (0 + 0.2 - 0.4) + 0.5 * 0.8 = 0.2 ; A0 = (0.4 - 0.5) + 0.1 = 0
    assert close(advantages, [[0.0, 0.2, 0.8, 0.0]])
    assert close(returns, [[0.5, 0.6, 1.0, 0.0]])


def test_gae_with_lambda_one_gives_discounted_monte_carlo_returns():
    rewards = torch.tensor([[0.0, 0.0, 1.0, 7.0], [0.5, -1.0, 3.0, 3.0]])
    values = torch.tensor([[0.3, -0.2, 0.1, 5.0], [1.0, 2.0, 4.0, 4.0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    _, returns = compute_gae(rewards, values, mask, gamma=0.9, lam=1.0)
    # row 0: 0.81, 0.9, 1 ; row 1: 0.5 + 0.9 * -1 = -0.4, -1 ; padding stays 0
    assert close(returns, [[0.81, 0.9, 1.0, 0.0], [-0.4, -1.0, 0.0, 0.0]])


def test_gae_with_lambda_zero_is_the_one_step_td_error():
    rewards = torch.tensor([[1.0, 2.0]])
    values = torch.tensor([[0.5, 1.5]])
    advantages, _ = compute_gae(rewards, values, torch.ones(1, 2), gamma=1.0, lam=0.0)
    assert close(advantages, [[1.0 + 1.5 - 0.5, 2.0 - 1.5]])


def test_kl_estimators():
    logp, ref = torch.tensor([math.log(0.5)]), torch.tensor([math.log(0.25)])
    assert close(kl_k1(logp, ref), [math.log(2)])
    # r = p_ref / p = 0.5: k3 = (0.5 - 1) - log 0.5
    assert close(kl_k3(logp, ref), [-0.5 + math.log(2)])
    assert kl_k3(ref, logp).item() > 0  # k3 is never negative, whichever side is larger
    assert kl_k3(logp, logp).item() == 0.0


def test_entropy_from_logits():
    logits = torch.tensor([[0.0, 0.0], [0.0, math.log(3.0)]])
    expected = [math.log(2), -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))]
    assert close(entropy_from_logits(logits), expected)


def test_logprobs_of_gathers_the_chosen_tokens():
    logits = torch.log(torch.tensor([[[0.2, 0.8], [0.6, 0.4]]]))  # (1, 2, 2)
    assert close(logprobs_of(logits, torch.tensor([[1, 0]])), [[math.log(0.8), math.log(0.6)]])


def test_policy_loss_by_hand():
    ratios = torch.tensor([[1.5, 0.5, 1.1, 2.0]])
    advantages = torch.tensor([[1.0, 1.0, -1.0, 5.0]])
    mask = torch.tensor([[1, 1, 1, 0]])
    loss, clipfrac, approxkl = policy_loss(ratios.log(), torch.zeros(1, 4), advantages, mask, 0.2)
    # per token max(-A r, -A clip(r)): -1.2 (clipped), -0.5, 1.1 ; the padded token is ignored
    assert close(loss, (-1.2 - 0.5 + 1.1) / 3)
    assert close(clipfrac, 1 / 3)
    assert close(approxkl, 0.5 * (math.log(1.5) ** 2 + math.log(0.5) ** 2 + math.log(1.1) ** 2) / 3)


def test_policy_loss_at_ratio_one_is_minus_the_mean_advantage_and_has_gradient():
    logprobs = torch.zeros(1, 3, requires_grad=True)
    loss, clipfrac, approxkl = policy_loss(
        logprobs, torch.zeros(1, 3), torch.tensor([[1.0, -2.0, 4.0]]), torch.ones(1, 3), 0.2
    )
    loss.backward()
    assert close(loss, -1.0) and clipfrac.item() == 0.0 and approxkl.item() == 0.0
    assert close(logprobs.grad, [[-1 / 3, 2 / 3, -4 / 3]])


def test_value_loss_by_hand():
    values = torch.tensor([[1.0, 0.0, 0.5]])
    old_values = torch.tensor([[0.5, 0.5, 0.5]])
    returns = torch.tensor([[2.0, 0.0, 0.0]])
    loss, clipfrac = value_loss(values, old_values, returns, torch.ones(1, 3), 0.2)
    # errors max((V-R)^2, (clip(V)-R)^2): max(1, 1.69), max(0, 0.09), max(0.25, 0.25)
    assert close(loss, 0.5 * (1.69 + 0.09 + 0.25) / 3)
    assert close(clipfrac, 2 / 3)


def test_a_value_inside_its_band_is_never_counted_as_clipped():
    """Values near 0 that moved well inside the band are not clipped: the clip fraction
    is 0, not the rounding of V_old + (V - V_old) to a float next to V."""
    generator = torch.Generator().manual_seed(0)
    old_values = 0.1 * torch.rand(8, 64, generator=generator) - 0.05
    values = old_values + 0.1 * torch.rand(8, 64, generator=generator) - 0.05
    returns = 2 * torch.rand(8, 64, generator=generator) - 1
    _, clipfrac = value_loss(values, old_values, returns, torch.ones(8, 64), 0.2)
    assert clipfrac.item() == 0.0


def test_explained_variance():
    returns = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    mask = torch.tensor([[1, 1, 1, 0]])
    assert close(explained_variance(returns, returns, mask), 1.0)
    assert close(explained_variance(torch.zeros(1, 4), returns, mask), 0.0)
    # residuals 0, 0, -1: variance 2/9 against 2/3 -> 1 - 1/3
    assert close(explained_variance(torch.tensor([[1.0, 2.0, 4.0, 0.0]]), returns, mask), 2 / 3)
    assert explained_variance(torch.zeros(1, 3), torch.ones(1, 3), torch.ones(1, 3)).item() == 0.0


def test_adaptive_kl_controller_follows_ziegler():
    controller = AdaptiveKLController(0.1, target=6.0, horizon=100)
    controller.update(current_kl=12.0, n_steps=10)  # error 1.0 clipped to 0.2
    assert controller.value == pytest.approx(0.1 * 1.02)
    controller.update(current_kl=5.4, n_steps=10)  # error -0.1
    assert controller.value == pytest.approx(0.1 * 1.02 * 0.99)
    restored = AdaptiveKLController(1.0, target=1.0, horizon=1)
    restored.load_state_dict(controller.state_dict())
    assert restored.state_dict() == controller.state_dict()


def test_fixed_kl_controller_never_moves():
    controller = FixedKLController(0.3)
    controller.update(100.0, 64)
    assert controller.value == 0.3
    assert controller.state_dict() == {"value": 0.3}


def test_make_kl_controller_rejects_bad_settings():
    assert isinstance(make_kl_controller(PPOConfig(kl_mode="fixed")), FixedKLController)
    assert isinstance(make_kl_controller(PPOConfig(kl_mode="adaptive")), AdaptiveKLController)
    with pytest.raises(TrainingError, match="kl_mode"):
        make_kl_controller(PPOConfig(kl_mode="pid"))
    with pytest.raises(TrainingError, match="target_kl"):
        make_kl_controller(PPOConfig(kl_mode="adaptive", target_kl=0.0))


def test_value_head_shapes_and_round_trip(tmp_path):
    head = ValueHead(8)
    hidden = torch.randn(2, 5, 8, dtype=torch.bfloat16)
    assert head(hidden).shape == (2, 5)
    assert head(hidden).dtype == torch.float32
    assert torch.count_nonzero(head(hidden)) == 0  # zero-initialised
    torch.nn.init.normal_(head.summary.weight)
    head.save(tmp_path / "v.safetensors")
    other = ValueHead(8)
    other.load(tmp_path / "v.safetensors")
    assert torch.equal(other.summary.weight, head.summary.weight)
    with pytest.raises(TrainingError, match="another model"):
        ValueHead(4).load(tmp_path / "v.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"junk")
    with pytest.raises(TrainingError, match="Cannot read"):
        ValueHead(8).load(tmp_path / "bad.safetensors")


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("constant", [0.5, 1.0, 1.0, 1.0, 1.0]),
        ("linear", [0.5, 1.0, 0.75, 0.5, 0.25]),
        (
            "cosine",
            [0.5, 1.0, (1 + math.cos(math.pi / 4)) / 2, 0.5, (1 + math.cos(3 * math.pi / 4)) / 2],
        ),
    ],
)
def test_lr_schedule_with_one_warmup_step(schedule, expected):
    factor = lr_factor(PPOConfig(steps=5, warmup_steps=1, lr_schedule=schedule))
    assert [factor(step) for step in range(5)] == pytest.approx(expected)


def test_prompt_order_visits_every_prompt_once_per_pass_and_resumes():
    order = PromptOrder(5, seed=3)
    first_pass = order.take(5)
    assert sorted(first_pass) == [0, 1, 2, 3, 4]
    order.take(2)  # runs into the second pass, which has its own permutation
    assert (order.epoch, order.cursor) == (1, 2)
    assert PromptOrder(50, seed=3).take(50) != PromptOrder(50, seed=4).take(50)
    state = order.state_dict()
    expected = order.take(7)
    again = PromptOrder(5, seed=3)
    again.load_state_dict(state)
    assert again.take(7) == expected
    with pytest.raises(TrainingError, match="same prompt set"):
        PromptOrder(6, seed=3).load_state_dict(state)
