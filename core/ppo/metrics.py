"""The metrics of one PPO step, under the exact keys the GUI, CLI and exports read.

docs/metrics.md explains every key: what it is, how it is computed, what healthy looks like.
The key names below are the one list of them: the dashboard, the health checks, the Runs
page and the exports use these keys as they are. Light to import (torch and the rollout
are imported by the functions that need them): the GUI reads the names at start-up.
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
    "objective/kl",
    "objective/kl_coef",
    "policy/entropy",
    "loss/policy",
    "loss/value",
    "policy/clipfrac",
    "policy/approxkl",
    "val/explained_variance",
    "response/length",
    "perf/samples_per_s",
    "perf/step_time_s",
    "perf/peak_mem_bytes",
)
"""Keys every step reports; tools may rely on them."""

EXTRA_KEYS = (
    "objective/non_score_reward",
    "objective/scores",
    "objective/rlhf_reward",
    "response/eos_rate",
    "val/clipfrac",
    "optim/grad_norm",
    "lr",
    "dist/world_size",
)
"""Keys every step reports too, besides `reward/<component>` for a weighted-sum reward."""

EVAL_KEYS = (
    "eval/reward/mean",
    "eval/reward/std",
    "eval/reference_reward/mean",
    "eval/kl",
    "eval/response/length",
)
"""Keys of the steps that evaluate on held-out prompts (every eval_every steps and the
last one; core/onpolicy/evaluation.py fills them)."""

STEP_KEYS = REQUIRED_KEYS + EXTRA_KEYS + EVAL_KEYS
"""Every fixed key a step may report (`reward/<component>` keys come on top)."""


def rollout_metrics(
    rollout: Rollout,
    raw_scores: Tensor,
    scores: Tensor,
    kl: Tensor,
    kl_coef: float,
    returns: Tensor,
) -> dict[str, float]:
    """Reward, objective, entropy, critic and length figures of one rollout batch.

    raw_scores / scores: (B,) before / after the EOS penalty and whitening; kl: (B, Tr)
    per-token k1, zero on padding; returns: (B, Tr) GAE returns.
    """
    from core.onpolicy.maths import masked_mean
    from core.onpolicy.rollout import computed
    from core.ppo.maths import explained_variance

    mask = rollout.response_mask  # (B, Tr)
    sequence_kl = kl.sum(dim=1)  # (B,) nats per response
    non_score = -kl_coef * sequence_kl  # (B,)
    return {
        "reward/mean": raw_scores.mean().item(),
        "reward/std": raw_scores.std(correction=0).item(),
        "objective/kl": sequence_kl.mean().item(),
        "objective/kl_coef": float(kl_coef),
        "objective/non_score_reward": non_score.mean().item(),
        "objective/scores": scores.mean().item(),
        "objective/rlhf_reward": (scores + non_score).mean().item(),
        "policy/entropy": masked_mean(rollout.entropy, mask).item(),
        "val/explained_variance": explained_variance(
            computed(rollout.values, "values"), returns, mask
        ).item(),
        "response/length": mask.sum(dim=1).mean().item(),
        "response/eos_rate": rollout.finished.float().mean().item(),
    }
