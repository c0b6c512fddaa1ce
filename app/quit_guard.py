"""Quitting while a run trains asks first (File > Quit, Ctrl+Q, the window's close
button): the run would stop after its current step, which a stray key should not do."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

QUIT_DIALOG_NAME = "quitConfirmDialog"


def ask_to_quit(parent: QWidget, on_quit: Callable[[], None]) -> QMessageBox:
    """A non-blocking question; `on_quit` runs if the user chooses to stop and quit.
    "Keep training" is the default, so Enter or Esc leaves the run alone."""
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Quit while training?",
        "A run is training. Quit anyway?\n\nThe run stops after its current step and saves "
        "a checkpoint; you can resume it later from the Runs page.",
        QMessageBox.StandardButton.NoButton,
        parent,
    )
    box.setObjectName(QUIT_DIALOG_NAME)
    quit_button = box.addButton("Stop the run and quit", QMessageBox.ButtonRole.AcceptRole)
    quit_button.setObjectName("quitAnywayButton")
    keep = box.addButton("Keep training", QMessageBox.ButtonRole.RejectRole)
    keep.setObjectName("keepTrainingButton")
    box.setDefaultButton(keep)
    box.setEscapeButton(keep)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.buttonClicked.connect(lambda button: on_quit() if button is quit_button else None)
    box.open()
    return box
