"""A workspace that cannot be opened at start-up (a studio.db of garbage bytes) shows a
dialog offering another workspace, instead of a traceback; a remembered one that fails
is not retried at the next launch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QAbstractButton, QApplication, QMessageBox

from app import workspace_recovery
from app.main import build_window, main
from app.workspace_recovery import (
    CHOOSE_BUTTON,
    DEFAULT_BUTTON,
    QUIT_BUTTON,
    WORKSPACE_ERROR_DIALOG,
    NoWorkspaceOpened,
)
from core.paths import default_workspace

SCREENSHOT = os.environ.get("RLHF_STUDIO_DIALOG_SCREENSHOT")
"""Set to a .png path to save a picture of the dialog (docs, reviews)."""


@pytest.fixture
def home(monkeypatch, tmp_path) -> Path:
    """A private user data folder: the default workspace and the settings live there."""
    monkeypatch.setenv("RLHF_STUDIO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def damaged(tmp_path) -> Path:
    """A workspace whose store is not an SQLite file at all."""
    folder = tmp_path / "damaged"
    folder.mkdir()
    (folder / "studio.db").write_bytes(bytes(range(256)) * 64)
    return folder


class DialogAnswerer:
    """Answers the workspace error dialog from a timer (it runs inside the dialog's exec)."""

    def __init__(self, *buttons: str, screenshot: str | None = None) -> None:
        self.buttons = list(buttons)
        self.screenshot = screenshot
        self.seen: list[dict] = []
        self.timer = QTimer(interval=20)
        self.timer.timeout.connect(self._answer)
        self.timer.start()

    def _answer(self) -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox) or box.objectName() != WORKSPACE_ERROR_DIALOG:
            return
        names = [b.objectName() for b in box.findChildren(QAbstractButton) if b.objectName()]
        self.seen.append({"text": box.text(), "info": box.informativeText(), "buttons": names})
        if self.screenshot and len(self.seen) == 1:
            box.grab().save(self.screenshot)
        if not self.buttons:
            box.reject()  # more dialogs than the test expected: fail, don't hang
            return
        box.findChild(QAbstractButton, self.buttons.pop(0)).click()

    def stop(self) -> None:
        self.timer.stop()


def test_damaged_workspace_on_the_command_line_offers_the_default(qtbot, home, damaged):
    answerer = DialogAnswerer(DEFAULT_BUTTON)
    opened = []

    def close_once_open():
        # Polls: the window exists only once the dialog is answered.
        for widget in QApplication.topLevelWidgets():
            if widget.objectName() == "mainWindow" and widget.isVisible():
                opened.append(widget.state.workspace)
                closer.stop()
                widget.close()
                widget.deleteLater()
                QApplication.instance().quit()

    closer = QTimer(interval=50)
    closer.timeout.connect(close_once_open)
    closer.start()
    try:
        assert main(["--workspace", str(damaged), "--no-autoload"]) == 0
    finally:
        answerer.stop()
        closer.stop()
    qtbot.wait(100)
    (dialog,) = answerer.seen
    assert str(damaged) in dialog["text"]
    first_line = dialog["info"].splitlines()[0]
    assert first_line.startswith(f"{damaged / 'studio.db'} is not a readable RLHF Studio store")
    assert dialog["buttons"] == [CHOOSE_BUTTON, DEFAULT_BUTTON, QUIT_BUTTON]
    assert opened == [default_workspace().resolve()]
    assert (damaged / "studio.db").read_bytes() == bytes(range(256)) * 64  # left as it was


def test_remembered_damaged_workspace_is_not_retried_at_next_launch(qtbot, home, damaged):
    settings_path = home / "settings.ini"
    QSettings(str(settings_path), QSettings.Format.IniFormat).setValue(
        "workspace/last", str(damaged)
    )
    answerer = DialogAnswerer(QUIT_BUTTON, screenshot=SCREENSHOT)
    try:
        with pytest.raises(NoWorkspaceOpened, match="is not a readable RLHF Studio store"):
            build_window(None, settings_path=settings_path)
    finally:
        answerer.stop()
    (dialog,) = answerer.seen
    assert "it will not be reopened automatically" in dialog["info"]

    again = DialogAnswerer()  # the next launch shows no dialog at all
    try:
        window = build_window(None, settings_path=settings_path)
    finally:
        again.stop()
    qtbot.addWidget(window)
    assert again.seen == []
    assert window.state.workspace == default_workspace().resolve()


def test_choose_another_workspace_and_ask_again_when_the_folder_dialog_is_cancelled(
    qtbot, home, damaged, tmp_path, monkeypatch
):
    other = tmp_path / "other"
    folders = iter(["", str(other)])  # first cancelled, then a folder
    monkeypatch.setattr(workspace_recovery, "choose_folder", lambda: next(folders))
    answerer = DialogAnswerer(CHOOSE_BUTTON, CHOOSE_BUTTON)
    try:
        window = build_window(damaged, settings_path=home / "settings.ini")
    finally:
        answerer.stop()
    qtbot.addWidget(window)
    assert len(answerer.seen) == 2
    assert window.state.workspace == other.resolve()
    assert (other / "studio.db").is_file()


def test_damaged_default_workspace_offers_no_default(qtbot, home):
    default = default_workspace()
    default.mkdir(parents=True)
    (default / "studio.db").write_bytes(b"not a database" * 100)
    answerer = DialogAnswerer(QUIT_BUTTON)
    try:
        assert main(["--no-autoload"]) == 1  # the user quit: a line on stderr, no traceback
    finally:
        answerer.stop()
    (dialog,) = answerer.seen
    assert DEFAULT_BUTTON not in dialog["buttons"]
