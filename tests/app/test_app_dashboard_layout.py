"""Dashboards fit their width: plots reflow into more rows as they narrow, no plot is
drawn wider than its cell (titles and axes unclipped), every step stays in view, the
legends sit under the plots and follow the theme live."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QApplication, QWidget

from app.algorithms import ALGORITHMS
from app.theme import _DARK_PLOT, _LIGHT_PLOT, apply_theme
from app.widgets.dashboard import TrainingDashboard
from app.widgets.offline_dashboard import OfflineDashboard
from app.widgets.plot_grid import rows_of
from app.widgets.plots import OverlayPlot
from core.config import PPOConfig
from core.config.critic_free import GRPOConfig

STEPS = 10


def _metrics(step: int) -> dict[str, float]:
    return {
        "reward/mean": step / 10, "reward/std": 0.1, "objective/kl": step / 100,
        "objective/kl_coef": 0.05, "loss/policy": 1 / step, "loss/value": 2 / step,
        "loss/kl": 0.01, "policy/entropy": 3.0, "policy/clipfrac": 0.1,
        "response/length": 10.0 + step, "perf/samples_per_s": 20.0,
        "group/zero_std_frac": 0.2, "group/reward_std": 0.3,
        "eval/reward/mean": 0.5, "eval/reference_reward/mean": 0.1,
    }  # fmt: skip


def _shown(dashboard) -> list:
    return [plot for plot in dashboard.plots if plot.isVisible()]


def _rows(plots) -> int:
    return len({plot.geometry().top() for plot in plots})


def _assert_fits(dashboard) -> None:
    """Every shown plot lies inside the dashboard, overlaps no other, and draws its
    PlotItem (title, axes, legend row) within its own widget: nothing clipped."""
    plots = _shown(dashboard)
    area = dashboard.rect()
    for plot in plots:
        box = QRect(plot.mapTo(dashboard, plot.rect().topLeft()), plot.size())
        assert area.contains(box), (plot.objectName(), box, area)
        item = plot.getPlotItem().geometry()
        assert item.width() <= plot.width() + 1, (plot.objectName(), item, plot.size())
        assert item.height() <= plot.height() + 1, (plot.objectName(), item, plot.size())
        title = plot.getPlotItem().titleLabel.itemRect().width()
        assert title < plot.width(), plot.objectName()
        if plot.legend_row is not None:  # its lines get their height: none over the axis
            legend = plot.legend_row.label_item()
            assert legend.geometry().height() + 0.5 >= legend.itemRect().height()
            assert legend.itemRect().width() <= plot.width(), plot.objectName()
    for index, plot in enumerate(plots):
        for other in plots[index + 1 :]:
            assert not plot.geometry().intersects(other.geometry()), (plot, other)


@pytest.mark.parametrize("config", [PPOConfig(steps=STEPS), GRPOConfig(steps=STEPS)])
def test_plots_reflow_into_more_rows_as_the_dashboard_narrows(qtbot, config):
    dashboard = TrainingDashboard()
    qtbot.addWidget(dashboard)
    dashboard.reset(config)
    dashboard.show()
    rows = {}
    for width in (1340, 700, 420):
        dashboard.resize(width, 900)
        qtbot.waitUntil(lambda w=width: dashboard.width() == w)
        QApplication.processEvents()
        _assert_fits(dashboard)
        rows[width] = _rows(_shown(dashboard))
    assert rows[1340] == 2  # the three main plots, then the gauges
    assert rows[1340] < rows[700] < rows[420]


def test_every_step_of_the_run_is_in_view(qtbot):
    dashboard = TrainingDashboard()
    qtbot.addWidget(dashboard)
    dashboard.resize(700, 600)
    dashboard.show()
    dashboard.reset(GRPOConfig(steps=STEPS))
    for step in range(1, STEPS + 1):
        dashboard.add_step(step, STEPS, _metrics(step))
    qtbot.waitUntil(dashboard.all_drawn, timeout=5000)
    for plot in _shown(dashboard):
        (x_low, x_high), _y = plot.getViewBox().viewRange()
        # The last step's dot is drawn whole: some room is left past it.
        assert x_low <= 1 and x_high >= STEPS * 1.03, (plot.objectName(), x_low, x_high)


def test_offline_dashboard_reflows_too(qtbot):
    dashboard = OfflineDashboard(ALGORITHMS["dpo"].plots)
    qtbot.addWidget(dashboard)
    dashboard.show()
    dashboard.resize(1300, 700)
    qtbot.waitUntil(lambda: dashboard.width() == 1300)
    QApplication.processEvents()
    wide = _rows(dashboard.plots)
    dashboard.resize(450, 900)
    qtbot.waitUntil(lambda: dashboard.width() == 450)
    QApplication.processEvents()
    _assert_fits(dashboard)
    assert wide == 2 and _rows(dashboard.plots) > wide


def test_rows_are_as_even_as_possible():
    assert [len(row) for row in rows_of(list(range(4)), 3)] == [2, 2]
    assert [len(row) for row in rows_of(list(range(7)), 3)] == [3, 3, 1]
    assert [len(row) for row in rows_of(list(range(6)), 6)] == [6]


def test_legends_follow_a_live_theme_change(qtbot):
    root = QWidget()
    qtbot.addWidget(root)
    dashboard = TrainingDashboard(parent=root)
    overlay = OverlayPlot(parent=root)
    app = QApplication.instance()
    try:
        apply_theme(app, "dark", root)
        assert dashboard.loss_plot.legend_row.foreground() == _DARK_PLOT["foreground"]
        assert dashboard.reward_plot.legend_row.foreground() == _DARK_PLOT["foreground"]
        assert overlay.legend_row.foreground() == _DARK_PLOT["foreground"]
        html = dashboard.loss_plot.legend_row.label_item().item.toHtml()
        assert "policy" in html and "value" in html
    finally:
        apply_theme(app, "light", root)
    assert dashboard.loss_plot.legend_row.foreground() == _LIGHT_PLOT["foreground"]


def test_an_empty_overlay_shows_a_hint_not_empty_axes(qtbot):
    overlay = OverlayPlot()
    qtbot.addWidget(overlay)
    assert "Select" in overlay.hint_text()
    assert not overlay.getAxis("left").style["showValues"]
    import numpy as np

    overlay.show_runs("loss", {"1: dpo": (np.array([1.0, 2.0]), np.array([0.7, 0.6]))})
    assert overlay.hint_text() == "" and overlay.getAxis("left").style["showValues"]
    overlay.show_runs("reward/mean", {"1: dpo": (np.array([]), np.array([]))})
    assert "do not report reward/mean" in overlay.hint_text()
