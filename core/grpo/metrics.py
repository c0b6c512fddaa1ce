"""The metrics of one GRPO or RLOO step, under the keys the GUI, CLI and exports read.

The keys PPO has too keep PPO's names and meaning (core/ppo/metrics.py); the new ones
are documented in docs/metrics.md. Light to import: the GUI reads the names at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

    from core.onpolicy.rollout import Rollout

REQUIRED_KEYS = (
    "step",
    "reward/mean",
    "reward/std",
    "objective/kl_coef",
    "policy/entropy",
    "loss/policy",
    "policy/clipfrac",
    "policy/approxkl",
    "response/length",
    "group/zero_std_frac",
    "group/frac_reward_zero_std",
    "group/reward_std",
    "loss/rows_in_loss_frac",
    "perf/samples_per_s",
    "perf/step_time_s",
    "perf/peak_mem_bytes",
)
"""Keys every GRPO/RLOO step reports."""

KL_KEYS = ("objective/kl", "objective/kl_per_token")
"""Reported when beta > 0 (beta = 0 skips the reference pass, so there is no KL to show)."""

EXTRA_KEYS = (
    "objective/scores",
    "advantage/abs_mean",
    "response/eos_rate",
    "optim/grad_norm",
    "lr",
    "dist/world_size",
)
"""Keys every step reports too; `loss/kl` comes with the KL-in-loss variant (beta > 0)."""

GROUP_KEYS = ("group/zero_std_frac", "group/reward_std")
"""The group statistics the dashboard plots."""


def critic_free_metrics(
    rollout: Rollout,
    raw_scores: Tensor,
    scores: Tensor,
    advantages: Tensor,
    kl: Tensor | None,
    beta: float,
    group_stats: tuple[float, float],
) -> dict[str, float]:
    """Reward, KL, entropy, group and length figures of one rollout batch.

    raw_scores / scores: (B,) before / after the EOS and KL-in-reward penalties;
    advantages: (B,); kl: (B, Tr) per-token KL by the run's estimator (None when beta = 0).
    """
    from core.onpolicy.maths import masked_mean

    mask = rollout.response_mask  # (B, Tr)
    metrics = {
        "reward/mean": raw_scores.mean().item(),
        "reward/std": raw_scores.std(correction=0).item(),
        "objective/kl_coef": float(beta),
        "objective/scores": scores.mean().item(),
        "advantage/abs_mean": advantages.abs().mean().item(),
        "group/zero_std_frac": group_stats[0],
        "group/frac_reward_zero_std": group_stats[0],  # TRL's name for the same share
        "group/reward_std": group_stats[1],
        "policy/entropy": masked_mean(rollout.entropy, mask).item(),
        "response/length": mask.sum(dim=1).mean().item(),
        "response/eos_rate": rollout.finished.float().mean().item(),
    }
    if kl is not None:  # by the run's estimator: the sequence sum, and the token mean
        metrics["objective/kl"] = kl.sum(dim=1).mean().item()
        metrics["objective/kl_per_token"] = masked_mean(kl, mask).item()
    return metrics
