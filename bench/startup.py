"""Start-up time: from process start to the main window's first paint (offscreen).

    python -m bench.startup [--runs 5]

Each run starts a fresh interpreter that runs the app's own entry point
(`app.main.main(["--no-autoload", "--workspace", ...])`) on the offscreen platform, with
a temporary user data folder. The child prints a line at the main window's first paint
and the parent notes the time since it started the child: interpreter start, imports,
building the window and the first paint, as `make run` does them. The child then exits
at once (the background import warm-up is not waited for). The last line is
`startup median_s=<s> runs=<n>`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

SHOWN_MARK = "WINDOW_PAINTED"
HEAVY_MODULES = ("torch", "transformers", "peft")


def _child(workspace: str) -> None:
    """Run the app until the main window's first paint, report it, exit."""
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication, QMainWindow

    class FirstPaint(QObject):
        def eventFilter(self, watched, event):  # noqa: N802 (Qt override)
            if event.type() == QEvent.Type.Paint and isinstance(watched, QMainWindow):
                heavy = [name for name in HEAVY_MODULES if name in sys.modules]
                cpu = time.process_time()
                print(f"{SHOWN_MARK} cpu_s={cpu:.3f} heavy={','.join(heavy) or '-'}", flush=True)
                os._exit(0)  # the warm-up thread is not this benchmark's business
            return False

    app = QApplication([sys.argv[0]])
    watcher = FirstPaint()
    app.installEventFilter(watcher)
    from app.main import main

    main(["--no-autoload", "--workspace", workspace])


def time_one_start(workspace: Path, home: Path) -> tuple[float, str]:
    """Seconds from starting a child to its main window's first paint, and what it said."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", RLHF_STUDIO_HOME=str(home))
    command = [sys.executable, "-m", "bench.startup", "--child", str(workspace)]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        for line in child.stdout:
            if line.startswith(SHOWN_MARK):
                return time.perf_counter() - started, line.strip()
    finally:
        child.kill()
        child.wait()
    raise RuntimeError("the child exited before its window was painted")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="starts to time (median shown)")
    parser.add_argument("--child", metavar="WORKSPACE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child)
        return 1  # only reached if the window never painted
    times = []
    with tempfile.TemporaryDirectory(prefix="rlhf-startup-") as folder:
        workspace, home = Path(folder) / "workspace", Path(folder) / "home"
        time_one_start(workspace, home)  # the first start creates the workspace: not timed
        for run in range(args.runs):
            seconds, said = time_one_start(workspace, home)
            times.append(seconds)
            print(f"run {run + 1}: {seconds:.3f} s to the first paint ({said})")
    print(f"startup median_s={statistics.median(times):.3f} runs={len(times)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
