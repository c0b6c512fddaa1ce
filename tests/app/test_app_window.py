"""Main window: --workspace, restored window state and choices, themes, and closing
while training (asked first; quitting anyway asks the run to stop and the window closes
once it has)."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton, QSpinBox

from app.main import build_window, main, parse_args
from app.quit_guard import QUIT_DIALOG_NAME
from app.theme import apply_theme
from tests.app.test_app_support import JOB_TIMEOUT_MS, click, load_model, window_fixture  # noqa: F401


def test_main_opens_the_workspace_named_on_the_command_line(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("RLHF_STUDIO_HOME", str(tmp_path / "home"))
    workspace = tmp_path / "my-workspace"
    opened = []

    def close_soon():
        for widget in QApplication.topLevelWidgets():
            if widget.objectName() == "mainWindow":
                opened.append(widget.state.workspace)
                widget.close()
                widget.deleteLater()
        QApplication.instance().quit()

    QTimer.singleShot(300, close_soon)
    assert main(["--workspace", str(workspace), "--no-autoload"]) == 0
    qtbot.wait(100)  # let the closed window be deleted: a lingering one keeps focus
    assert opened == [workspace.resolve()]
    assert (workspace / "studio.db").is_file()
    assert parse_args(["--workspace", "x"]).workspace.name == "x"


def test_window_state_workspace_and_model_choice_are_restored(qtbot, tmp_path):
    settings = tmp_path / "settings.ini"
    first = build_window(tmp_path / "ws", settings_path=settings)
    qtbot.addWidget(first)
    first.show()
    first.resize(1000, 700)  # the offscreen screen is 800x800: stay within it in height
    first.show_page(first.runs_page)
    first.state.set_setting("model/name_or_path", "/some/model/folder")
    first.close()
    again = build_window(None, settings_path=settings)  # no workspace: the last one
    qtbot.addWidget(again)
    again.show()
    assert again.state.workspace == (tmp_path / "ws").resolve()
    assert again.stack.currentWidget() is again.runs_page
    assert again.height() == 700
    assert again.model_page.chosen_model() == "/some/model/folder"


def test_dark_theme_styles_window_and_plots(qtbot, tmp_path):
    settings = tmp_path / "settings.ini"
    settings.write_text("[ui]\ntheme=dark\n", encoding="utf-8")
    win = build_window(tmp_path / "ws", settings_path=settings)
    qtbot.addWidget(win)
    try:
        assert QApplication.instance().palette().window().color().lightness() < 100
        background = win.train_page.dashboard.reward_plot.backgroundBrush().color()
        assert background.lightness() < 100
    finally:
        apply_theme(QApplication.instance(), "light")


def test_closing_while_training_stops_the_run_then_closes(qtbot, window):
    load_model(qtbot, window)
    page = window.train_page
    for name, value in {
        "trainStepsSpin": 500,
        "batchSizeSpin": 4,
        "miniBatchSpin": 4,
        "ppoEpochsSpin": 1,
        "maxNewTokensSpin": 8,
        "loraRankSpin": 16,
        "loraAlphaSpin": 32,
    }.items():
        page.findChild(QSpinBox, name).setValue(value)
    click(qtbot, window, "startTrainingButton")
    qtbot.waitUntil(lambda: page.dashboard.reward_plot.point_count() >= 1, timeout=120_000)
    store = window.state.store
    run_id = page.run_id
    window.close()  # asks first (a run trains): quit anyway
    [box] = [b for b in window.findChildren(QMessageBox, QUIT_DIALOG_NAME) if b.isVisible()]
    assert window.isVisible()
    qtbot.mouseClick(box.findChild(QPushButton, "quitAnywayButton"), Qt.MouseButton.LeftButton)
    # The run is asked to stop; the window stays until it has.
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=JOB_TIMEOUT_MS)
    assert not window.state.jobs()
    assert window.state.store is None  # the window closed its store after the job ended
    del store
    from core.store import Store

    with Store.open(window.state.workspace) as check:
        run = check.run(run_id)
        assert run.status == "stopped"
        assert check.checkpoints(run_id)


CONTRACT_NAMES = [
    "modelCombo",
    "loadModelButton",
    "promptList",
    "generatePairButton",
    "leftCompletion",
    "rightCompletion",
    "rateLeftButton",
    "rateRightButton",
    "rateTieButton",
    "rateBothBadButton",
    "startTrainingButton",
    "pauseTrainingButton",
    "stopTrainingButton",
    "trainStepsSpin",
    "rewardPlot",
    "klPlot",
    "rolloutTable",
    "exportRunButton",
    "importRunButton",
]


def test_contract_widgets_have_their_stable_object_names(qtbot, tmp_path):
    import pyqtgraph as pg
    from PySide6.QtCore import QObject

    win = build_window(tmp_path / "ws", settings_path=tmp_path / "settings.ini")
    qtbot.addWidget(win)
    win.build_all_pages()  # the pages with plots are otherwise built after the first paint
    for name in CONTRACT_NAMES:
        assert len(win.findChildren(QObject, name)) == 1, name
    for name in ("rewardPlot", "klPlot"):
        assert isinstance(win.findChild(QObject, name), pg.PlotWidget)
