"""The Train page's run bar at 1280x800: every run control inside the window without
scrolling, in the same place before and during a run; Pause works from it; the status
bar says Paused (no busy bar); the finished run's checkpoint path is shown whole in the
tooltip; quitting while a run trains asks first (and "Keep training" keeps it;
test_app_window.py quits anyway)."""

from __future__ import annotations

from PySide6.QtCore import QRect
from PySide6.QtWidgets import QMessageBox, QPushButton, QSpinBox

from app.quit_guard import QUIT_DIALOG_NAME
from core.ppo import trainer as trainer_module
from tests.app.test_app_support import (  # noqa: F401 (fixtures)
    click,
    load_model,
    steps_take_at_least,
    wait_idle,
    window_fixture,
)

RUN_BUTTONS = (
    "startTrainingButton",
    "pauseTrainingButton",
    "resumeTrainingButton",
    "stopTrainingButton",
    "aiRoundButton",
    "rateSamplesButton",
)


def _places(window) -> dict[str, QRect]:
    """Each run button's rectangle in window coordinates, checked to lie inside the
    window and to be drawn whole (no scroll area or neighbour hides any of it)."""
    places = {}
    for name in RUN_BUTTONS:
        button = window.findChild(QPushButton, name)
        box = QRect(button.mapTo(window, button.rect().topLeft()), button.size())
        assert window.rect().contains(box), (name, box, window.rect())
        assert button.isVisible() and button.visibleRegion().boundingRect() == button.rect(), name
        places[name] = box
    return places


def _tiny_run(window, steps: int) -> None:
    values = {"trainStepsSpin": steps, "batchSizeSpin": 4, "miniBatchSpin": 4,
              "ppoEpochsSpin": 1, "maxNewTokensSpin": 8, "loraRankSpin": 16,
              "loraAlphaSpin": 32}  # fmt: skip
    for name, value in values.items():
        window.train_page.findChild(QSpinBox, name).setValue(value)


def test_run_bar_in_view_at_1280x800_and_pause_from_it(qtbot, window, monkeypatch):
    steps_take_at_least(monkeypatch, trainer_module.PPOTrainer, 1.0)
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.size().width() == 1280)
    load_model(qtbot, window)
    page = window.train_page
    window.show_page(page)
    _tiny_run(window, steps=4)
    qtbot.wait(100)
    before = _places(window)

    click(qtbot, window, "startTrainingButton")
    qtbot.waitUntil(lambda: page.run_bar.step_label.text() == "step 1/4", timeout=120_000)
    assert _places(window) == before  # a run starting moves no button
    assert page.run_bar.state_label.text() == "Running"
    click(qtbot, window, "pauseTrainingButton")
    qtbot.waitUntil(lambda: page.phase == "paused", timeout=120_000)
    assert page.run_bar.state_label.text() == "Paused"
    assert window.job_label.text().startswith("Paused") and not window.job_spinner.isVisible()
    assert _places(window) == before

    # Quitting while the run trains asks; keeping it leaves the window and the run be.
    window.close()
    [box] = [b for b in window.findChildren(QMessageBox, QUIT_DIALOG_NAME) if b.isVisible()]
    assert window.isVisible()
    qtbot.mouseClick(box.findChild(QPushButton, "keepTrainingButton"), _left())
    qtbot.waitUntil(lambda: not box.isVisible())
    assert window.isVisible() and page.phase == "paused"

    click(qtbot, window, "resumeTrainingButton")
    qtbot.waitUntil(lambda: page.phase == "idle", timeout=120_000)
    wait_idle(qtbot, window)
    assert window.job_label.text() == "Idle"
    checkpoint = window.state.store.checkpoints(page.run_id)[-1].path
    label = page.run_bar.checkpoint_label
    assert label.isVisible() and label.toolTip() == f"Checkpoint: {checkpoint}"
    assert label.fontMetrics().horizontalAdvance(label.shown_text()) <= label.width()
    assert page.run_bar.state_label.text() == "Finished"
    assert page.status_label.text() == f"Run {page.run_id} finished."
    assert _places(window) == before


def test_use_as_ppo_reward_with_dpo_chosen_switches_to_ppo(qtbot, window):
    page = window.train_page
    page.form.set_algorithm("dpo")
    window.feedback_page.reward_model_ready.emit("/models/rm-1")
    assert window.stack.currentWidget() is page
    assert page.form.algorithm().kind == "ppo"
    assert [(s.kind, s.arg) for s in page.form.rewards.specs()] == [("rm", "/models/rm-1")]
    assert "switched to PPO" in page.status_label.text()
    assert "switched to PPO" in window.statusBar().currentMessage()


def _left():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton
