"""Guardrails: rules over an on-policy run's metric stream that pause it when it goes wrong.

The health warnings (core.onpolicy.health) say what looks wrong; a guardrail acts: the run
pauses (the GUI) or stops with a checkpoint (the CLI's `--guard`) after the step where a
rule fired, with a message that names the rule and what to try. The four rules:

- **proxy vs gold**: the trained reward rises while a watched reward (`watch/<name>`, a
  source scored beside it and never trained on) falls: the policy is exploiting the
  trained reward, not getting better (Gao et al. 2023 on reward-model over-optimisation);
- **KL past its target**: `objective/kl` above `kl_factor` times the target;
- **length drift**: the mean response length past `length_factor` times (or below
  1/`length_factor` of) its start, or most responses cut off at the length limit when
  they were not at the start;
- **entropy collapse**: `policy/entropy` below `entropy_floor` times its start.

Each rule must hold for `window` steps in a row (proxy vs gold: over two windows, the
last against the one before) and fires once per run. "Start" is the mean of the run's
first `window` steps. Pure Python over metric dicts (no torch, no Qt): the GUI imports it.
The thresholds are declared settings: flags `--guard-<name>` and form fields.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from core.config.settings import setting
from core.train.events import GuardFired

DIVERGENCE = "proxy_vs_gold"
KL_PAST_TARGET = "kl_past_target"
LENGTH_DRIFT = "length_drift"
ENTROPY_COLLAPSE = "entropy_collapse"
RULES = (DIVERGENCE, KL_PAST_TARGET, LENGTH_DRIFT, ENTROPY_COLLAPSE)


@dataclass(frozen=True)
class GuardrailConfig:
    """When a guardrail fires. Flags: --guard-<field> (e.g. --guard-window)."""

    window: int = setting(
        3,
        label="Guard window (steps)",
        help="Steps a rule must hold in a row before it pauses the run; proxy vs gold "
        "compares the last this many steps with the ones before. Larger: fewer false alarms "
        "on a noisy reward, later alarms.",
        minimum=1,
        maximum=100,
    )
    min_change: float = setting(
        0.01,
        label="Guard reward change",
        help="How much the trained reward must rise, and a watched reward fall (window mean "
        "against the window before), for the proxy-vs-gold rule to fire.",
        minimum=0.0,
        maximum=1000.0,
        decimals=3,
        step=0.01,
    )
    kl_factor: float = setting(
        3.0,
        label="Guard KL factor",
        help="Fire when the KL to the reference passes this many times its target (PPO's "
        "adaptive KL target, else the guard's KL target).",
        minimum=1.0,
        maximum=1000.0,
        decimals=2,
    )
    kl_target: float = setting(
        6.0,
        label="Guard KL target (nats)",
        help="The KL, in nats per response, the KL rule compares with when the algorithm "
        "has no target of its own (GRPO, RLOO, PPO with a fixed coefficient).",
        minimum=0.01,
        maximum=1000.0,
        decimals=2,
    )
    length_factor: float = setting(
        2.0,
        label="Guard length factor",
        help="Fire when the mean response length grows past this many times its start, or "
        "shrinks below its start divided by it.",
        minimum=1.01,
        maximum=100.0,
        decimals=2,
    )
    truncated_share: float = setting(
        0.9,
        label="Guard cut-off share",
        help="Fire when at least this share of responses hits the length limit (no EOS), "
        "unless the run started that way. 1 turns this check off.",
        minimum=0.01,
        maximum=1.0,
        decimals=2,
        step=0.05,
    )
    entropy_floor: float = setting(
        0.3,
        label="Guard entropy floor",
        help="Fire when the policy's entropy falls below this share of its start: the "
        "policy has stopped exploring and answers alike.",
        minimum=0.0,
        maximum=1.0,
        decimals=2,
        step=0.05,
    )


@dataclass
class Guardrails:
    """Feed each step's metrics to `check`; it returns the rule that fired, if any."""

    config: GuardrailConfig = field(default_factory=GuardrailConfig)
    kl_target: float | None = None
    """The run's own KL target (PPO adaptive), else config.kl_target applies."""
    _history: list[Mapping[str, float]] = field(default_factory=list)
    _streaks: dict[str, int] = field(default_factory=dict)
    _fired: set[str] = field(default_factory=set)

    @classmethod
    def for_run(cls, run_config: object, config: GuardrailConfig | None = None) -> Guardrails:
        """Guardrails for a run with `run_config` (its KL target when adaptive)."""
        adaptive = getattr(run_config, "kl_mode", None) == "adaptive"
        target = getattr(run_config, "target_kl", None) if adaptive else None
        return cls(config or GuardrailConfig(), kl_target=target)

    def seed(self, history: Sequence[Mapping[str, float]]) -> None:
        """A resumed run's earlier steps: the start and the windows span the whole run."""
        self._history.extend(history)

    def check(self, metrics: Mapping[str, float]) -> GuardFired | None:
        """Add one step's metrics; the first rule that fires now (each fires once a run)."""
        self._history.append(metrics)
        step = int(metrics.get("step", len(self._history)))
        for rule, message in self._findings().items():
            held = self._streaks.get(rule, 0) + 1 if message else 0
            self._streaks[rule] = held
            needed = 1 if rule == DIVERGENCE else self.config.window
            if message and held >= needed and rule not in self._fired:
                self._fired.add(rule)
                return GuardFired(step, rule, message)
        return None

    # ------------------------------------------------------------------ rules

    def _findings(self) -> dict[str, str | None]:
        return {
            DIVERGENCE: self._divergence(),
            KL_PAST_TARGET: self._kl(),
            LENGTH_DRIFT: self._length(),
            ENTROPY_COLLAPSE: self._entropy(),
        }

    def _divergence(self) -> str | None:
        window = self.config.window
        if len(self._history) < 2 * window:
            return None
        before, recent = self._history[-2 * window : -window], self._history[-window:]
        rise = _mean(recent, "reward/mean") - _mean(before, "reward/mean")
        if not rise > self.config.min_change:
            return None
        for key in sorted({k for row in recent for k in row if k.startswith("watch/")}):
            fall = _mean(before, key) - _mean(recent, key)
            if fall > self.config.min_change:
                name = key.removeprefix("watch/")
                return (
                    f"Proxy vs gold: the trained reward rose by {rise:.3f} over the last "
                    f"{window} steps while the watched reward '{name}' fell by {fall:.3f}. "
                    "The policy is likely exploiting the trained reward. Read the latest "
                    "rollouts; try a larger KL coefficient, a lower learning rate, or add "
                    f"'{name}' to the trained reward."
                )
        return None

    def _kl(self) -> str | None:
        kl = self._history[-1].get("objective/kl")
        target = self.kl_target or self.config.kl_target
        limit = self.config.kl_factor * target
        if kl is None or not math.isfinite(kl) or kl <= limit:
            return None
        return (
            f"KL past its target: {kl:.2f} nats per response, above {limit:.2f} "
            f"({self.config.kl_factor:g}x the target {target:g}) for {self.config.window} "
            "steps. The policy is drifting far from the reference: lower the learning rate "
            "or raise the KL coefficient."
        )

    def _length(self) -> str | None:
        now = self._history[-1]
        start = self._start("response/length")
        length = now.get("response/length")
        factor = self.config.length_factor
        drifted = (
            length is not None and start > 0 and not start / factor <= length <= factor * start
        )
        if drifted:
            return (
                f"Length drift: responses average {length:.1f} tokens against "
                f"{start:.1f} at the start (the bound is {factor:g}x). The reward may "
                "favour length itself: add a length term or a missing-EOS penalty, or "
                "raise the KL coefficient."
            )
        cut = _cut_off_share(now)
        start_cut = 1.0 - self._start("response/eos_rate")
        share = self.config.truncated_share
        on = share < 1.0  # 1: off
        if (
            on
            and cut is not None
            and cut >= share
            and math.isfinite(start_cut)
            and start_cut < share
        ):
            return (
                f"Length drift: {cut:.0%} of responses hit the length limit (at the start "
                f"{start_cut:.0%}). Set a missing-EOS penalty, or raise max new tokens if "
                "the answers need it."
            )
        return None

    def _entropy(self) -> str | None:
        entropy = self._history[-1].get("policy/entropy")
        start = self._start("policy/entropy")
        if entropy is None or not start > 0 or entropy >= self.config.entropy_floor * start:
            return None
        return (
            f"Entropy collapse: the policy's entropy fell to {entropy:.3f} from {start:.3f} "
            f"at the start (below {self.config.entropy_floor:.0%}). It has stopped exploring "
            "and answers alike: raise the KL coefficient, lower the learning rate, or raise "
            "the temperature (GRPO: a clip-range upper bound above the lower one helps)."
        )

    def _start(self, key: str) -> float:
        """The mean of `key` over the run's first `window` steps (NaN before then)."""
        if len(self._history) < self.config.window:
            return math.nan
        return _mean(self._history[: self.config.window], key)


def _cut_off_share(metrics: Mapping[str, float]) -> float | None:
    eos = metrics.get("response/eos_rate")
    return None if eos is None else 1.0 - eos


def _mean(rows: Sequence[Mapping[str, float]], key: str) -> float:
    values = [row[key] for row in rows if key in row and math.isfinite(row[key])]
    return sum(values) / len(values) if values else math.nan
