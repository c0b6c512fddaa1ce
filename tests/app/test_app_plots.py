"""Live plots and the dashboard's warnings, without a model."""

from __future__ import annotations

import warnings

import numpy as np

from app.pages.runs_page import OVERLAY_METRICS
from app.widgets.dashboard import TrainingDashboard
from app.widgets.plots import CountAxis, GrowingBuffer, MetricPlot, Series, grown_range
from app.widgets.reward_kl_plots import KLPlot, RewardPlot
from core.config import PPOConfig
from core.ppo.metrics import STEP_KEYS


def _first_item_points(plot) -> int:
    x, _y = plot.getPlotItem().listDataItems()[0].getData()
    return 0 if x is None else len(x)


def test_growing_buffer_keeps_every_value():
    buffer = GrowingBuffer(capacity=2)
    for value in range(10):
        buffer.append(value)
    assert buffer.view().tolist() == list(range(10)) and buffer.last() == 9.0


def test_grown_range_only_changes_when_data_leaves_it():
    first = grown_range(None, 0.0, 1.0)
    assert first[0] < 0.0 and first[1] > 1.0
    assert grown_range(first, 0.2, 0.9) is None  # inside: keep (no axis re-render)
    assert grown_range(first, 0.0, 5.0)[1] > 5.0


def test_reward_plot_first_item_is_the_mean_with_one_point_per_step(qtbot):
    plot = RewardPlot()
    qtbot.addWidget(plot)
    for step in range(1, 6):
        plot.append(step, {"reward/mean": step / 10, "reward/std": 0.1})
    plot.refresh()
    assert _first_item_points(plot) == 5
    _x, y = plot.getPlotItem().listDataItems()[0].getData()
    np.testing.assert_allclose(y, [0.1, 0.2, 0.3, 0.4, 0.5])
    plot.set_smoothing(True)
    assert plot.smoothing()


def test_axes_show_plain_numbers_without_a_scale_factor(qtbot):
    """0.2-0.7 must read as 0.2-0.7 on the axis, not as 200-700 with "(x0.001)"."""
    kl = KLPlot()
    qtbot.addWidget(kl)
    kl.resize(400, 300)
    for step in range(1, 6):
        kl.append(step, {"objective/kl": step / 10, "objective/kl_coef": 0.01 * step})
    kl.refresh()
    for axis in (kl.getAxis("left"), kl.getPlotItem().getAxis("right")):
        assert axis.autoSIPrefixScale == 1.0 and "x0.001" not in axis.labelString()


def test_step_axis_ticks_are_whole_numbers():
    axis = CountAxis("bottom")
    for low, high in ((0.0, 3.0), (1.0, 1.5), (0.0, 500.0)):
        ticks = [v for _spacing, values in axis.tickValues(low, high, 400) for v in values]
        assert ticks and all(float(v).is_integer() for v in ticks), (low, high, ticks)


def test_redraws_are_coalesced_by_the_timer(qtbot):
    plot = RewardPlot()
    qtbot.addWidget(plot)
    for step in range(1, 51):
        plot.append(step, {"reward/mean": 0.0})
    assert _first_item_points(plot) == 0  # not drawn yet: appends only fill buffers
    qtbot.waitUntil(lambda: _first_item_points(plot) == 50, timeout=2000)


def test_kl_plot_shows_the_target_line_only_in_adaptive_mode(qtbot):
    plot = KLPlot()
    qtbot.addWidget(plot)
    plot.set_target(6.0)
    assert plot.target() == 6.0
    plot.set_target(None)
    assert plot.target() is None
    plot.append(1, {"objective/kl": 0.5, "objective/kl_coef": 0.05})
    plot.refresh()
    assert _first_item_points(plot) == 1


def test_dashboard_maps_trainer_keys_to_plots(qtbot):
    dashboard = TrainingDashboard()
    qtbot.addWidget(dashboard)
    dashboard.show()
    dashboard.reset(PPOConfig(steps=3, kl_mode="fixed"))
    metrics = {
        "reward/mean": 0.2,
        "objective/kl": 0.1,
        "loss/policy": -0.1,
        "policy/entropy": 2.0,
        "response/length": 7,
        "perf/samples_per_s": 3.0,
    }
    for step in (1, 2):
        dashboard.add_step(step, 3, metrics)
    qtbot.waitUntil(dashboard.all_drawn, timeout=3000)
    assert all(_first_item_points(plot) == 2 for plot in dashboard.plots)
    assert dashboard.kl_plot.target() is None
    assert "Step 2/3" in dashboard.step_label.text()


def test_held_out_reward_shows_as_points_on_evaluated_steps_only(qtbot):
    dashboard = TrainingDashboard()
    qtbot.addWidget(dashboard)
    dashboard.show()
    dashboard.reset(PPOConfig(steps=4, eval_prompts=2, eval_every=2))
    for step in (1, 2, 3, 4):
        metrics = {"reward/mean": step / 10, "objective/kl": 0.1}
        if step % 2 == 0:
            metrics |= {"eval/reward/mean": step / 20, "eval/reference_reward/mean": -0.5}
        dashboard.add_step(step, 4, metrics)
        if step == 3:  # between evaluations the label keeps the latest held-out reward
            assert "held-out +0.100" in dashboard.step_label.text()
    qtbot.waitUntil(dashboard.all_drawn, timeout=3000)
    plot = dashboard.reward_plot
    assert _first_item_points(plot) == 4 and plot.held_out_points() == 2
    x, y = plot._eval_curve.getData()
    assert x.tolist() == [2.0, 4.0] and y.tolist() == [0.1, 0.2]
    assert plot._reference_curve.getData()[1].tolist() == [-0.5, -0.5]
    assert plot.legend_row.labels() == ["training", "held-out", "reference"]
    dashboard.reset(PPOConfig(steps=2))  # a run without held-out prompts: no such entries
    dashboard.add_step(1, 2, {"reward/mean": 0.0})
    qtbot.waitUntil(dashboard.all_drawn, timeout=3000)
    assert plot.held_out_points() == 0 and plot.legend_row.labels() == ["training"]
    assert "held-out" not in dashboard.step_label.text()


def test_dashboard_and_runs_page_plot_the_trainer_keys(qtbot):
    """One set of metric names: every curve reads a key the trainer emits, as it is."""
    dashboard = TrainingDashboard()
    qtbot.addWidget(dashboard)
    plotted = {key for plot in dashboard.plots for key in plot._values}
    assert plotted and plotted <= set(STEP_KEYS)
    from app.offline_algorithms import OFFLINE_ALGORITHMS

    offline_plotted = {
        key
        for entry in OFFLINE_ALGORITHMS.values()
        for plot in entry.plots
        for key, _ in plot.series
    }
    assert set(OVERLAY_METRICS) <= set(STEP_KEYS) | offline_plotted


def test_reward_band_and_kl_coefficient_come_from_the_trainer_keys(qtbot):
    reward, kl = RewardPlot(), KLPlot()
    qtbot.addWidget(reward)
    qtbot.addWidget(kl)
    for step in (1, 2):
        metrics = {"reward/mean": 0.5, "reward/std": 0.25, "objective/kl_coef": 0.1 * step}
        reward.append(step, metrics)
        kl.append(step, metrics)
    reward.refresh()
    kl.refresh()
    assert reward._upper.getData()[1].tolist() == [0.75, 0.75]
    assert kl._coef_curve.getData()[1].tolist() == [0.1, 0.2]


def test_dashboard_shows_the_health_warning_of_a_run_away_kl(qtbot):
    dashboard = TrainingDashboard()
    qtbot.addWidget(dashboard)
    dashboard.reset(PPOConfig(steps=5, target_kl=1.0))
    warnings = []
    for step in (1, 2, 3):
        warnings = dashboard.add_step(step, 5, {"reward/mean": 0.0, "objective/kl": 10.0})
    assert len(warnings) == 1 and "KL is running away" in warnings[0]
    assert "KL is running away" in dashboard.warning_label.text()
    assert not dashboard.warning_label.isHidden()


def test_dots_of_a_metric_not_yet_reported_draw_without_warnings(qtbot):
    # A held-out figure before its first evaluation is all NaN; pyqtgraph's dots warned
    # "All-NaN slice encountered" on every paint of a DPO dashboard (44 in one run).
    plot = MetricPlot("Held-out", [Series("eval/accuracy", "accuracy")], "")
    qtbot.addWidget(plot)
    plot.mark_points("eval/accuracy")
    plot.show()
    for step in (1, 2, 3):
        plot.append(step, {"loss": 0.5})
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        plot.refresh()
        plot.grab()
    assert _first_item_points(plot) == 0
    plot.append(4, {"eval/accuracy": 0.75})
    plot.refresh()
    assert _first_item_points(plot) == 4  # the dot appears, with its gaps before it
