"""The one place worker and handler errors reach the user: a dialog, the status bar and
the log.

A StudioError's message already says what went wrong and what to do, so it is shown as
it is. Anything else is a bug: the dialog says so and keeps the traceback under
"Show Details...". Dialogs are window-modal but opened with `open()`, never `exec()`,
so the event loop (and tests) keep running while one is up.
"""

from __future__ import annotations

import logging
import traceback

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from core.errors import StudioError

log = logging.getLogger("rlhf_studio.app")

ERROR_DIALOG_NAME = "errorDialog"
"""objectName of every error dialog (tools and tests look it up)."""


class ErrorReporter(QObject):
    """Shows errors to the user; `reported` carries a one-line summary for the status bar."""

    reported = Signal(str)

    def __init__(self, parent_widget: QWidget | None = None) -> None:
        super().__init__(parent_widget)
        self._parent_widget = parent_widget

    def set_parent_widget(self, widget: QWidget) -> None:
        """The window dialogs are centred on (set once the main window exists)."""
        self._parent_widget = widget

    def report(self, error: BaseException, context: str) -> QMessageBox:
        """Show `error`, which happened while doing `context` (e.g. "Loading the model")."""
        if isinstance(error, StudioError):
            log.warning("%s: %s", context, error)
            text = str(error)
            details = None
            icon = QMessageBox.Icon.Warning
        else:
            log.error("%s failed", context, exc_info=(type(error), error, error.__traceback__))
            text = (
                f"{context} failed because of an unexpected error:\n\n"
                f"{type(error).__name__}: {error}\n\n"
                "This is a bug in RLHF Studio. The details below help to report it; "
                "the application keeps working."
            )
            details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            icon = QMessageBox.Icon.Critical
        self.reported.emit(f"{context} failed: {_first_line(str(error) or type(error).__name__)}")
        return self._show(icon, context, text, details)

    def _show(self, icon: QMessageBox.Icon, title: str, text: str, details: str | None):
        box = QMessageBox(icon, f"RLHF Studio — {title}", text, QMessageBox.StandardButton.Ok)
        box.setParent(self._parent_widget, box.windowFlags())
        box.setObjectName(ERROR_DIALOG_NAME)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()
        return box


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else text
    return line if len(line) <= 160 else line[:157] + "..."
