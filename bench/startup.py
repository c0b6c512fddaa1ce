"""Start-up time: from process start to the main window's first paint (offscreen).

    python -m bench.startup [--runs 5] [--first-load]

Each run starts a fresh interpreter that runs the app's own entry point
(`app.main.main(["--no-autoload", "--workspace", ...])`) on the offscreen platform, with
a temporary user data folder. The child prints a line at the main window's first paint
and the parent notes the time since it started the child: interpreter start, imports,
building the window and the first paint, as `make run` does them. The child then exits
at once (the background import warm-up is not waited for). With `--first-load` it
clicks "Load model" (the demo model, linked from the real user data folder) right after
the paint and the parent also notes when the model is loaded: what a user who clicks at
once waits for. The last line is `startup median_s=<s> runs=<n>`.
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

PAINTED = "WINDOW_PAINTED"
LOADED = "MODEL_LOADED"
HEAVY_MODULES = ("torch", "transformers", "peft")


def _child(workspace: str, load: bool) -> None:
    """Run the app until the main window's first paint (and the model load), report, exit."""
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    class FirstPaint(QObject):
        def eventFilter(self, watched, event):  # noqa: N802 (Qt override)
            if event.type() == QEvent.Type.Paint and isinstance(watched, QMainWindow):
                app.removeEventFilter(self)
                heavy = [name for name in HEAVY_MODULES if name in sys.modules]
                cpu = time.process_time()
                print(f"{PAINTED} cpu_s={cpu:.3f} heavy={','.join(heavy) or '-'}", flush=True)
                if not load:
                    os._exit(0)  # the warm-up thread is not this benchmark's business
                QTimer.singleShot(0, lambda: _load_demo(watched))
            return False

    app = QApplication([sys.argv[0]])
    watcher = FirstPaint()
    app.installEventFilter(watcher)
    from app.main import main

    main(["--no-autoload", "--workspace", workspace])


def _load_demo(window) -> None:
    """Click "Load model" for the demo model; report once the session is there."""
    from PySide6.QtCore import QTimer

    window.model_page.model_combo.setEditText("demo")
    window.model_page.load_button.click()
    poll = QTimer(window, interval=10)

    def check() -> None:
        if window.state.session is not None:
            print(f"{LOADED} cpu_s={time.process_time():.3f}", flush=True)
            os._exit(0)

    poll.timeout.connect(check)
    poll.start()


def time_one_start(workspace: Path, home: Path, load: bool) -> dict[str, float | str]:
    """Seconds from starting a child to its first paint (and to its loaded model), the
    child's CPU seconds then, and the model libraries it had imported at the paint."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", RLHF_STUDIO_HOME=str(home))
    command = [sys.executable, "-m", "bench.startup", "--child", str(workspace)]
    command += ["--first-load"] if load else []
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    times: dict[str, float | str] = {}
    try:
        for line in child.stdout:
            mark = line.split(" ", 1)[0]
            if mark in (PAINTED, LOADED):
                times[mark] = time.perf_counter() - started
                times[f"{mark} cpu_s"] = float(line.split("cpu_s=")[1].split()[0])
                if "heavy=" in line:
                    times["heavy"] = line.split("heavy=")[1].strip()
                if mark == (LOADED if load else PAINTED):
                    return times
    finally:
        child.kill()
        child.wait()
    raise RuntimeError(f"the child exited early; it reported {sorted(times)}")


def _home_with_demo_model(home: Path) -> None:
    """A fresh user data folder that sees the real one's demo model (built once)."""
    from core.paths import data_dir

    home.mkdir(parents=True)
    demo = data_dir() / "demo-model"
    if demo.is_dir():
        (home / "demo-model").symlink_to(demo, target_is_directory=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="starts to time (median shown)")
    parser.add_argument("--first-load", action="store_true", help="also time a demo load")
    parser.add_argument("--child", metavar="WORKSPACE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.first_load)
        return 1  # only reached if the window never painted
    painted, loaded = [], []
    with tempfile.TemporaryDirectory(prefix="rlhf-startup-") as folder:
        workspace, home = Path(folder) / "workspace", Path(folder) / "home"
        _home_with_demo_model(home)
        time_one_start(workspace, home, args.first_load)  # creates the workspace: not timed
        for run in range(args.runs):
            times = time_one_start(workspace, home, args.first_load)
            painted.append(times[PAINTED])
            line = f"run {run + 1}: painted {times[PAINTED]:.3f} s"
            line += f" (CPU {times[PAINTED + ' cpu_s']:.3f} s, imported: {times['heavy']})"
            if args.first_load:
                loaded.append(times[LOADED])
                line += f", model loaded {times[LOADED]:.3f} s"
            print(line)
    if loaded:
        print(f"model loaded median_s={statistics.median(loaded):.3f}")
    print(f"startup median_s={statistics.median(painted):.3f} runs={len(painted)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
