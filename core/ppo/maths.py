"""PPO's own maths (GAE, the KL-penalised token rewards, the clipped policy and value
losses) as small pure tensor functions, each tested against hand-computed values.

Shapes: B = rollouts in the batch, T = response tokens, V = vocabulary. A `mask` is 1.0 for
real response tokens (up to and including EOS) and 0.0 for padding after it; every
reduction below ignores masked positions.

References: Schulman et al. 2015 (GAE), Schulman et al. 2017 (PPO clipping), Ziegler et
al. 2019 (per-token KL penalty), Schulman's note on KL estimators
(http://joschu.net/blog/kl-approx.html).
"""

from __future__ import annotations

import torch
from torch import Tensor

from core.onpolicy.maths import masked_mean, masked_var


def compute_gae(
    rewards: Tensor, values: Tensor, mask: Tensor, gamma: float, lam: float
) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation over response tokens (Schulman et al. 2015).

    rewards, values, mask: (B, T). The episode ends after the last real token, so the
    value after it is 0 and nothing flows back from padding:
        delta_t = r_t + gamma * m_{t+1} * V_{t+1} - V_t
        A_t     = delta_t + gamma * lam * m_{t+1} * A_{t+1}
    Returns (advantages, returns), both (B, T), zero where mask is 0; returns = A + V.
    """
    mask = mask.to(values.dtype)
    rewards, values = rewards * mask, values * mask
    length = rewards.shape[1]
    advantages = torch.zeros_like(values)
    next_advantage = torch.zeros_like(values[:, 0])  # (B,)
    next_value = torch.zeros_like(values[:, 0])  # (B,)
    next_mask = torch.zeros_like(values[:, 0])  # (B,) 0: nothing after the last token
    for t in reversed(range(length)):
        delta = rewards[:, t] + gamma * next_mask * next_value - values[:, t]
        next_advantage = delta + gamma * lam * next_mask * next_advantage
        advantages[:, t] = next_advantage
        next_value, next_mask = values[:, t], mask[:, t]
    advantages = advantages * mask
    return advantages, (advantages + values) * mask


def token_rewards(kl: Tensor, scores: Tensor, lengths: Tensor, kl_coef: float) -> Tensor:
    """PPO's per-token rewards (B, T): -kl_coef * KL on every token, plus each response's
    score on its last token (Ziegler et al. 2019). kl: (B, T) masked; scores, lengths: (B,)."""
    rewards = -kl_coef * kl
    rewards[torch.arange(len(lengths)), lengths - 1] += scores
    return rewards


def policy_loss(
    logprobs: Tensor, old_logprobs: Tensor, advantages: Tensor, mask: Tensor, cliprange: float
) -> tuple[Tensor, Tensor, Tensor]:
    """PPO clipped surrogate loss (Schulman et al. 2017), all inputs (B, T).

    Returns (loss, clipfrac, approxkl): clipfrac is the share of tokens where the clipped
    term won; approxkl = 0.5 * mean((logp - logp_old)^2), a cheap gauge of how far the
    policy moved since the rollout.
    """
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    clipfrac = masked_mean((clipped > unclipped).to(logprobs.dtype), mask)
    approxkl = 0.5 * masked_mean(log_ratio**2, mask)
    return loss, clipfrac.detach(), approxkl.detach()


def value_loss(
    values: Tensor, old_values: Tensor, returns: Tensor, mask: Tensor, cliprange_value: float
) -> tuple[Tensor, Tensor]:
    """Clipped value loss 0.5 * max((V - R)^2, (clip(V, V_old +- eps) - R)^2), inputs (B, T).

    Returns (loss, clipfrac): the share of tokens where the clipped error was larger.
    """
    # Clamped to the band itself: V where it lies inside, bit for bit. The textbook
    # V_old + clamp(V - V_old) can round to a float next to V (values near 0, or of two
    # signs), and the clip fraction then counts rounding noise as clipping.
    clipped_values = torch.clamp(values, old_values - cliprange_value, old_values + cliprange_value)
    unclipped_error = (values - returns) ** 2
    clipped_error = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(unclipped_error, clipped_error), mask)
    clipfrac = masked_mean((clipped_error > unclipped_error).to(values.dtype), mask)
    return loss, clipfrac.detach()


def explained_variance(values: Tensor, returns: Tensor, mask: Tensor) -> Tensor:
    """1 - Var(returns - values) / Var(returns) over the mask: 1 is a perfect critic, <= 0 useless.

    NaN-free: a batch whose returns have no variance gives 0.
    """
    variance = masked_var(returns, mask, unbiased=False)
    if variance <= 0:
        return torch.zeros_like(variance)
    return 1.0 - masked_var(returns - values, mask, unbiased=False) / variance
