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

REWARD_MODEL = "reward_model"
"""The store's run kind of a reward-model training (not a policy algorithm)."""
REWARD_MODEL_METRICS = (
    "eval/accuracy", "train/accuracy", "eval/loss", "train/loss", "eval/margin",
    "eval/accuracy_human",
)  # fmt: skip
DEMONSTRATION_METRICS = ("loss", "eval/loss", "drift/logratio", "perf/samples_per_s")


def kind_metrics(kind: str) -> tuple[str, ...]:
    """The metrics runs of `kind` record, the one to show first leading, from what its
    registry entry reads and has (() for a kind no entry declares)."""
    if kind == REWARD_MODEL:
        return REWARD_MODEL_METRICS
    spec = SPECS.get(kind)
    if spec is None:
        return ()
    if spec.data == "prompts":  # a critic has a value loss; group baselines a KL term
        own = ("loss/value",) if spec.plan.value_head else ("loss/kl",)
        groups = () if spec.plan.value_head else GROUP_KEYS
        return (*ON_POLICY[:5], *own, *ON_POLICY[5:], *groups)
    if spec.data == "demonstrations":
        return DEMONSTRATION_METRICS
    terms = tuple(key for key in spec.metric_keys if key.startswith("loss/"))  # ORPO's
    return (*PREFERENCE[:4], *terms, *PREFERENCE[4:])


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
FIGURES_BY_DATA: dict[str, tuple[Figure, Figure]] = {
    "prompts": REWARD_KL,
    "pairs": PREFERENCE_FIGURES,
    "thumbs": PREFERENCE_FIGURES,
    "demonstrations": (Figure("loss", ("loss",)), Figure("held-out loss", ("eval/loss",))),
}
"""What a run's row shows (its last step's), by the data its algorithm learns from."""
REWARD_MODEL_FIGURES = (
    Figure("held-out accuracy", ("eval/accuracy",)),
    Figure("held-out loss", ("eval/loss",)),
)


def kind_figures(kind: str) -> tuple[Figure, Figure] | None:
    """The two figures of a `kind` run's row on the Runs page (None: no figures)."""
    if kind == REWARD_MODEL:
        return REWARD_MODEL_FIGURES
    spec = SPECS.get(kind)
    return FIGURES_BY_DATA.get(spec.data) if spec is not None else None


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
    figures = kind_figures(kind)
    if figures is None:
        return "", ""
    return figures[0].text(rows), figures[1].text(rows)


def metrics_for(kinds: Iterable[str], fallback: Sequence[str]) -> list[str]:
    """The metrics to offer for runs of `kinds`, in order, each once (`fallback` for
    none or unknown kinds)."""
    offered: list[str] = []
    for kind in kinds:
        for key in kind_metrics(kind):
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
