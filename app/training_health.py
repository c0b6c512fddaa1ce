"""Dashboard metrics: the trainer's namespaced keys mapped to what the plots show, and the
checks behind the dashboard's warnings (KL running away, likely reward hacking).

Pure Python (no Qt) so the rules are tested on their own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

# Dashboard name -> trainer metric keys, first present wins (docs/metrics.md explains them).
METRIC_KEYS: dict[str, tuple[str, ...]] = {
    "reward": ("reward/mean", "env/reward_mean", "reward"),
    "reward_std": ("reward/std", "env/reward_std"),
    "kl": ("objective/kl", "kl/mean", "kl"),
    "kl_coef": ("objective/kl_coef", "kl/coef", "kl_coef"),
    "policy_loss": ("loss/policy", "loss/policy_avg"),
    "value_loss": ("loss/value", "loss/value_avg"),
    "entropy": ("objective/entropy", "policy/entropy", "entropy"),
    "clipfrac": ("policy/clipfrac", "loss/clipfrac", "clipfrac"),
    "response_length": ("response/length", "response/length_mean", "response_len"),
    "samples_per_s": ("perf/samples_per_s", "perf/throughput", "samples_per_s"),
    "eval_reward": ("eval/reward/mean",),
    "eval_reference_reward": ("eval/reference_reward/mean",),
}


def dashboard_values(metrics: Mapping[str, float]) -> dict[str, float]:
    """The trainer's metrics under dashboard names (absent ones left out)."""
    values = {}
    for name, keys in METRIC_KEYS.items():
        for key in keys:
            value = metrics.get(key)
            if value is not None:
                values[name] = float(value)
                break
    return values


@dataclass
class HealthMonitor:
    """Watches the step stream and says when a run looks unhealthy.

    KL runaway: KL above `kl_factor` times the target for `patience` steps in a row.
    Reward hacking: over the last `window` steps the mean reward rose by more than
    `reward_rise` (absolute) compared with the first `window` steps, while the mean
    response length or entropy fell below `collapse` of its starting value.
    """

    kl_target: float
    kl_factor: float = 3.0
    patience: int = 3
    window: int = 5
    reward_rise: float = 0.05
    collapse: float = 0.5
    _history: list[dict[str, float]] = field(default_factory=list)
    _kl_high_steps: int = 0

    def update(self, values: Mapping[str, float]) -> list[str]:
        """Add one step's dashboard values; return the warnings that hold now."""
        self._history.append(dict(values))
        warnings = []
        kl_warning = self._check_kl(values.get("kl"))
        if kl_warning:
            warnings.append(kl_warning)
        hacking = self._check_hacking()
        if hacking:
            warnings.append(hacking)
        return warnings

    def _check_kl(self, kl: float | None) -> str | None:
        if kl is None or not math.isfinite(kl) or self.kl_target <= 0:
            return None
        limit = self.kl_factor * self.kl_target
        self._kl_high_steps = self._kl_high_steps + 1 if kl > limit else 0
        if self._kl_high_steps < self.patience:
            return None
        return (
            f"KL is running away: {kl:.2f} nats, above {limit:.2f} "
            f"({self.kl_factor:g}× the target) for "
            f"{self._kl_high_steps} steps. The policy is drifting far from the reference: "
            "lower the learning rate or raise the KL coefficient/target control."
        )

    def _check_hacking(self) -> str | None:
        if len(self._history) < 2 * self.window:
            return None
        start = self._history[: self.window]
        recent = self._history[-self.window :]
        reward_start = _mean(start, "reward")
        reward_now = _mean(recent, "reward")
        if math.isnan(reward_start) or math.isnan(reward_now):
            return None
        if reward_now - reward_start <= self.reward_rise:
            return None
        for name, what in (("response_length", "response length"), ("entropy", "entropy")):
            before, now = _mean(start, name), _mean(recent, name)
            if before > 0 and now < self.collapse * before:
                return (
                    f"Likely reward hacking: reward rose from {reward_start:.3f} to "
                    f"{reward_now:.3f} while {what} collapsed from {before:.2f} to {now:.2f}. "
                    "Read the rollout table; consider a stronger KL penalty, a length term in "
                    "the reward, or a different reward source."
                )
        return None


def _mean(rows: list[dict[str, float]], name: str) -> float:
    values = [row[name] for row in rows if name in row and math.isfinite(row[name])]
    return sum(values) / len(values) if values else math.nan
