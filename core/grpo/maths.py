"""Group baselines and the critic-free loss as small pure tensor functions, each tested
against hand-computed values.

Shapes: B = completions in the batch, laid out group by group (G consecutive rows per
prompt), P = B / G prompts, T = response tokens, b = a minibatch's rows. References:
Shao et al. 2024 (GRPO), Liu et al. 2025 (Dr. GRPO: no std scaling, a constant loss
normaliser), Yu et al. 2025 (DAPO: clip-higher, token-level loss, zero-spread groups
filtered), Zheng et al. 2025 (GSPO: sequence-level importance ratios), Ahmadian et al.
2024 (RLOO), Schulman's note on KL estimators (k1, k2, k3). Option names and meanings
follow TRL's GRPOTrainer, so a setting read there means the same here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from core.config.critic_free import KL_ESTIMATORS, LOSS_TYPES
from core.onpolicy.maths import kl_k1, kl_k3, masked_mean

STD_EPS = 1e-4
"""Added to a std before dividing by it: a group whose rewards all agree gives 0, not NaN."""
ZERO_SPREAD = 1e-6
"""A group whose reward std is below this counts as having no spread (it teaches nothing)."""


def grouped(scores: Tensor, group_size: int) -> Tensor:
    """(B,) scores as (P, G), one row per prompt."""
    if scores.shape[0] % group_size:
        raise ValueError(f"{scores.shape[0]} scores do not split into groups of {group_size}")
    return scores.view(-1, group_size)


def grpo_advantages(
    scores: Tensor, group_size: int, scale: str = "group", batch_std: Tensor | None = None
) -> Tensor:
    """GRPO advantages (B,): reward minus its group's mean, divided by a std.

    scale 'group': the group's std (GRPO); 'batch': the whole batch's std (`batch_std`
    when given: a batch spread over several processes), 'none': no division (Dr. GRPO).
    Stds are Bessel-corrected (unbiased), plus STD_EPS.
    """
    rows = grouped(scores, group_size)
    centred = rows - rows.mean(dim=1, keepdim=True)
    if scale == "group":
        centred = centred / (rows.std(dim=1, keepdim=True) + STD_EPS)
    elif scale == "batch":
        spread = scores.std() if batch_std is None else batch_std
        centred = centred / (spread + STD_EPS)
    elif scale != "none":
        raise ValueError(f"scale is {scale!r}; use group, batch or none")
    return centred.reshape(-1)


def rloo_advantages(scores: Tensor, group_size: int) -> Tensor:
    """RLOO advantages (B,): reward minus the mean of the other G - 1 rewards of its group."""
    rows = grouped(scores, group_size)
    others_mean = (rows.sum(dim=1, keepdim=True) - rows) / (group_size - 1)
    return (rows - others_mean).reshape(-1)


def group_statistics(scores: Tensor, group_size: int) -> tuple[float, float]:
    """(share of groups whose rewards have no spread, mean within-group std (unbiased))."""
    spread = grouped(scores, group_size).std(dim=1)  # (P,)
    return (spread < ZERO_SPREAD).float().mean().item(), spread.mean().item()


def kl_estimate(logprobs: Tensor, ref_logprobs: Tensor, estimator: str) -> Tensor:
    """(b, T) per-token KL estimates by the named estimator (KL_ESTIMATORS)."""
    if estimator == "k1":
        return kl_k1(logprobs, ref_logprobs)
    if estimator == "k2":
        return 0.5 * (logprobs - ref_logprobs) ** 2
    if estimator == "k3":
        return kl_k3(logprobs, ref_logprobs)
    raise ValueError(f"kl_estimator is {estimator!r}; use one of {', '.join(KL_ESTIMATORS)}")


def log_importance_weights(
    logprobs: Tensor, old_logprobs: Tensor, mask: Tensor, level: str = "token"
) -> Tensor:
    """(b, T) log importance ratios log pi/pi_old: per token, or per sequence (GSPO: the
    masked mean of the token log-ratios, the same on every token of a completion)."""
    log_ratio = logprobs - old_logprobs  # (b, T)
    if level == "token":
        return log_ratio
    if level == "sequence":
        return masked_mean(log_ratio, mask, dim=1)[:, None].expand_as(log_ratio)
    raise ValueError(f"importance_sampling_level is {level!r}; use token or sequence")


def clipped_surrogate(
    log_weights: Tensor, advantages: Tensor, epsilon_low: float, epsilon_high: float
) -> tuple[Tensor, Tensor]:
    """Per-token clipped surrogate max(-A r, -A clip(r, 1 - eps_low, 1 + eps_high)) (b, T)
    and where the clipped term won (b, T). A larger eps_high (DAPO's clip-higher) lets
    unlikely tokens with a positive advantage grow, against entropy collapse."""
    ratio = torch.exp(log_weights)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - epsilon_low, 1.0 + epsilon_high)
    return torch.maximum(unclipped, clipped), clipped > unclipped


def aggregate_loss(
    per_token: Tensor, mask: Tensor, loss_type: str, max_tokens: int, tokens_per_row: float
) -> Tensor:
    """One minibatch's loss from (b, T) per-token losses by the loss type's rule (LOSS_TYPES,
    in its order: dapo, grpo, bnpo, dr_grpo).

    tokens_per_row: the mean response tokens per completion over the whole batch (dapo
    divides by b * tokens_per_row, so that the mean over a step's minibatches is the
    batch's token mean); max_tokens: max_new_tokens (dr_grpo's constant)."""
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"loss_type is {loss_type!r}; use one of {', '.join(LOSS_TYPES)}")
    mask = mask.to(per_token.dtype)
    rows = per_token.shape[0]
    total = (per_token * mask).sum()
    dapo, sequence_mean, bnpo, dr_grpo = (loss_type == name for name in LOSS_TYPES)
    if sequence_mean:  # each completion's token mean, then their mean
        return masked_mean(per_token, mask, dim=1).mean()
    if bnpo:
        return masked_mean(per_token, mask)
    if dr_grpo:
        return total / (rows * max_tokens)
    return total / max(rows * tokens_per_row, 1.0)  # dapo


def zero_spread_rows(scores: Tensor, group_size: int) -> Tensor:
    """(B,) True for the completions of groups whose rewards have no spread (DAPO filters
    them: their group-relative advantage is 0, so they only add KL and dilute the loss)."""
    spread = grouped(scores, group_size).std(dim=1)  # (P,)
    return (spread < ZERO_SPREAD).repeat_interleave(group_size)


@dataclass(frozen=True)
class LossOptions:
    """How the critic-free loss is formed (the config's loss settings, resolved)."""

    loss_type: str = "dapo"
    importance_sampling_level: str = "token"
    epsilon_low: float = 0.2
    epsilon_high: float = 0.2
    beta: float = 0.0
    kl_estimator: str = "k3"
    kl_bias_correction: bool = False
    max_tokens: int = 1
    tokens_per_row: float = 1.0


def critic_free_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    ref_logprobs: Tensor | None,
    advantages: Tensor,
    mask: Tensor,
    options: LossOptions,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Clipped-ratio policy loss with each completion's advantage on all its tokens, plus
    beta * KL to the reference when `ref_logprobs` is given (the KL-in-loss variant).

    logprobs, old_logprobs, ref_logprobs, mask: (b, T); advantages: (b,). The per-token
    terms are aggregated by options.loss_type. Returns (loss, gauges).
    """
    log_weights = log_importance_weights(
        logprobs, old_logprobs, mask, options.importance_sampling_level
    )
    per_token, clipped = clipped_surrogate(
        log_weights, advantages[:, None], options.epsilon_low, options.epsilon_high
    )
    if ref_logprobs is not None:
        per_token_kl = kl_estimate(logprobs, ref_logprobs, options.kl_estimator)
        if options.kl_bias_correction:
            # Times the (differentiable) importance ratio pi/pi_old, which is 1 in value on
            # policy but not in gradient: k3's own gradient, (1 - p_ref/p) grad log p, is
            # the gradient of KL(ref || pi); with the ratio it becomes (log p - log p_ref)
            # grad log p, the unbiased gradient of KL(pi || ref), the KL we report
            # (DeepSeek-V3.2's correction; TRL's use_bias_correction_kl).
            per_token_kl = per_token_kl * torch.exp(log_weights)
        per_token = per_token + options.beta * per_token_kl
    loss = aggregate_loss(
        per_token, mask, options.loss_type, options.max_tokens, options.tokens_per_row
    )
    log_ratio = (logprobs - old_logprobs).detach()
    gauges = {
        "loss/policy": loss.detach(),
        "policy/clipfrac": masked_mean(clipped.to(logprobs.dtype), mask).detach(),
        "policy/approxkl": 0.5 * masked_mean(log_ratio**2, mask),
    }
    if ref_logprobs is not None:
        gauges["loss/kl"] = masked_mean(per_token_kl, mask).detach()
    return loss, gauges
