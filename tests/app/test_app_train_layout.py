"""The Train page in a 1280x800 window: no two tick labels of an axis overlap, however
short or narrow the plot; legends stay within two lines; a run from stored feedback
shows a note, not empty rollout tables; the run's status and step line wrap instead of
losing their end; a reward model's path is elided in the middle, whole in its tooltip."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QLabel, QTableWidget, QTabWidget

from app.algorithms import ALGORITHMS
from app.widgets.dashboard import TrainingDashboard
from app.widgets.elided_line_edit import ElidedLineEdit
from app.widgets.offline_dashboard import OfflineDashboard
from app.widgets.plot_axes import nice_spacings, readable_spacing, ticks_at
from app.widgets.plot_legend import LEGEND_MAX_LINES
from app.widgets.reward_table import RewardTable
from app.widgets.rollout_tabs import OFFLINE_TAB, OfflineNote, show_tabs_for
from app.widgets.run_bar import ElidedLabel, wrap_lines

DASHBOARD_1280 = (628, 485)
"""The dashboard's size in a 1280x800 window (the rollouts' tabs below it)."""
TWO_LABELS_PX = 60
DASHBOARD_1440 = (760, 548)
"""Its size in the 1440x900 window of the RLAIF tour."""


def _ppo_metrics(step: int, steps: int) -> dict[str, float]:
    """Figures like the demo runs': a reward from -0.3 up, KL rising to ~8, small clip
    fractions and approx KL (the Clipping plot's crowded "0.08/0.06/0.04")."""
    share = step / steps
    wobble = math.sin(step * 1.7)
    return {
        "reward/mean": -0.3 + share + 0.1 * wobble, "reward/std": 0.4,
        "objective/kl": 7.8 * share**3, "objective/kl_coef": 0.05 - 0.02 * share,
        "loss/policy": 0.05 * wobble, "loss/value": 0.1 - 0.003 * step, "loss/kl": 0.01,
        "policy/clipfrac": 0.06 + 0.02 * wobble, "policy/approxkl": 0.03 + 0.01 * wobble,
        "policy/entropy": 1.1 + 0.1 * wobble, "response/length": 16 + 2 * wobble,
        "perf/samples_per_s": 11 + 3 * wobble, "objective/scores": 0.5 * share,
        "objective/non_score_reward": -0.05 * share, "reward/sentiment": 0.5 + share,
        "reward/length": 0.3, "val/explained_variance": 0.5 * wobble,
        "group/zero_std_frac": 0.1, "group/reward_std": 0.6 + 0.2 * wobble,
        **({"eval/reward/mean": 0.6} if step % 5 == 0 else {}),
    }  # fmt: skip


def _tick_rects(axis) -> list[tuple[QRectF, str]]:
    """The tick labels an axis draws now: pyqtgraph's own text rectangles."""
    image = QImage(8, 8, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [(rect, text) for rect, _flags, text in specs[2]] if specs else []


def _assert_ticks_readable(plots) -> int:
    """No two tick labels of any shown axis overlap; returns the labels counted."""
    counted = 0
    for plot in plots:
        for name in ("left", "right", "bottom"):
            axis = plot.getPlotItem().getAxis(name)
            if not axis.isVisible():
                continue
            labels = _tick_rects(axis)
            counted += len(labels)
            for index, (rect, text) in enumerate(labels):
                for other, other_text in labels[index + 1 :]:
                    assert not rect.intersects(other), (plot.objectName(), name, text, other_text)
    return counted


def _shown_dashboard(qtbot, kind: str, size: tuple[int, int], steps: int) -> TrainingDashboard:
    dashboard = TrainingDashboard()
    qtbot.addWidget(dashboard)
    choice = ALGORITHMS[kind]
    dashboard.configure(choice)
    dashboard.resize(*size)
    dashboard.show()
    dashboard.reset(replace(choice.config_class(), steps=steps))
    for step in range(1, steps + 1):
        dashboard.add_step(step, steps, _ppo_metrics(step, steps))
    dashboard.refresh_now()
    qtbot.wait(50)  # the layout settles: axes get their lengths
    dashboard.refresh_now()
    return dashboard


@pytest.mark.parametrize(
    ("kind", "size", "steps"),
    [("ppo", DASHBOARD_1280, 30), ("grpo", DASHBOARD_1280, 12), ("grpo", DASHBOARD_1440, 12)],
)
def test_no_two_tick_labels_of_an_axis_overlap(qtbot, kind, size, steps):
    dashboard = _shown_dashboard(qtbot, kind, size, steps)
    plots = [plot for plot in dashboard.plots if plot.isVisible()]
    assert len(plots) >= 9
    assert _assert_ticks_readable(plots) >= 2 * len(plots)  # labels left to read


def test_a_short_plot_keeps_labels_on_its_value_axes(qtbot):
    """A 35-pixel Clipping plot drew "0.08/0.06/0.04" on top of each other. Now fewer and
    apart: every value axis keeps a label, two where the axis is TWO_LABELS_PX long (with
    1-2-5 spacings, room for two labels a spacing apart is not room for two ticks)."""
    dashboard = _shown_dashboard(qtbot, "ppo", DASHBOARD_1280, 30)
    for plot in dashboard.plots:
        if not plot.isVisible():
            continue
        for name in ("left", "right"):
            axis = plot.getPlotItem().getAxis(name)
            if not axis.isVisible():
                continue
            labels = _tick_rects(axis)
            assert labels, (plot.objectName(), name)
            if axis.geometry().height() >= TWO_LABELS_PX:
                assert len(labels) >= 2, (plot.objectName(), name, labels)


def test_step_axis_labels_do_not_run_together():
    """12 steps over 180 pixels: "10", "11", "12" were drawn as "101112"."""
    from PySide6.QtWidgets import QApplication

    assert QApplication.instance() is not None or QApplication([])
    from app.widgets.plots import CountAxis

    axis = CountAxis("bottom")
    axis.setRange(-0.6, 12.6)
    levels = axis.tickValues(-0.6, 12.6, 180)
    major, values = levels[0]
    assert major >= 2 and all(float(v).is_integer() for v in values)
    assert axis.style["maxTextLevel"] == 0  # the minor ticks carry no labels


def test_readable_spacing_is_never_denser_than_the_labels_allow():
    # 10 units over 45 px with 16-px labels: at most 2-3 labels, 5 apart.
    assert readable_spacing(0.0, 10.0, 45, lambda _s: 16.0, default=2.0) == 5.0
    # Room for pyqtgraph's own choice: kept.
    assert readable_spacing(0.0, 10.0, 400, lambda _s: 16.0, default=2.0) == 2.0
    # The default would leave one label in view (1 of 0.3..1.7): a finer legible one.
    assert readable_spacing(0.3, 1.7, 100, lambda _s: 15.0, default=1.0) == 0.5
    # Counts: never below 1.
    assert readable_spacing(0.0, 3.0, 400, lambda _s: 10.0, default=0.5, whole=True) == 1.0
    assert list(zip(range(4), nice_spacings(0.03), strict=False)) == [
        (0, 0.05), (1, 0.1), (2, 0.2), (3, 0.5),
    ]  # fmt: skip
    assert ticks_at(0.1, 0.05, 0.35) == [0.1, 0.2, 0.3]


def test_dpo_rewards_legend_takes_two_lines_at_1280(qtbot):
    dashboard = OfflineDashboard(ALGORITHMS["dpo"].plots)
    qtbot.addWidget(dashboard)
    dashboard.resize(*DASHBOARD_1280)
    dashboard.show()
    qtbot.wait(50)
    rewards = next(p for p in dashboard.plots if p.objectName() == "preferenceRewardsPlot")
    assert len(rewards.legend_row.labels()) == 4
    assert rewards.legend_row.line_count() <= LEGEND_MAX_LINES
    # One line where there is room, at the usual size.
    loss = next(p for p in dashboard.plots if p.objectName() == "offlineLossPlot")
    assert loss.legend_row.line_count() == 1 and loss.legend_row.point_size() == 8


def test_an_offline_run_shows_a_note_instead_of_empty_rollouts(qtbot):
    tabs = QTabWidget()
    qtbot.addWidget(tabs)
    rollouts, held_out, note = QTableWidget(), QTableWidget(), OfflineNote()
    tabs.addTab(note, OFFLINE_TAB)
    tabs.addTab(rollouts, "Latest rollouts")
    tabs.addTab(held_out, "Held-out answers")
    tabs.addTab(QLabel("try"), "Try the policy (while paused)")
    tabs.setCurrentWidget(rollouts)

    show_tabs_for(tabs, (rollouts, held_out), note, ALGORITHMS["dpo"])
    shown = [tabs.tabText(i) for i in range(tabs.count()) if tabs.isTabVisible(i)]
    assert shown == [OFFLINE_TAB, "Try the policy (while paused)"]
    assert tabs.currentWidget() is note
    assert "no rollouts" in note.text() and "DPO" in note.text()
    assert "Try the policy" in note.text()

    show_tabs_for(tabs, (rollouts, held_out), note, ALGORITHMS["ppo"])
    shown = [tabs.tabText(i) for i in range(tabs.count()) if tabs.isTabVisible(i)]
    assert shown == ["Latest rollouts", "Held-out answers", "Try the policy (while paused)"]
    assert tabs.currentWidget() is rollouts


def test_a_status_wraps_to_two_lines_instead_of_losing_its_end(qtbot):
    label = ElidedLabel(lines=2)
    qtbot.addWidget(label)
    label.resize(label.fontMetrics().horizontalAdvance("Run 12 finish") + 4, 40)
    label.setText("Run 12 finished.")
    assert label.shown_text().replace("\n", " ") == "Run 12 finished."
    assert label.text() == label.toolTip() == "Run 12 finished."
    # Too long for two lines: the second is elided, the whole is in the tooltip.
    label.setText("Step 30/30 · reward +0.859 · KL 7.839 · held-out reward +0.912 and more")
    assert label.shown_text().count("\n") == 1 and label.shown_text().endswith("…")
    height = label.height()
    label.setText("short")
    assert label.height() == height  # the same height whatever the text: nothing moves


def test_wrap_lines_breaks_at_spaces():
    from PySide6.QtGui import QFontMetrics

    metrics = QFontMetrics(QLabel().font())
    width = metrics.horizontalAdvance("held-out reward") + 2
    assert wrap_lines("held-out reward +0.912", metrics, width, 2) == [
        "held-out reward",
        "+0.912",
    ]


def test_a_reward_model_path_is_elided_in_the_middle(qtbot):
    table = RewardTable(["rm=models/reward-models/rm-1"], watch_column=True)
    qtbot.addWidget(table)
    table.resize(410, 120)  # as wide as on the Train form at 1280x800
    table.show()
    qtbot.waitExposed(table)
    edit = table.table.cellWidget(0, 1)
    assert isinstance(edit, ElidedLineEdit)
    assert edit.text() == edit.toolTip() == "models/reward-models/rm-1"
    shown = edit.shown_text()
    # Both ends kept, the middle elided, and the whole drawn inside the box.
    assert "…" in shown and shown.startswith("mo") and shown.endswith("-1"), shown
    assert edit.fontMetrics().horizontalAdvance(shown) < edit.width()
    assert table.spec_texts()[0].startswith("rm=models/reward-models/rm-1")
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus)
    assert edit.shown_text() == edit.text()  # whole while being edited
