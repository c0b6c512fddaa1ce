"""Building the main window: what `rlhf-studio`, its self-test and the tools share.

`build_window(workspace)` returns the ready main window without starting the event
loop; app.main (the desktop app), app.self_test and app.screenshot_tour call it with a
QApplication of their own. It lives apart from app.main so that neither of those two
imports the other.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from core.paths import data_dir


def settings_at(path: Path | None = None) -> QSettings:
    """The app's settings file (an INI file in the user data folder unless `path`)."""
    path = Path(path) if path is not None else data_dir() / "settings.ini"
    return QSettings(str(path), QSettings.Format.IniFormat)


def build_window(workspace: Path | str | None = None, settings_path: Path | None = None):
    """Build the main window on `workspace` (default: the last one, else the default one).

    Needs a QApplication to exist already. Nothing is loaded in the background and no
    event loop is started; the window is returned unshown. A workspace that cannot be
    opened is reported in a dialog offering another one (app.workspace_recovery);
    declining raises NoWorkspaceOpened.
    """
    from app.gil_sharing import favour_the_gui_thread
    from app.main_window import MainWindow
    from app.wheel_guard import install_wheel_guard
    from app.workspace_recovery import open_app_state

    app = QApplication.instance()
    if not isinstance(app, QApplication):
        raise RuntimeError("build_window needs a QApplication; create one first")
    install_wheel_guard(app)  # once per app; covers every field, now and later
    favour_the_gui_thread()
    settings = settings_at(settings_path)
    state = open_app_state(Path(workspace) if workspace is not None else None, settings)
    return MainWindow(state)
