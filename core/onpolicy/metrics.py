"""Metrics every on-policy trainer reports beside its own keys: the reward's components
and the watched rewards (docs/metrics.md explains each key)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.rewards.base import RewardSource


def component_means(reward: RewardSource) -> dict[str, float]:
    """reward/<component> means when the reward is a weighted sum exposing `last_components`,
    and watch/<name> means of the sources watched beside it (`last_watched`)."""
    import numpy as np

    components = getattr(reward, "last_components", None) or {}
    watched = getattr(reward, "last_watched", None) or {}
    return {f"reward/{name}": float(np.mean(values)) for name, values in components.items()} | {
        f"watch/{name}": float(np.mean(values)) for name, values in watched.items()
    }
