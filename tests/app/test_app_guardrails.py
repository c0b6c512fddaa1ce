"""Watched rewards, guardrails and the token inspector on the Train page: the reward
table's watch column makes watched specs, a run with the demo model plots watch/<name>
beside the trained reward, a guardrail that fires shows its banner, and a finished run's
rollout opens in the token inspector with a double-click."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSpinBox

from app.widgets.inspect_dialog import InspectDialog
from app.widgets.reward_table import RewardTable
from core.train.events import GuardFired
from tests.app.test_app_support import (  # noqa: F401 (fixtures)
    JOB_TIMEOUT_MS,
    click,
    load_model,
    wait_idle,
    window_fixture,
)


def test_the_watch_column_makes_watched_specs(qtbot):
    table = RewardTable(("length=5", "watch:sentiment"), watch_column=True)
    qtbot.addWidget(table)
    assert table.spec_texts() == ["length=5", "watch:sentiment"]
    table.table.cellWidget(0, 3).setChecked(True)
    assert [spec.watch for spec in table.specs()] == [True, True]
    plain = RewardTable(("sentiment",))  # Compare & Rate's: no watch column
    qtbot.addWidget(plain)
    assert plain.table.columnCount() == 3


def test_a_run_plots_its_watched_reward_inspects_a_rollout_and_shows_a_guardrail(qtbot, window):
    load_model(qtbot, window)
    page = window.train_page
    window.show_page(page)
    values = {"trainStepsSpin": 2, "batchSizeSpin": 4, "miniBatchSpin": 4, "ppoEpochsSpin": 1,
              "maxNewTokensSpin": 8}  # fmt: skip
    for name, value in values.items():
        page.findChild(QSpinBox, name).setValue(value)
    page.form.rewards.set_specs(["sentiment", "watch:length=5"])
    assert page.form.guardrails_check.isChecked()  # on by default in the GUI
    click(qtbot, window, "startTrainingButton")
    qtbot.waitUntil(
        lambda: page.phase == "idle" and page.run_id is not None, timeout=JOB_TIMEOUT_MS
    )
    wait_idle(qtbot, window)
    plot = page.dashboard.reward_plot
    assert plot.watched_keys() == ["watch/length"]
    assert any("watch/length" in entry.label for entry in plot.legend_entries())

    # A rollout, token by token, under the run's final checkpoint.
    table = page.rollout_table
    cell = table.visualItemRect(table.item(0, 1)).center()
    # A double-click is a press, a release, then the double-click event (as Qt sends it).
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=cell)
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=cell)
    dialogs = page.findChildren(InspectDialog)
    assert len(dialogs) == 1
    dialog = dialogs[0]
    qtbot.waitUntil(lambda: dialog.inspector.table.rowCount() > 0, timeout=JOB_TIMEOUT_MS)
    shown = dialog.inspector.inspection
    assert shown.completion.strip() == table.item(0, 1).text().strip()
    assert shown.kind == "ppo" and shown.tokens[0].value is not None
    dialog.close()
    wait_idle(qtbot, window)

    # The banner a fired guardrail shows (the rules themselves: tests/core/test_guardrails.py).
    page._on_event(GuardFired(2, "entropy_collapse", "Entropy collapse: try a larger KL."))
    assert page.dashboard.guardrail_label.isVisible()
    assert "Entropy collapse" in page.dashboard.guardrail_label.text()
    assert page.dashboard.kl_plot.legend_entries()[0].label == "KL (k1)"  # PPO's estimator
