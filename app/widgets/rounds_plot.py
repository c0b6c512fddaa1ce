"""The DPO loop's rounds on the Runs page: each round's blind win-rate of the new adapter
against the base and its held-out preference accuracy, one point per round (the rounds
are runs of kind dpo_round, core.offline.loop.rounds)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QWidget

from app.widgets.plots import MetricPlot, Series

ROUND_SERIES = (
    Series("win_rate", "blind win-rate vs base"),
    Series("held_out_accuracy", "held-out accuracy"),
)


class RoundsPlot(MetricPlot):
    """Win-rate and held-out accuracy per round (0–1); a round not measured leaves a gap."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("DPO loop: per round", ROUND_SERIES, "share", parent=parent)
        self.setObjectName("roundsPlot")
        self.setLabel("bottom", "round")
        for series in ROUND_SERIES:
            self.mark_points(series.key, size=7)  # a lone round is a point, not a line

    def show_rounds(self, rounds: Sequence) -> None:
        """Plot `rounds` (DPORound records, oldest first)."""
        rows = [
            {"step": r.round, "win_rate": r.win_rate, "held_out_accuracy": r.held_out_accuracy}
            for r in rounds
        ]
        self.set_x_extent(max(len(rows), 2))
        self.set_history(rows)
        self.setYRange(0.0, 1.0, padding=0.05)

    def values(self, key: str) -> list[float]:
        """The plotted values of one series, per round (NaN where not measured)."""
        return [float(v) for v in self._values[key].view()]
