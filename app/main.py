"""Entry point of the desktop app: `rlhf-studio [--workspace DIR]`.

`build_window(workspace)` returns the ready main window without starting the event
loop; tests and tools call it with a QApplication of their own.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from core import __version__
from core.paths import data_dir, default_workspace
from resources import resource_path

APP_NAME = "RLHF Studio"


def settings_at(path: Path | None = None) -> QSettings:
    """The app's settings file (an INI file in the user data folder unless `path`)."""
    path = Path(path) if path is not None else data_dir() / "settings.ini"
    return QSettings(str(path), QSettings.Format.IniFormat)


def build_window(workspace: Path | str | None = None, settings_path: Path | None = None):
    """Build the main window on `workspace` (default: the last one, else the default one).

    Needs a QApplication to exist already. Nothing is loaded in the background and no
    event loop is started; the window is returned unshown.
    """
    from app.app_state import AppState
    from app.main_window import MainWindow
    from app.workers import ensure_thread_pool

    if QApplication.instance() is None:
        raise RuntimeError("build_window needs a QApplication; create one first")
    settings = settings_at(settings_path)
    if workspace is None:
        last = settings.value("workspace/last")
        workspace = Path(last) if last else default_workspace()
    ensure_thread_pool()
    state = AppState(Path(workspace), settings)
    return MainWindow(state)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rlhf-studio",
        description="RLHF Studio: compare, rate, AI-score and train language models with "
        "LoRA PPO, with live plots.",
    )
    parser.add_argument("--workspace", type=Path, default=None, help="workspace folder to open")
    parser.add_argument(
        "--no-autoload",
        action="store_true",
        help="do not reload the last model on launch",
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this installation headless (demo model, a pair, one PPO step) and exit",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser.parse_args(list(argv) if argv is not None else None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the desktop app; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--self-test"]:
        # Headless check of this installation (the frozen app runs the same code).
        from app.self_test import main as self_test_main

        return self_test_main(argv[1:])
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setWindowIcon(QIcon(str(resource_path("icons", "app.svg"))))
    window = build_window(args.workspace)
    window.show()
    if not args.no_autoload:
        window.restore_last_model()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
