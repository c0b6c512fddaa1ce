"""Health checks on a PPO run's metric stream: the warnings the GUI's dashboard shows and
the CLI prints (KL running away from the reference, likely reward hacking).

Pure Python over the trainer's metric keys (core/ppo/metrics.py), without torch or Qt:
the GUI imports it at start-up. Feed one step's metrics at a time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.config import PPOConfig

KL_RUNAWAY = "kl_runaway"
REWARD_HACKING = "reward_hacking"
"""The kinds of warning: one of each kind holds at a time."""

_COLLAPSING = (("response/length", "response length"), ("policy/entropy", "entropy"))
"""What shrinks when a policy games its reward: metric key, words for the warning."""
_WATCHED = ("reward/mean", *(key for key, _ in _COLLAPSING))


@dataclass
class HealthMonitor:
    """Watches the step stream and says when a run looks unhealthy.

    KL runaway: `objective/kl` above `kl_factor` times the target for `patience` steps in
    a row. Reward hacking: over the last `window` steps the mean `reward/mean` rose by more
    than `reward_rise` (absolute) compared with the first `window` steps, while the mean
    `response/length` or `policy/entropy` fell below `collapse` of its starting value.
    """

    kl_target: float
    kl_factor: float = 3.0
    patience: int = 3
    window: int = 5
    reward_rise: float = 0.05
    collapse: float = 0.5
    _history: list[dict[str, float]] = field(default_factory=list)
    _kl_high_steps: int = 0
    _active: frozenset[str] = frozenset()

    @classmethod
    def for_config(cls, config: PPOConfig | Any) -> HealthMonitor:
        """A monitor with the run's KL target (configs without one, GRPO's and RLOO's:
        no KL-runaway check, the reward-hacking check only)."""
        return cls(kl_target=getattr(config, "target_kl", 0.0))

    def update(self, metrics: Mapping[str, float]) -> list[str]:
        """Add one step's metrics; return the warnings that hold now (the dashboard's)."""
        return list(self._check(metrics).values())

    def new_warnings(self, metrics: Mapping[str, float]) -> list[str]:
        """Add one step's metrics; return only the warnings that did not hold at the step
        before (the CLI's: a warning is printed when it starts, not on every step)."""
        before = self._active
        return [text for kind, text in self._check(metrics).items() if kind not in before]

    def _check(self, metrics: Mapping[str, float]) -> dict[str, str]:
        self._history.append(
            {key: float(metrics[key]) for key in _WATCHED if metrics.get(key) is not None}
        )
        warnings = {KL_RUNAWAY: self._check_kl(metrics.get("objective/kl"))}
        warnings[REWARD_HACKING] = self._check_hacking()
        holding = {kind: text for kind, text in warnings.items() if text is not None}
        self._active = frozenset(holding)
        return holding

    def _check_kl(self, kl: float | None) -> str | None:
        if kl is None or not math.isfinite(kl) or self.kl_target <= 0:
            return None
        limit = self.kl_factor * self.kl_target
        self._kl_high_steps = self._kl_high_steps + 1 if kl > limit else 0
        if self._kl_high_steps < self.patience:
            return None
        return (
            f"KL is running away: {kl:.2f} nats, above {limit:.2f} "
            f"({self.kl_factor:g}x the target) for "
            f"{self._kl_high_steps} steps. The policy is drifting far from the reference: "
            "lower the learning rate or raise the KL coefficient/target control."
        )

    def _check_hacking(self) -> str | None:
        if len(self._history) < 2 * self.window:
            return None
        start = self._history[: self.window]
        recent = self._history[-self.window :]
        reward_start = _mean(start, "reward/mean")
        reward_now = _mean(recent, "reward/mean")
        if math.isnan(reward_start) or math.isnan(reward_now):
            return None
        if reward_now - reward_start <= self.reward_rise:
            return None
        for key, what in _COLLAPSING:
            before, now = _mean(start, key), _mean(recent, key)
            if before > 0 and now < self.collapse * before:
                return (
                    f"Likely reward hacking: reward rose from {reward_start:.3f} to "
                    f"{reward_now:.3f} while {what} collapsed from {before:.2f} to {now:.2f}. "
                    "Read the rollout table; consider a stronger KL penalty, a length term in "
                    "the reward, or a different reward source."
                )
        return None


def _mean(rows: list[dict[str, float]], key: str) -> float:
    values = [row[key] for row in rows if key in row and math.isfinite(row[key])]
    return sum(values) / len(values) if values else math.nan
