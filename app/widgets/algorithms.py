"""The Train page's algorithms: one entry each, saying what its form is made of, which
job trains it and which curves its dashboard draws.

PPO keeps its own form and dashboard (app/widgets/ppo_form.py, dashboard.py); the trainers
from stored feedback (DPO/IPO, KTO, SFT) share one dashboard (offline_dashboard.py) whose
plots come from their entry. The Train page's algorithm combo (objectName
`algorithmCombo`) lists ALGORITHMS in order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.jobs.offline import run_offline
from app.train_job import run_ppo
from core.config import PPOConfig
from core.offline.config import DPOConfig, KTOConfig, SFTConfig


@dataclass(frozen=True)
class PlotSpec:
    """One dashboard plot: its objectName, title, curves (metric key, legend) and unit."""

    name: str
    title: str
    series: tuple[tuple[str, str], ...]
    y_label: str = ""


@dataclass(frozen=True)
class AlgorithmEntry:
    """What the Train page needs to offer one algorithm."""

    kind: str
    """The run kind in the store and the CLI command."""
    label: str
    config_class: type
    job: Callable
    """(session, request, control) -> an iterator of run events, run by a worker."""
    plots: tuple[PlotSpec, ...] = ()
    """The offline dashboard's plots (PPO: empty, it has its own dashboard)."""
    data: str = ""
    """What it learns from, for the form's hint."""


LOSS = PlotSpec("offlineLossPlot", "Loss", (("loss", "train"), ("eval/loss", "held-out")))
DRIFT = PlotSpec(
    "driftPlot", "Drift from the base", (("drift/logratio", "|log π − log π_ref|"),), "nats/token"
)
SPEED = PlotSpec("offlineSpeedPlot", "Throughput", (("perf/samples_per_s", "examples/s"),), "/s")
PREFERENCE_PLOTS = (
    LOSS,
    PlotSpec(
        "preferenceRewardsPlot",
        "Implicit rewards",
        (
            ("rewards/chosen", "chosen"),
            ("rewards/rejected", "rejected"),
            ("rewards/margins", "margin"),
            ("eval/rewards/margins", "held-out margin"),
        ),
    ),
    PlotSpec(
        "preferenceAccuracyPlot",
        "Preference accuracy",
        (("rewards/accuracy", "train"), ("eval/rewards/accuracy", "held-out")),
    ),
    DRIFT,
    SPEED,
)

ALGORITHMS: dict[str, AlgorithmEntry] = {
    entry.kind: entry
    for entry in (
        AlgorithmEntry("ppo", "PPO (reward model or rule)", PPOConfig, run_ppo),
        AlgorithmEntry(
            "dpo",
            "DPO / IPO (from pairs)",
            DPOConfig,
            run_offline,
            PREFERENCE_PLOTS,
            "the comparisons rated on Compare & Rate or by the AI judge",
        ),  # fmt: skip
        AlgorithmEntry(
            "kto",
            "KTO (from thumbs)",
            KTOConfig,
            run_offline,
            PREFERENCE_PLOTS,
            "thumbs up/down ratings, and the comparisons split into their sides",
        ),  # fmt: skip
        AlgorithmEntry(
            "sft",
            "SFT (from demonstrations)",
            SFTConfig,
            run_offline,
            (LOSS, DRIFT, SPEED),
            "a prompt/response file, or the preferred sides of the comparisons",
        ),  # fmt: skip
    )
}
