"""Opening the first workspace at start-up, and what happens when it cannot be opened.

A workspace whose store is damaged (not a readable SQLite file, a failed integrity
check, a folder that is a file…) raises a StudioError. Instead of a traceback, the user
gets a dialog with that one-line message and a choice: another workspace, the default
one, or quit. The workspace remembered from last time is forgotten as soon as it fails,
so the next launch does not try it blindly again (it opens the default workspace).

`ask_for_workspace` shows the dialog with `exec()`: this runs before the main window
exists, so there is nothing else to keep responsive. Tests answer it from a timer
(the dialog's objectName and its buttons' are below) and replace `choose_folder`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from app.app_state import AppState
from core.errors import StudioError
from core.paths import default_workspace

log = logging.getLogger("rlhf_studio.app")

LAST_WORKSPACE_KEY = "workspace/last"
WORKSPACE_ERROR_DIALOG = "workspaceErrorDialog"
CHOOSE_BUTTON = "chooseWorkspaceButton"
DEFAULT_BUTTON = "defaultWorkspaceButton"
QUIT_BUTTON = "quitButton"


class NoWorkspaceOpened(StudioError):
    """The first workspace could not be opened and the user chose none instead."""


def open_app_state(
    requested: Path | None,
    settings: QSettings,
    ask: Callable[[Path, StudioError, bool], Path | None] | None = None,
) -> AppState:
    """The AppState on `requested` (None: the last workspace, else the default one).

    A workspace that raises a StudioError is reported through `ask` (default:
    `ask_for_workspace`), which returns the next folder to try or None to give up
    (NoWorkspaceOpened is raised then).
    """
    workspace, remembered = _first_workspace(requested, settings)
    while True:
        try:
            return AppState(workspace, settings)
        except StudioError as error:
            log.warning("Cannot open workspace %s: %s", workspace, error)
            if remembered:
                settings.remove(LAST_WORKSPACE_KEY)  # never retried blindly at next launch
                settings.sync()
            chosen = (ask or ask_for_workspace)(workspace, error, remembered)
            if chosen is None:
                raise NoWorkspaceOpened(
                    f"no workspace opened: {error} (start again with --workspace FOLDER)"
                ) from error
            workspace, remembered = Path(chosen), False


def _first_workspace(requested: Path | None, settings: QSettings) -> tuple[Path, bool]:
    """The folder to open first, and whether it is the one remembered from last time."""
    if requested is not None:
        return Path(requested), False
    last = settings.value(LAST_WORKSPACE_KEY)
    if last:
        return Path(str(last)), True
    return default_workspace(), False


def ask_for_workspace(workspace: Path, error: StudioError, remembered: bool) -> Path | None:
    """Show why `workspace` cannot be opened; return the folder to try next, or None."""
    offer_default = _resolved(workspace) != _resolved(default_workspace())
    while True:
        box = workspace_error_box(workspace, error, remembered, offer_default)
        box.exec()
        clicked = box.clickedButton()
        answer = clicked.objectName() if clicked is not None else QUIT_BUTTON
        box.deleteLater()
        if answer == DEFAULT_BUTTON:
            return default_workspace()
        if answer != CHOOSE_BUTTON:
            return None
        folder = choose_folder()
        if folder:
            return Path(folder)
        # The folder dialog was cancelled: ask again rather than quit.


def workspace_error_box(
    workspace: Path,
    error: StudioError,
    remembered: bool,
    offer_default: bool = True,
    parent: QWidget | None = None,
) -> QMessageBox:
    """The dialog `ask_for_workspace` shows (unshown; its buttons carry objectNames)."""
    box = QMessageBox(parent)
    box.setObjectName(WORKSPACE_ERROR_DIALOG)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("RLHF Studio — Opening the workspace")
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(f"RLHF Studio cannot open the workspace\n{workspace}")
    note = (
        "\n\nIt is the workspace opened last time; it will not be reopened automatically."
        if remembered
        else ""
    )
    box.setInformativeText(f"{error}{note}")
    # Wide enough that a folder path wraps rarely (a message box sizes itself to its text).
    box.setStyleSheet(
        "QLabel#qt_msgbox_label, QLabel#qt_msgbox_informativelabel {min-width: 36em;}"
    )
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    choose = box.addButton("Choose Another Workspace…", QMessageBox.ButtonRole.AcceptRole)
    choose.setObjectName(CHOOSE_BUTTON)
    if offer_default:
        default = box.addButton("Use the Default Workspace", QMessageBox.ButtonRole.ActionRole)
        default.setObjectName(DEFAULT_BUTTON)
    quit_button = box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
    quit_button.setObjectName(QUIT_BUTTON)
    box.setDefaultButton(choose)
    box.setEscapeButton(quit_button)
    return box


def choose_folder() -> str:
    """A folder picked by the user ("" when cancelled)."""
    return QFileDialog.getExistingDirectory(
        None, "Choose a workspace folder", str(default_workspace().parent)
    )


def _resolved(path: Path) -> Path:
    return Path(path).expanduser().resolve()
