"""Group baselines as small pure tensor functions, each tested against hand-computed values.

Shapes: B = completions in the batch, laid out group by group (G consecutive rows per
prompt), P = B / G prompts, T = response tokens. References: Shao et al. 2024 (GRPO),
Liu et al. 2025 (Dr. GRPO: no std scaling), Ahmadian et al. 2024 (RLOO), Schulman's
note on KL estimators (k3).
"""

from __future__ import annotations

from torch import Tensor

from core.ppo.maths import kl_k3, masked_mean, policy_loss

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


def critic_free_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    ref_logprobs: Tensor | None,
    advantages: Tensor,
    mask: Tensor,
    cliprange: float,
    beta: float,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Clipped-ratio policy loss with each completion's advantage on all its tokens, plus
    beta * k3 KL to the reference when `ref_logprobs` is given (the KL-in-loss variant).

    logprobs, old_logprobs, ref_logprobs, mask: (b, T); advantages: (b,). Token means
    over the minibatch (every token weighs the same). Returns (loss, gauges).
    """
    per_token = advantages[:, None].expand_as(logprobs)
    loss, clipfrac, approxkl = policy_loss(logprobs, old_logprobs, per_token, mask, cliprange)
    gauges = {
        "loss/policy": loss.detach(),
        "policy/clipfrac": clipfrac,
        "policy/approxkl": approxkl,
    }
    if ref_logprobs is not None:
        kl = masked_mean(kl_k3(logprobs, ref_logprobs), mask)
        gauges["loss/kl"] = kl.detach()
        loss = loss + beta * kl
    return loss, gauges
