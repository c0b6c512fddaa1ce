"""The live dashboard of a DPO / KTO / SFT run: the plots its algorithm entry names
(app/algorithms.py), fed one step at a time; keys as in docs/metrics.md."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.algorithms import PlotSpec
from app.widgets.common import named
from app.widgets.plot_grid import MIN_PLOT_WIDTH, columns_for, new_grid, place
from app.widgets.plots import MetricPlot, Series


class OfflineDashboard(QWidget):
    """Plots of one offline run; `add_step` appends, each plot redraws on its own timer."""

    def __init__(self, plots: Sequence[PlotSpec], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.step_label = named(QLabel("No run yet."), "offlineStepLabel")
        self.plots: list[MetricPlot] = []
        self._grid = new_grid()
        self._columns = 0
        self.setMinimumWidth(MIN_PLOT_WIDTH)  # narrower than its grid: see TrainingDashboard
        for spec in plots:
            series = [Series(key, label) for key, label in spec.series]
            # Parented at once: a parentless plot made while the window is shown is
            # briefly a top-level window, which takes the window's activation.
            plot = MetricPlot(spec.title, series, spec.unit, parent=self)
            plot.setObjectName(spec.name)
            plot.setToolTip(spec.tooltip or spec.title)
            for key, _label in spec.series:
                if key.startswith("eval/"):  # evaluated every few steps: dots
                    plot.mark_points(key)
            self.plots.append(plot)
        self._reflow()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.step_label)
        layout.addLayout(self._grid, 1)

    def _reflow(self) -> None:
        """At most three plots a row, fewer as the dashboard narrows (more rows)."""
        columns = columns_for(self.width(), most=3)
        if columns != self._columns:
            self._columns = columns
            place(self._grid, [(self.plots, 1)], columns)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._reflow()

    def reset(self, steps: int) -> None:
        """Clear the plots for a new run of `steps` steps."""
        for plot in self.plots:
            plot.clear_data()
            plot.set_x_extent(steps)
        self.step_label.setText(f"Run of {steps} steps starting…")

    def add_step(self, step: int, total: int, metrics: Mapping[str, float]) -> None:
        for plot in self.plots:
            plot.append(step, metrics)
        accuracy = metrics.get("eval/rewards/accuracy")
        held = f" · held-out accuracy {accuracy:.2f}" if accuracy is not None else ""
        self.step_label.setText(f"Step {step}/{total} · loss {metrics['loss']:.3f}{held}")

    def load_history(self, steps: int, rows: Sequence[Mapping[str, float]]) -> None:
        """Show a stored run's metrics (a resumed run's history)."""
        self.reset(steps)
        for plot in self.plots:
            plot.set_history(rows)
