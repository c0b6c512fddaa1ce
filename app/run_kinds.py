"""What the Runs page shows for each kind of run: the metrics worth overlaying (its
headline first) and the two figures of its row. Keys as in docs/metrics.md. No Qt here.

A PPO run's reward and KL mean nothing for a DPO run, which has no reward and no
sampling, or for a reward model, whose figure is its held-out accuracy; so each kind
names its own."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from core.algorithms import ALGORITHMS as SPECS
from core.grpo.metrics import GROUP_KEYS

ON_POLICY = (
    "reward/mean", "objective/kl", "policy/entropy", "response/length", "loss/policy",
    "policy/clipfrac", "perf/samples_per_s", "eval/reward/mean", "eval/kl",
)  # fmt: skip
PREFERENCE = (
    "loss", "rewards/margins", "rewards/accuracy", "eval/rewards/accuracy",
    "eval/rewards/margins", "eval/loss", "rewards/chosen", "rewards/rejected",
    "drift/logratio", "perf/samples_per_s",
)  # fmt: skip

KIND_METRICS: dict[str, tuple[str, ...]] = {
    "ppo": (*ON_POLICY[:5], "loss/value", *ON_POLICY[5:]),
    "grpo": (*ON_POLICY[:5], "loss/kl", *ON_POLICY[5:], *GROUP_KEYS),
    "rloo": (*ON_POLICY[:5], "loss/kl", *ON_POLICY[5:], *GROUP_KEYS),
    "dpo": PREFERENCE,
    "kto": PREFERENCE,
    "simpo": PREFERENCE,
    "orpo": (*PREFERENCE[:4], "loss/nll", "loss/odds_ratio", *PREFERENCE[4:]),
    "sft": ("loss", "eval/loss", "drift/logratio", "perf/samples_per_s"),
    "reward_model": (
        "eval/accuracy",
        "train/accuracy",
        "eval/loss",
        "train/loss",
        "eval/margin",
        "eval/accuracy_human",
    ),  # fmt: skip
}
"""kind -> the metrics its runs record, the one to show first leading (a kind missing
here offers the metric keys of its entry in core/algorithms.py)."""


@dataclass(frozen=True)
class Figure:
    """One figure of a run's row: its name and the keys it reads, the first one found."""

    label: str
    keys: tuple[str, ...]
    signed: bool = False

    def text(self, rows: Sequence[Mapping[str, float]]) -> str:
        """'reward +0.412' from the last row reporting one of the keys ('' if none)."""
        for key in self.keys:
            value = last_value(rows, key)
            if value is not None:
                number = f"{value:+.3f}" if self.signed else f"{value:.3f}"
                return f"{self.label} {number}"
        return ""


REWARD_KL = (Figure("reward", ("reward/mean",), signed=True), Figure("KL", ("objective/kl",)))
PREFERENCE_FIGURES = (
    Figure("accuracy", ("eval/rewards/accuracy", "rewards/accuracy")),
    Figure("margin", ("eval/rewards/margins", "rewards/margins"), signed=True),
)
KIND_FIGURES: dict[str, tuple[Figure, Figure]] = {
    "ppo": REWARD_KL,
    "grpo": REWARD_KL,
    "rloo": REWARD_KL,
    "dpo": PREFERENCE_FIGURES,
    "kto": PREFERENCE_FIGURES,
    "simpo": PREFERENCE_FIGURES,
    "orpo": PREFERENCE_FIGURES,
    "sft": (Figure("loss", ("loss",)), Figure("held-out loss", ("eval/loss",))),
    "reward_model": (
        Figure("held-out accuracy", ("eval/accuracy",)),
        Figure("held-out loss", ("eval/loss",)),
    ),
}
"""kind -> the two figures of its row on the Runs page (its last step's)."""

FIGURE_HELP = (
    "At the run's last step: reward and KL (PPO, GRPO, RLOO), preference accuracy and "
    "margin (DPO, KTO, SimPO, ORPO; held-out where evaluated), loss (SFT), held-out "
    "accuracy and loss "
    "(reward models)."
)


def last_value(rows: Sequence[Mapping[str, float]], key: str) -> float | None:
    """The last finite value of `key` in `rows` (held-out keys come every few steps)."""
    for row in reversed(rows):
        value = row.get(key)
        if value is not None and math.isfinite(value):
            return float(value)
    return None


def row_figures(kind: str, rows: Sequence[Mapping[str, float]]) -> tuple[str, str]:
    """The two figure texts of a run's row ('' for kinds without figures)."""
    figures = KIND_FIGURES.get(kind)
    if figures is None:
        return "", ""
    return figures[0].text(rows), figures[1].text(rows)


def metrics_for(kinds: Iterable[str], fallback: Sequence[str]) -> list[str]:
    """The metrics to offer for runs of `kinds`, in order, each once (`fallback` for
    none or unknown kinds)."""
    offered: list[str] = []
    for kind in kinds:
        registered = SPECS[kind].metric_keys if kind in SPECS else ()
        for key in KIND_METRICS.get(kind, registered):
            if key not in offered:
                offered.append(key)
    return offered or list(fallback)


def flatten_config(config: Mapping, prefix: str = "") -> list[tuple[str, str]]:
    """A run's config as (setting, value) rows, nested sections as dotted names."""
    rows: list[tuple[str, str]] = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows.extend(flatten_config(value, f"{name}."))
        elif isinstance(value, list | tuple):
            rows.append((name, ", ".join(str(item) for item in value) or "—"))
        else:
            rows.append((name, "—" if value is None or value == {} else str(value)))
    return rows
