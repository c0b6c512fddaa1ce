"""Entry point of the desktop app: `rlhf-studio [--workspace DIR]`.

Nothing of Qt is imported at module level: `main()` first checks that Qt can start
here (app.system_check: a display, the system libraries of Qt's platform plugin) and
otherwise exits 2 with one line saying what to install, where Qt itself would abort.
`build_window` and `settings_at` live in app.startup (shared with the self-test and
the screenshot tour); they are still importable from here.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from app.system_check import problem as qt_start_problem
from core import __version__
from core.errors import StudioError
from core.quiet_libraries import quiet_libraries

APP_NAME = "RLHF Studio"

SYSTEM_PROBLEM_EXIT = 2
"""Exit status when Qt cannot start here (no display, missing system libraries)."""


def __getattr__(name: str):
    # `from app.main import build_window` keeps working without importing Qt up front.
    if name in ("build_window", "settings_at"):
        from app import startup

        return getattr(startup, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    # Third-party output to the log; the app's own INFO lines stay on stderr, time-stamped.
    quiet_libraries(logging.INFO, "%(asctime)s %(name)s %(message)s")
    if argv[:1] == ["--self-test"]:
        # Headless check of this installation (the frozen app runs the same code).
        from app.self_test import main as self_test_main

        return self_test_main(argv[1:])
    args = parse_args(argv)
    problem = qt_start_problem()
    if problem is not None:  # creating the QApplication would abort the process
        print(f"rlhf-studio: {problem}", file=sys.stderr)
        return SYSTEM_PROBLEM_EXIT
    try:
        probe = _startup_probe_mode()
    except StudioError as error:  # a mistyped RLHF_STUDIO_STARTUP_PROBE
        print(f"rlhf-studio: {error}", file=sys.stderr)
        return 2  # bad usage, as argparse exits
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from app.startup import build_window
    from app.workspace_recovery import NoWorkspaceOpened
    from resources import resource_path

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0]])
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setWindowIcon(QIcon(str(resource_path("icons", "app.svg"))))
    if probe is not None:
        from app import startup_probe

        startup_probe.install(app, probe)
    try:
        window = build_window(args.workspace)
    except NoWorkspaceOpened as error:  # the user declined to choose another workspace
        print(f"rlhf-studio: {error}", file=sys.stderr)
        return 1
    window.show()
    if not args.no_autoload:
        window.restore_last_model()
    return app.exec()


def _startup_probe_mode() -> str | None:
    """The start-up probe bench/startup.py asks for (app/startup_probe.py), None normally.
    Read without importing the probe: the variable is unset at a user's start."""
    if not os.environ.get("RLHF_STUDIO_STARTUP_PROBE"):
        return None
    from app.startup_probe import requested_mode

    return requested_mode()


if __name__ == "__main__":
    sys.exit(main())
