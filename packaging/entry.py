"""Entry script of the frozen RLHF Studio app (PyInstaller runs this file as __main__).

    rlhf-studio                 the desktop app
    rlhf-studio --self-test     headless check of the bundle (app.self_test), exit 0 when fine
    rlhf-studio --cli ARGS...   the headless CLI (rlhf-studio-cli ARGS...) from the same bundle
    rlhf-studio --check-error-dialog   fail on purpose at start-up: shows the fatal-error
                                       dialog, to check it works in a built bundle

A fatal start-up error (a module missing from the bundle, a broken install, no display)
must not make the app vanish: it is written to a log file in the user data folder,
printed on stderr, and shown in a dialog (Qt, or the platform's own dialog when Qt
itself is what failed). Errors after start-up are the GUI's to route (app/).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path

TITLE = "RLHF Studio"
LOG_NAME = "startup-error.log"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app, the self-test or the CLI; report a fatal start-up error readably."""
    args = list(sys.argv[1:] if argv is None else argv)
    _give_windowed_app_streams()
    if args[:1] == ["--self-test"]:
        # Headless before anything imports Qt; the self-test prints its own verdict.
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from app.self_test import main as self_test_main

        return self_test_main(args[1:])
    if args[:1] == ["--cli"]:
        from core.cli import main as cli_main

        return cli_main(args[1:])
    try:
        _check_display()
        if args[:1] == ["--check-error-dialog"]:
            raise RuntimeError("a deliberate start-up failure (--check-error-dialog)")
        from app.main import main as app_main

        return int(app_main() or 0)
    except Exception as error:  # anything here is fatal: say it, don't vanish
        report_fatal(error)
        return 1


class NoDisplayError(RuntimeError):
    """Linux without a display or the system libraries Qt needs: Qt would abort the process."""


def _qt_start_problem() -> str | None:
    """Why Qt's GUI cannot start here, in one line (app.system_check); None if it can."""
    from app.system_check import problem

    return problem()


def _has_display() -> bool:
    """False where creating a QApplication would abort (see app.system_check)."""
    try:
        return _qt_start_problem() is None
    except Exception:  # the app itself is broken: do not risk Qt's abort either
        return False


def _check_display() -> None:
    """Fail readably where Qt's platform plugin would abort (it calls qFatal, uncatchable)."""
    problem = _qt_start_problem()
    if problem is not None:
        raise NoDisplayError(problem)


def _give_windowed_app_streams() -> None:
    """A windowed Windows app has no stdout/stderr (None): send them to a log, so print() works."""
    if sys.stdout is not None and sys.stderr is not None:
        return
    stream = open(_log_dir() / "rlhf-studio.log", "a", encoding="utf-8")  # noqa: SIM115
    sys.stdout = sys.stdout or stream
    sys.stderr = sys.stderr or stream


def _log_dir() -> Path:
    """The user data folder's logs/ (core.paths), or the temp folder if even that fails."""
    try:
        from core.paths import log_dir

        return log_dir()
    except Exception:  # the error being reported may be core's own
        return Path(tempfile.gettempdir())


def user_message(error: BaseException) -> str:
    """What went wrong and what to do, in a user's words."""
    readable: tuple[type[BaseException], ...] = (NoDisplayError,)
    try:
        from core.errors import StudioError

        readable += (StudioError,)
    except Exception:  # core itself failed to import: nothing is a StudioError then
        pass
    if isinstance(error, readable):
        return str(error)
    if isinstance(error, ImportError):
        return (
            f"A part of RLHF Studio is missing or broken ({error}). Reinstall RLHF Studio; "
            "if that does not help, report the problem with the log file below."
        )
    return (
        f"An unexpected error stopped RLHF Studio: {type(error).__name__}: {error}. "
        "Please report it with the log file below."
    )


def report_fatal(error: BaseException) -> Path:
    """Log the error, print it, and show it in a dialog; return the log file."""
    details = "".join(traceback.format_exception(error))
    message = user_message(error)
    log = _log_dir() / LOG_NAME
    try:
        log.write_text(f"{message}\n\n{details}", encoding="utf-8")
    except OSError:
        log = Path("(the log could not be written)")
    text = f"{message}\n\nDetails were saved to {log}"
    print(f"{TITLE} could not start.\n{text}\n\n{details}", file=sys.stderr)
    if not show_qt_dialog(text, details):
        show_native_dialog(text)
    return log


def show_qt_dialog(text: str, details: str) -> bool:
    """The error in a Qt message box (text selectable, traceback under 'Show Details')."""
    if not _has_display():
        return False  # creating a QApplication would abort the process
    try:
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QApplication, QMessageBox

        _app = QApplication.instance() or QApplication([sys.argv[0]])
        box = QMessageBox(QMessageBox.Icon.Critical, TITLE, f"{TITLE} could not start.")
        box.setInformativeText(text)
        box.setDetailedText(details)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.exec()
        return True
    except Exception:  # Qt may be the very thing that is broken
        return False


def show_native_dialog(text: str) -> bool:
    """The platform's own dialog, for when Qt cannot show one."""
    message = f"{TITLE} could not start.\n\n{text}"
    try:
        if sys.platform == "win32":
            import ctypes

            ctypes.windll.user32.MessageBoxW(None, message, TITLE, 0x10)  # MB_ICONERROR
            return True
        if sys.platform == "darwin":
            script = f"display alert {_applescript_quote(TITLE)} message {_applescript_quote(text)}"
            return subprocess.run(["osascript", "-e", script], check=False).returncode == 0
        for tool, flags in (("zenity", ["--error", "--text"]), ("kdialog", ["--error"])):
            if shutil.which(tool):
                return subprocess.run([tool, *flags, message], check=False).returncode == 0
    except Exception:  # stderr and the log already have it
        pass
    return False


def _applescript_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


if __name__ == "__main__":
    # A frozen app re-executes itself for multiprocessing workers (Windows, macOS spawn).
    import multiprocessing

    multiprocessing.freeze_support()
    sys.exit(main())
