"""The objective's terms on the on-policy dashboard: which plots each algorithm shows,
the series they draw from the trainer's keys, the stacked reward components, and the
"What am I looking at?" box that follows the run's algorithm."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from app.algorithms import ALGORITHMS
from app.widgets.dashboard import TrainingDashboard
from app.widgets.objective_plots import StackedPlot, with_kl_price
from core.config import PPOConfig
from core.config.critic_free import GRPOConfig, RLOOConfig
from core.grpo.metrics import EXTRA_KEYS as GROUP_EXTRA
from core.grpo.metrics import KL_KEYS
from core.grpo.metrics import REQUIRED_KEYS as GROUP_REQUIRED
from core.ppo.metrics import STEP_KEYS as PPO_KEYS

STEPS = 4


def _ppo_step(step: int) -> dict[str, float]:
    return {
        "reward/mean": 0.4 * step, "reward/std": 0.1, "objective/kl": 0.5 * step,
        "objective/kl_coef": 0.1, "objective/scores": 0.3 * step,
        "objective/non_score_reward": -0.05 * step, "val/explained_variance": 0.2 * step,
        "policy/clipfrac": 0.1, "policy/approxkl": 0.002 * step,
        "reward/sentiment": 0.5, "reward/length": 0.1 * step,
    }  # fmt: skip


def _dashboard(qtbot, config) -> TrainingDashboard:
    dashboard = TrainingDashboard()
    qtbot.addWidget(dashboard)
    dashboard.resize(1000, 700)
    dashboard.show()
    dashboard.reset(config)
    return dashboard


def _names(dashboard) -> list[str]:
    return [plot.objectName() for plot in dashboard.plots]


def _plot(dashboard, name):
    return next(plot for plot in dashboard.plots if plot.objectName() == name)


def test_ppo_shows_the_objective_terms_with_their_series(qtbot):
    dashboard = _dashboard(qtbot, PPOConfig(steps=STEPS))
    # Before any component arrives the stacked plot has nothing to show: hidden.
    assert "rewardComponentsPlot" not in _names(dashboard)
    for step in range(1, STEPS + 1):
        dashboard.add_step(step, STEPS, _ppo_step(step))
    qtbot.waitUntil(dashboard.all_drawn, timeout=5000)
    names = _names(dashboard)
    for name in ("objectivePlot", "rewardComponentsPlot", "explainedVariancePlot", "clipfracPlot"):
        assert name in names and _plot(dashboard, name).isVisible(), name
    objective = _plot(dashboard, "objectivePlot")
    assert objective.series_keys() == ["objective/scores", "objective/non_score_reward"]
    assert objective._values["objective/non_score_reward"].view().tolist() == pytest.approx(
        [-0.05, -0.1, -0.15, -0.2]
    )
    assert _plot(dashboard, "explainedVariancePlot").series_keys() == ["val/explained_variance"]
    clip = _plot(dashboard, "clipfracPlot")
    assert clip.series_keys() == ["policy/clipfrac", "policy/approxkl"]
    assert clip.right_values().tolist() == pytest.approx([0.002, 0.004, 0.006, 0.008])
    assert clip.legend_row.labels() == ["clipfrac", "approx KL (right)"]
    # Every curve reads a key the PPO trainer logs (components are `reward/<name>`).
    for plot in dashboard.plots:
        keys = [k for k in plot.series_keys() if not isinstance(plot, StackedPlot)]
        assert set(keys) <= set(PPO_KEYS), plot.objectName()
    # Each plot explains itself on hover.
    for name in ("objectivePlot", "rewardComponentsPlot", "explainedVariancePlot", "clipfracPlot"):
        assert len(_plot(dashboard, name).toolTip()) > 40, name


def test_reward_components_are_stacked(qtbot):
    dashboard = _dashboard(qtbot, PPOConfig(steps=STEPS))
    dashboard.add_step(1, STEPS, {"reward/mean": 0.0, "reward/sentiment": 0.5})
    # A component first seen at step 2: step 1 counts it as 0.
    dashboard.add_step(2, STEPS, {"reward/sentiment": 0.25, "reward/length": 1.0})
    dashboard.refresh_now()
    plot = _plot(dashboard, "rewardComponentsPlot")
    assert plot.series_keys() == ["reward/sentiment", "reward/length"]
    assert plot.legend_row.labels() == ["sentiment", "length"]
    np.testing.assert_allclose(plot.stack(), [[0.5, 0.25], [0.5, 1.25]])
    (_x, (y_low, y_high)) = plot.getViewBox().viewRange()
    assert y_low <= 0 and y_high >= 1.25  # the whole stack and its zero base in view
    # A new run clears it, and hides it until that run's components come.
    dashboard.reset(PPOConfig(steps=STEPS))
    assert "rewardComponentsPlot" not in _names(dashboard) and not plot.isVisible()
    assert plot.series_keys() == []


@pytest.mark.parametrize("config", [GRPOConfig(steps=STEPS), RLOOConfig(steps=STEPS)])
def test_critic_free_runs_show_no_critic_and_derive_the_kl_price(qtbot, config):
    dashboard = _dashboard(qtbot, config)
    keys = set(GROUP_REQUIRED) | set(KL_KEYS) | set(GROUP_EXTRA)
    step = {key: 0.1 for key in keys} | {"objective/kl": 2.0, "objective/kl_coef": 0.05}
    dashboard.add_step(1, STEPS, step)
    dashboard.refresh_now()
    names = _names(dashboard)
    assert "explainedVariancePlot" not in names  # no critic, no such metric
    assert "rewardComponentsPlot" not in names  # a single reward: nothing to stack
    assert {"objectivePlot", "clipfracPlot", "groupPlot"} <= set(names)
    objective = _plot(dashboard, "objectivePlot")
    # -beta * KL from the logged KL and its coefficient (GRPO/RLOO log no non-score reward).
    assert objective._values["objective/non_score_reward"].view().tolist() == [-0.1]
    hidden = dashboard.findChild(type(objective), "explainedVariancePlot")
    assert hidden is None or not hidden.isVisible()


def test_the_kl_price_is_taken_as_logged_where_the_trainer_logs_it():
    logged = {"objective/non_score_reward": -0.3, "objective/kl": 1.0, "objective/kl_coef": 1.0}
    assert with_kl_price(logged)["objective/non_score_reward"] == -0.3
    assert "objective/non_score_reward" not in with_kl_price({"objective/scores": 1.0})


def test_the_help_box_follows_the_algorithm(qtbot):
    dashboard = _dashboard(qtbot, PPOConfig(steps=STEPS))
    help_box = dashboard.findChild(type(dashboard.help_box), "objectiveHelp")
    assert help_box is dashboard.help_box and not help_box.isVisible()
    assert help_box.text() == ALGORITHMS["ppo"].help
    assert "critic" in help_box.text().lower() and "Explained variance" in help_box.text()
    help_box.toggle_button.click()
    QApplication.processEvents()
    assert help_box.isVisible() and help_box.is_open()
    dashboard.reset(GRPOConfig(steps=STEPS))
    assert help_box.text() == ALGORITHMS["grpo"].help and "group" in help_box.text()
    assert "critic" not in help_box.text().split("No critic")[0].lower()
    dashboard.reset(RLOOConfig(steps=STEPS))
    assert "leave one out" in help_box.text()
    help_box.toggle_button.click()
    assert not help_box.isVisible()


def test_every_on_policy_kind_has_a_help_text_and_only_ppo_a_critic_plot():
    for kind in ("ppo", "grpo", "rloo"):
        choice = ALGORITHMS[kind]
        assert choice.help and len(choice.help.split()) > 60, kind
        names = [spec.name for spec in choice.objective_plots]
        assert ("explainedVariancePlot" in names) == (kind == "ppo"), kind


@pytest.mark.parametrize("width, rows", [(1280, 3), (700, 4), (420, 6)])
def test_the_grid_still_reflows_with_the_objective_plots(qtbot, width, rows):
    from tests.app.test_app_dashboard_layout import _assert_fits, _rows, _shown

    dashboard = _dashboard(qtbot, PPOConfig(steps=STEPS))
    dashboard.add_step(1, STEPS, _ppo_step(1))  # every objective plot shown: ten in all
    dashboard.resize(width, 1000)
    qtbot.waitUntil(lambda: dashboard.width() == width)
    QApplication.processEvents()
    assert len(_shown(dashboard)) == 10
    _assert_fits(dashboard)
    assert _rows(_shown(dashboard)) == rows


def test_building_the_dashboard_leaves_the_window_active(qtbot):
    """The dashboard is built while the main window shows: no widget of it may flash up as
    a top-level window, which would take the window's activation (and its shortcuts)."""
    from PySide6.QtWidgets import QWidget

    window = QWidget()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    dashboard = TrainingDashboard(parent=window)
    QApplication.processEvents()
    assert QApplication.activeWindow() is window
    assert dashboard.help_box.toggle_button.window() is window
