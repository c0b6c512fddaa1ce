"""The metrics of one PPO step, under the exact keys the GUI, CLI and exports read.

docs/metrics.md explains every key: what it is, how it is computed, what healthy looks like.
The key names below are the one list of them: the dashboard, the health checks, the Runs
page and the exports use these keys as they are. Light to import (torch and the rollout
are imported by the functions that need them): the GUI reads the names at start-up.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from core.ppo.rollout import Rollout
    from core.rewards.base import RewardSource

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
last one; core/ppo/evaluation.py fills them)."""

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
    from core.ppo.maths import explained_variance, masked_mean

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
        "val/explained_variance": explained_variance(rollout.values, returns, mask).item(),
        "response/length": mask.sum(dim=1).mean().item(),
        "response/eos_rate": rollout.finished.float().mean().item(),
    }


def component_means(reward: RewardSource) -> dict[str, float]:
    """reward/<component> means when the reward is a weighted sum exposing `last_components`,
    and watch/<name> means of the sources watched beside it (`last_watched`)."""
    import numpy as np

    components = getattr(reward, "last_components", None) or {}
    watched = getattr(reward, "last_watched", None) or {}
    return {f"reward/{name}": float(np.mean(values)) for name, values in components.items()} | {
        f"watch/{name}": float(np.mean(values)) for name, values in watched.items()
    }


def perf_metrics(batch_size: int, step_time: float, device: torch.device) -> dict[str, float]:
    """Throughput (of the global batch: `batch_size` counts every process's share), wall
    time and peak memory of one step, and how many processes trained it."""
    from core.train.distributed import current_world

    return {
        "perf/samples_per_s": batch_size / step_time,
        "perf/step_time_s": step_time,
        "perf/peak_mem_bytes": float(peak_memory_bytes(device)),
        "dist/world_size": float(current_world().size),
    }


def peak_memory_bytes(device: torch.device) -> int:
    """Peak memory of this run's device: CUDA allocator peak, else the process's peak RSS."""
    if device.type == "cuda":
        import torch

        return int(torch.cuda.max_memory_allocated(device))
    try:
        import resource  # POSIX only

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # Linux reports kilobytes, macOS bytes.
        return int(peak if sys.platform == "darwin" else peak * 1024)
    except ImportError:  # Windows: the working-set peak
        import psutil

        info = psutil.Process().memory_info()
        return int(getattr(info, "peak_wset", info.rss))
