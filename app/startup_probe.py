"""Report the main window's first paint (and the warm-up), for the start-up benchmark.

    RLHF_STUDIO_STARTUP_PROBE=paint    rlhf-studio ...   print WINDOW_PAINTED at the first
                                                         paint, then exit at once
    RLHF_STUDIO_STARTUP_PROBE=warm-up  rlhf-studio ...   also wait for the background
                                                         import warm-up, print WARMED_UP, exit

The app's own entry point installs the probe when the variable is set, so the source app
(`python -m app.main`) and the frozen one (`dist/rlhf-studio/rlhf-studio`) are measured
the same way, through the code a user runs: bench/startup.py times a start from launching
the process to the WINDOW_PAINTED line, and reads which model libraries were imported
then (they must not be: app/warm_up.py imports them after the paint). The lines are

    WINDOW_PAINTED cpu_s=<CPU seconds> modules=<how many imported> heavy=<torch,transformers,peft imported, or ->
    WARMED_UP s=<seconds since the paint> heavy=<...> missing=<warm-up modules not imported, or ->

Unset (the normal case), nothing of this module is imported.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from core.errors import StudioError

PROBE_VARIABLE = "RLHF_STUDIO_STARTUP_PROBE"
MODES = ("paint", "warm-up")
PAINTED = "WINDOW_PAINTED"
WARMED_UP = "WARMED_UP"
HEAVY_MODULES = ("torch", "transformers", "peft")


def requested_mode(environ: dict[str, str] | None = None) -> str | None:
    """The probe mode RLHF_STUDIO_STARTUP_PROBE asks for, None when unset.

    Raises StudioError for a value that is not a mode."""
    value = (os.environ if environ is None else environ).get(PROBE_VARIABLE, "").strip()
    if not value:
        return None
    if value not in MODES:
        raise StudioError(
            f"{PROBE_VARIABLE}={value!r} is not a probe mode: set it to "
            f"{' or '.join(MODES)}, or unset it."
        )
    return value


def imported(names: tuple[str, ...]) -> str:
    """The names among `names` that are imported, comma-separated, or '-' for none."""
    return ",".join(name for name in names if name in sys.modules) or "-"


def watch_first_paint(qt_app, then: Callable[[object], None]) -> None:
    """At the first paint event of a QMainWindow: print the WINDOW_PAINTED line, then
    call `then(window)` (on the GUI thread, from the event loop)."""
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QMainWindow

    class FirstPaint(QObject):
        def eventFilter(self, watched, event):  # noqa: N802 (Qt override)
            if event.type() == QEvent.Type.Paint and isinstance(watched, QMainWindow):
                qt_app.removeEventFilter(self)
                cpu = time.process_time()
                modules, heavy = len(sys.modules), imported(HEAVY_MODULES)
                print(f"{PAINTED} cpu_s={cpu:.3f} modules={modules} heavy={heavy}", flush=True)
                QTimer.singleShot(0, lambda: then(watched))
            return False

    qt_app._startup_probe = FirstPaint(qt_app)  # kept alive as long as the application
    qt_app.installEventFilter(qt_app._startup_probe)


def install(qt_app, mode: str) -> None:
    """Install the probe for `mode` ("paint" or "warm-up") on the QApplication."""
    if mode == "paint":
        watch_first_paint(qt_app, lambda _window: _exit_now())
    else:
        watch_first_paint(qt_app, _report_when_warm)


def _report_when_warm(window) -> None:
    """Poll (on the GUI thread, never blocking it) until the warm-up is done; report, exit."""
    from PySide6.QtCore import QTimer

    from app import warm_up

    painted = time.perf_counter()
    poll = QTimer(window, interval=20)

    def check() -> None:
        if warm_up.is_warm():
            missing = [name for name in warm_up.WARM_UP_MODULES if name not in sys.modules]
            print(
                f"{WARMED_UP} s={time.perf_counter() - painted:.3f} "
                f"heavy={imported(HEAVY_MODULES)} missing={','.join(missing) or '-'}",
                flush=True,
            )
            _exit_now()

    poll.timeout.connect(check)
    poll.start()


def _exit_now() -> None:
    """Leave without Qt's and the warm-up thread's teardown: the probe has reported."""
    sys.stdout.flush()
    os._exit(0)
