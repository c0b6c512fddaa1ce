"""The trainers from stored feedback (DPO/IPO, KTO, SFT) as the GUI offers them: one
entry each, saying what its form is made of, which job trains it and which curves its
dashboard draws (app/widgets/offline_panel.py, offline_dashboard.py).

The on-policy trainers (PPO, GRPO, RLOO) are in app/algorithms.py, the Train page's
algorithm choice; these entries share its PlotSpec. Showing their panels from that choice
is still to be wired (the CLI and the AI Feedback page's DPO round use them today).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.algorithms import PlotSpec
from app.jobs.offline import run_offline
from core.offline.config import DPOConfig, KTOConfig, SFTConfig


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
    """The offline dashboard's plots."""
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

OFFLINE_ALGORITHMS: dict[str, AlgorithmEntry] = {
    entry.kind: entry
    for entry in (
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
