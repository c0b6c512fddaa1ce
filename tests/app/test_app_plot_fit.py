"""Small plots give their room to the data: a short plot of steps drops its x-axis title,
a legend's names share a line as wide as the plot allows (centred, never past its edges),
and the run bar's checkpoint keeps "Checkpoint:" and the path's end when elided."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from app.widgets.objective_plots import TwinAxisPlot
from app.widgets.plots import LEGEND_MARGIN_PX, SHORT_PLOT_PX, MetricPlot, Series, legend_width
from app.widgets.run_bar import RunBar


def test_legend_width_stays_inside_the_plot():
    # Two axes of the same width: centred in the plot, the whole width less the margins.
    assert legend_width(200, 52, 52) == 200 - LEGEND_MARGIN_PX
    # One axis on the left: the data's centre is off to the right, so less on each side.
    assert legend_width(200, 52, 0) == 200 - 52 - LEGEND_MARGIN_PX


def _lines(plot) -> int:
    return plot.legend_row.label_item().text.count("<br>") + 1


def test_a_short_twin_axis_plot_keeps_its_legend_on_one_line_and_drops_step(qtbot):
    plot = TwinAxisPlot(
        "Clipping", Series("policy/clipfrac", "clipfrac"), Series("x", "approx KL (right)")
    )
    qtbot.addWidget(plot)
    plot.show()
    plot.resize(205, 140)  # a GRPO dashboard's cell at 1280x800
    qtbot.waitUntil(lambda: plot.height() == 140)
    QApplication.processEvents()
    bottom = plot.getPlotItem().getAxis("bottom")
    assert not bottom.label.isVisible()
    assert _lines(plot) == 1  # "clipfrac" and "approx KL (right)" side by side
    plot.resize(205, SHORT_PLOT_PX + 40)
    qtbot.waitUntil(lambda: plot.height() == SHORT_PLOT_PX + 40)
    assert bottom.label.isVisible()


def test_a_plot_of_epochs_keeps_its_axis_title_when_short(qtbot):
    plot = MetricPlot("", [Series("a", "a"), Series("b", "b")])
    plot.setLabel("bottom", "epoch")
    qtbot.addWidget(plot)
    plot.show()
    plot.resize(300, 140)
    qtbot.waitUntil(lambda: plot.height() == 140)
    assert plot.getPlotItem().getAxis("bottom").label.isVisible()


def test_run_bar_checkpoint_keeps_its_prefix_and_the_paths_end(qtbot):
    bar = RunBar()
    qtbot.addWidget(bar)
    bar.resize(1000, 40)
    bar.show()
    path = "/home/someone/studio/workspace/checkpoints/run-3/step-10"
    bar.set_checkpoint(path)
    label = bar.checkpoint_label
    label.resize(190, label.height())
    shown = label.shown_text()
    assert shown.startswith("Checkpoint: ") and shown.endswith("step-10") and "…" in shown
    assert label.fontMetrics().horizontalAdvance(shown) <= label.width()
    assert label.toolTip() == f"Checkpoint: {path}"
