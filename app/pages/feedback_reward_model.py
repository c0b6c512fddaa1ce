"""The AI Feedback page's reward-model box: its form, Train/Stop, the live loss and
accuracy plot, the summary of the trained model and "Use as PPO reward".

The box only shows: the page starts the training job and hands it the reports
(`show_epoch`, `show_summary`); core's `on_epoch` callback reaches the GUI thread through
the job (`app.workers.ToGui`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.widgets.common import named
from app.widgets.feedback_forms import RewardModelForm
from app.widgets.feedback_tables import percent
from app.widgets.plots import SERIES_COLOURS, MetricPlot, Series
from core.data.preference_export import DEFAULT_MIN_CONFIDENCE

if TYPE_CHECKING:  # torch-heavy modules: only their types are needed here
    from app.jobs.feedback import RMSummary
    from core.reward_model.training import EpochReport

RM_SERIES = [
    Series("train/loss", "train loss"),
    Series("eval/loss", "held-out loss"),
    Series("train/accuracy", "train accuracy"),
    Series("eval/accuracy", "held-out accuracy"),
]
"""The reward-model plot's curves; the first (train loss) gains one point per epoch."""


def reward_model_plot() -> MetricPlot:
    """Loss and accuracy per epoch in one plot: accuracy curves dashed, and the legend in
    the title (coloured names), where it never covers a curve."""
    plot = MetricPlot("", RM_SERIES, "loss / accuracy")
    plot.setObjectName("rmLossPlot")
    plot.setLabel("bottom", "epoch")
    # Its size hint ignored: in the page's scrolled column the hint (480 px) made the column
    # taller than an 800-pixel window; it takes the height left over, at least 150 px.
    plot.setMinimumHeight(150)
    policy = plot.sizePolicy()
    policy.setVerticalPolicy(QSizePolicy.Policy.Ignored)
    plot.setSizePolicy(policy)
    plot.hide_legend()
    names = []
    for index, (series, curve) in enumerate(
        zip(RM_SERIES, plot.getPlotItem().listDataItems(), strict=True)
    ):
        colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
        if "accuracy" in series.key:
            style = Qt.PenStyle.DashLine
            curve.setPen(pg.mkPen(colour, width=2, style=style))
        names.append(f"<span style='color:{colour}'>{series.label}</span>")
    plot.setTitle(" · ".join(names), size="9pt")
    return plot


class SummaryLabel(QLabel):
    """A word-wrapped label that reserves its wrapped height (at least three lines) as its
    minimum: a word-wrapped label's height is not in its column's minimum, and squeezed
    it was drawn over the plot above it. With the height reserved, a short window scrolls
    the page's column instead."""

    def setText(self, text: str) -> None:  # noqa: N802 (Qt override)
        super().setText(text)
        self._fit()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        lines = 3 * self.fontMetrics().lineSpacing() + 4
        height = max(lines, self.heightForWidth(max(self.width(), 100)))
        if height != self.minimumHeight():
            self.setMinimumHeight(height)


class RewardModelBox(QGroupBox):
    """Bradley–Terry reward model: settings, Train/Stop, the per-epoch plot and result."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Reward model (Bradley–Terry)", parent)
        self.rm_form = RewardModelForm()
        self.train_rm_button = named(QPushButton("Train reward model"), "trainRewardModelButton")
        self.stop_rm_button = named(QPushButton("Stop"), "stopRewardModelButton")
        self.rm_progress = named(QProgressBar(textVisible=False), "rmProgress")
        self.rm_plot = reward_model_plot()
        self.rm_result = named(SummaryLabel(wordWrap=True), "rmResult")
        self.rm_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.use_rm_button = named(QPushButton("Use as PPO reward"), "useRewardModelButton")
        self.use_rm_button.setToolTip("Set the Train page's reward to rm=<this folder>")
        layout = QVBoxLayout(self)
        layout.addWidget(self.rm_form)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_rm_button)
        buttons.addWidget(self.stop_rm_button)
        buttons.addWidget(self.rm_progress, 1)
        # Beside Train, not beside the summary: there it took the summary's width, and a
        # summary of six lines was drawn over the plot.
        buttons.addWidget(self.use_rm_button)
        layout.addLayout(buttons)
        layout.addWidget(self.rm_plot, 1)
        layout.addWidget(self.rm_result)

    def show_epoch(self, report: EpochReport) -> None:
        self.rm_plot.append(report.epoch, report.metrics())
        self.rm_result.setText(
            f"Epoch {report.epoch}: train loss {report.train_loss:.3f}, held-out accuracy "
            f"{percent(report.eval_accuracy)}"
        )

    def show_summary(self, summary: RMSummary) -> None:
        self.rm_plot.refresh()
        how = "stopped" if summary.stopped else "early stop" if summary.stopped_early else "done"
        self.rm_result.setText(
            f"<b>Held-out accuracy {percent(summary.eval_accuracy)}</b> on {summary.n_eval} "
            f"pairs (human ones: {percent(summary.eval_accuracy_human)}); best epoch "
            f"{summary.best_epoch} of {summary.epochs_run} ({how}, {summary.seconds:.0f} s).<br>"
            f"{coin_flip_line(summary.coin_flips_dropped)}"
            f"Saved to <code>{summary.folder}</code>"
        )


def coin_flip_line(dropped: int) -> str:
    """The note on AI labels left out of training (empty when none were)."""
    if not dropped:
        return ""
    return (
        f"Left out {dropped} AI labels with confidence |2p − 1| below "
        f"{DEFAULT_MIN_CONFIDENCE:g} (coin flips: the judge was not sure).<br>"
    )
