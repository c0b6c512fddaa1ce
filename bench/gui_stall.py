"""GUI-thread stalls during training: the longest gap of a 10 ms GUI timer, and who caused it.

    python -m bench.gui_stall [--steps 3] [--runs 2] [--profile] [--model M] [--launch]

Drives the real main window offscreen like a newcomer: load the demo model, generate a
pair on Compare & Rate, vote with the key 1, go to Train, set the steps, click Start
and wait for the run to end with every point plotted. The second run (and later ones)
reloads the model with a fresh adapter first, as Start does after a run. A 10 ms timer
on the GUI thread measures the gaps between its ticks from the click on Start to the
end; while a tick is late, a watchdog thread samples every thread's stack, so each long
gap comes with what the GUI thread (and the others) were doing. `--profile` adds a
cProfile of the GUI thread over the runs (it slows that thread: gaps grow with it;
GUI_STALL_SORT=tottime sorts it by own time), `--events` the GUI thread's slowest events.

`--model random:qwen2.5-0.5b` does the same on a real-size model (random weights, built
locally on first use) and measures the model load through the Model page too; `--launch`
adds a launch, in a Python process of its own, that reloads the model as the last one used
(from the show to the end of the reload: the background imports included). The last line is
`gui_stall max_ms=<ms> max_busy_ms=<ms> runs=<n> load_max_ms=<ms> load_max_busy_ms=<ms>`. The demo model must be built (it
is built on first use: minutes); RLHF_STUDIO_HOME says where it is cached.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LATE_S = 0.025
"""A tick this overdue makes the watchdog sample stacks."""
SAMPLE_EVERY_S = 0.003
JOB_TIMEOUT_S = 600.0

Stack = tuple[str, ...]


@dataclass
class Gap:
    """One late tick: when, how long, and the stacks sampled meanwhile."""

    at_s: float
    seconds: float
    cpu_seconds: float = 0.0
    """The GUI thread's own CPU time in the gap: the work it did, whatever the load."""
    gui: list[Stack] = field(default_factory=list)
    others: list[Stack] = field(default_factory=list)


def _summary(frame, depth: int = 7) -> Stack:
    """The innermost `depth` frames as 'file:line func', innermost last (no source lookup)."""
    frames = []
    while frame is not None and len(frames) < depth:
        code = frame.f_code
        frames.append(f"{_short(code.co_filename)}:{frame.f_lineno} {code.co_name}")
        frame = frame.f_back
    return tuple(reversed(frames))


def _short(path: str) -> str:
    for marker in ("site-packages/", "/app/", "/core/", "/bench/", "/lib/python"):
        if marker in path:
            head = marker.strip("/") + "/" if marker in ("/app/", "/core/") else ""
            return head + path.split(marker, 1)[1]
    return path


IDLE_FRAMES = (("threading.py", "wait"), ("queue.py", "get"), ("selectors.py", "select"))
"""Where a thread that only waits sits (tqdm's monitor, idle pools): never the culprit."""


def _idle(frame) -> bool:
    """Whether a thread's innermost Python frame is a wait (its stacks hide the worker's)."""
    name = frame.f_code.co_filename
    return any(name.endswith(file) and frame.f_code.co_name == func for file, func in IDLE_FRAMES)


class StallMeter:
    """Gaps between ticks of a GUI-thread timer; stacks of all threads during late ticks."""

    def __init__(self, interval_ms: int = 10, sample: bool = True) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[Gap] = []
        self._timer = QTimer(interval=interval_ms)
        self._timer.timeout.connect(self._tick)
        self._gui_ident = threading.get_ident()
        self._sample = sample
        self._running = False
        self._pending = Gap(0.0, 0.0)
        self._lock = threading.Lock()

    def start(self) -> None:
        self._started = self._last = time.perf_counter()
        self._last_cpu = time.thread_time()  # started and ticked on the GUI thread
        self.max_busy = 0.0
        self._running = True
        self._timer.start()
        if self._sample:
            threading.Thread(target=self._watch, name="stall-watchdog", daemon=True).start()

    def stop(self) -> None:
        self._timer.stop()
        self._tick()
        self._running = False

    @property
    def max_gap(self) -> float:
        """The longest wall-clock gap: what a person sees, and what a busy machine lengthens."""
        return max((gap.seconds for gap in self.gaps), default=0.0)

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        with self._lock:
            gap, self._pending = self._pending, Gap(0.0, 0.0)
            gap.at_s, gap.seconds = self._last - self._started, now - self._last
            gap.cpu_seconds = cpu - self._last_cpu
            self._last, self._last_cpu = now, cpu
        # The longest stretch of the GUI thread's own work between two ticks: unlike the
        # wall-clock gap, a machine busy with other processes does not lengthen it.
        self.max_busy = max(self.max_busy, gap.cpu_seconds)
        if gap.seconds > LATE_S:
            self.gaps.append(gap)

    def _watch(self) -> None:
        me = threading.get_ident()
        while self._running:
            time.sleep(SAMPLE_EVERY_S)
            if time.perf_counter() - self._last <= LATE_S:
                continue
            frames = sys._current_frames()
            with self._lock:
                for ident, frame in frames.items():
                    if ident == self._gui_ident:
                        self._pending.gui.append(_summary(frame))
                    elif ident != me and not _idle(frame):
                        self._pending.others.append(_summary(frame, depth=4))


class EventTimes:
    """The GUI thread's slowest top-level events (receiver, event type, seconds): what a
    QApplication.notify override sees. Python slots of queued signals show as MetaCall."""

    def __init__(self) -> None:
        self.slowest: list[tuple[float, str]] = []
        self._depth = 0
        self.recording = False

    def application(self):
        from PySide6.QtWidgets import QApplication

        times = self

        class TimedApplication(QApplication):
            def notify(self, receiver, event):  # noqa: N802 (Qt override)
                if not times.recording or times._depth:
                    return super().notify(receiver, event)
                times._depth += 1
                started = time.perf_counter()
                try:
                    return super().notify(receiver, event)
                finally:
                    times._depth -= 1
                    times.note(time.perf_counter() - started, receiver, event)

        return TimedApplication([sys.argv[0]])

    def note(self, seconds: float, receiver, event) -> None:
        if seconds < LATE_S:
            return
        name = receiver.objectName() if hasattr(receiver, "objectName") else ""
        what = f"{type(receiver).__name__}({name}) {event.type().name}"
        self.slowest.append((seconds, what))

    def describe(self, top: int = 8) -> list[str]:
        worst = sorted(self.slowest, reverse=True)[:top]
        return [f"  {seconds * 1000:6.0f} ms  {what}" for seconds, what in worst]


def wait_until(predicate: Callable[[], bool], timeout_s: float = JOB_TIMEOUT_S) -> None:
    """Run the event loop (idle, not spinning) until `predicate()` holds."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    deadline = time.monotonic() + timeout_s

    def check() -> None:
        if predicate() or time.monotonic() > deadline:
            loop.quit()

    timer = QTimer(interval=20)
    timer.timeout.connect(check)
    timer.start()
    if not predicate():
        loop.exec()
    timer.stop()
    if not predicate():
        raise TimeoutError(f"gave up waiting after {timeout_s:.0f} s")


def click(window, name: str) -> None:
    """Click the button whose objectName is `name` with the mouse."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QPushButton

    button = window.findChild(QPushButton, name)
    if button is None or not button.isEnabled():
        raise RuntimeError(f"{name} is missing or disabled")
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


def load_model(window, model: str = "demo", meter: StallMeter | None = None) -> None:
    """Load `model` (a name or folder) through the Model page's Load button, measured by
    `meter` from the click to the model being ready."""
    idle = lambda: not window.state.jobs()  # noqa: E731
    window.show_page(window.model_page)
    window.model_page.model_combo.setEditText(model)
    if meter is not None:
        meter.start()
    click(window, "loadModelButton")
    wait_until(lambda: window.state.session is not None and idle())
    if meter is not None:
        settle(0.3)
        meter.stop()


def prepare(window, steps: int, model: str = "demo", load_meter: StallMeter | None = None) -> None:
    """Load the model, generate a pair, vote with 1, go to Train and set the steps."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QSpinBox

    idle = lambda: not window.state.jobs()  # noqa: E731
    wait_until(window.all_pages_built)  # built after the first paint
    load_model(window, model, load_meter)
    compare = window.compare_page
    window.show_page(compare)
    click(window, "generatePairButton")
    wait_until(lambda: compare.current_pair() is not None and idle())
    compare.setFocus()
    QTest.keyClick(compare, Qt.Key.Key_1)
    window.show_page(window.train_page)
    window.findChild(QSpinBox, "trainStepsSpin").setValue(steps)
    settle(0.5)


def settle(seconds: float) -> None:
    """Let the event loop run for `seconds` (paints, timers)."""
    end = time.monotonic() + seconds
    wait_until(lambda: time.monotonic() >= end, seconds + 5)


def train_once(window, meter: StallMeter) -> None:
    """Click Start and wait until the run has ended and every step is plotted."""
    page = window.train_page
    meter.start()
    click(window, "startTrainingButton")
    wait_until(lambda: page.phase == "idle" and not window.state.jobs())
    wait_until(page.dashboard.all_drawn)
    settle(0.3)
    meter.stop()
    status = window.state.store.run(page.run_id).status if page.run_id else None
    if status != "finished":
        raise RuntimeError(f"the run ended {status!r}; see the log")


def run_scenario(
    window,
    steps: int = 3,
    runs: int = 2,
    around_run: Callable[[], Any] | None = None,
    model: str = "demo",
    load_meter: StallMeter | None = None,
) -> list[StallMeter]:
    """The whole scenario on a shown window; one meter per training run. `around_run()`
    gives a context manager that each run's training happens in (profiling, say);
    `load_meter` measures the model load through the Model page."""
    if runs == 0:  # the load alone (a real-size model's step takes minutes on a busy CPU)
        wait_until(window.all_pages_built)
        load_model(window, model, load_meter)
        return []
    prepare(window, steps, model, load_meter)
    meters = []
    for _ in range(runs):
        meter = StallMeter()
        with around_run() if around_run is not None else contextlib.nullcontext():
            train_once(window, meter)
        meters.append(meter)
    return meters


def model_folder(model: str) -> str:
    """What to type into the Model page: `random:<preset>` becomes its folder (built into
    the data folder's bench/ on first use: minutes for the real-size presets)."""
    from bench.random_models import is_random_model, random_model
    from core.paths import data_dir

    return str(random_model(model, data_dir() / "bench")) if is_random_model(model) else model


def measure_launch_reload(workspace: Path, settings_path: Path, model: str) -> StallMeter:
    """Launch the window with `model` as the last one used, and measure the GUI thread from
    the show to the end of the automatic reload (the launch path of app.main)."""
    from app.startup import build_window, settings_at

    settings = settings_at(settings_path)
    settings.setValue("model/name_or_path", model)
    settings.setValue("model/autoload", True)
    settings.sync()
    meter = StallMeter()
    window = build_window(workspace, settings_path)
    window.resize(1400, 900)
    meter.start()
    window.show()
    window.restore_last_model()
    wait_until(lambda: window.state.session is not None and not window.state.jobs())
    settle(0.3)
    meter.stop()
    window.close()
    return meter


@dataclass
class LaunchResult:
    """What a launch in a process of its own measured (it prints; the parent parses)."""

    max_ms: float
    max_busy_ms: float
    report: str


LAUNCH_LINE = "launch_reload"


def launch_in_child(workspace: Path, settings_path: Path, model: str) -> LaunchResult:
    """`measure_launch_reload` in a fresh Python process, as a person launches the app: the
    libraries are imported in the background after the first paint, then the model is
    reloaded. (A second window in the bench's own process found everything imported, and
    Qt objects of the closed first window at times came back under a wrong Python type.)"""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "bench.gui_stall", "--launch-child"]
    command += [str(workspace), str(settings_path), model]
    done = subprocess.run(
        command, cwd=root, capture_output=True, text=True, timeout=JOB_TIMEOUT_S, check=False
    )
    lines = done.stdout.splitlines()
    last = lines[-1].split() if lines else []
    if done.returncode or not last or last[0] != LAUNCH_LINE:
        raise RuntimeError(f"the launch failed ({done.returncode}): {done.stderr[-2000:]}")
    figures = dict(item.split("=") for item in last[1:])
    return LaunchResult(
        float(figures["max_ms"]), float(figures["max_busy_ms"]), "\n".join(lines[:-1])
    )


def launch_child(workspace: str, settings_path: str, model: str) -> int:
    """The child's side of `launch_in_child`: measure, print the gaps, then the figures."""
    from PySide6.QtWidgets import QApplication

    qt_app = QApplication([sys.argv[0]])
    meter = measure_launch_reload(Path(workspace), Path(settings_path), model)
    qt_app.processEvents()
    print("\n".join(describe(meter)))
    print(
        f"{LAUNCH_LINE} max_ms={meter.max_gap * 1000:.0f} max_busy_ms={meter.max_busy * 1000:.0f}"
    )
    return 0


def describe(meter: StallMeter, top: int = 5) -> list[str]:
    """The longest gaps, each with the GUI thread's commonest stack and the busiest others."""
    lines = []
    for gap in sorted(meter.gaps, key=lambda g: g.seconds, reverse=True)[:top]:
        lines.append(
            f"  {gap.seconds * 1000:6.0f} ms at {gap.at_s:6.2f} s "
            f"({gap.cpu_seconds * 1000:.0f} ms of it the GUI thread's own work)"
        )
        for stack, count in Counter(gap.gui).most_common(2):
            lines.append(f"    GUI thread ({count}/{len(gap.gui)} samples):")
            lines += [f"      {frame}" for frame in stack]
        for stack, count in Counter(gap.others).most_common(2):
            lines.append(f"    other thread ({count} samples): {' > '.join(stack[-3:])}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gui_stall", description=__doc__)
    parser.add_argument("--steps", type=int, default=3, help="PPO steps per run")
    parser.add_argument(
        "--runs", type=int, default=2, help="training runs (2+: with a reload; 0: the load only)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the GUI thread")
    parser.add_argument("--events", action="store_true", help="time the GUI thread's events")
    parser.add_argument(
        "--model", default="demo", help="demo, a folder or random:<preset> (random:qwen2.5-0.5b)"
    )
    parser.add_argument(
        "--launch", action="store_true", help="also: a launch reloading it as the last model"
    )
    parser.add_argument("--launch-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if args.launch_child:
        return launch_child(*args.launch_child)
    from PySide6.QtWidgets import QApplication

    from app.main import build_window

    events = EventTimes()
    qt_app = events.application() if args.events else QApplication([sys.argv[0]])
    profiler = cProfile.Profile() if args.profile else None

    @contextlib.contextmanager
    def around_run() -> Iterator[None]:
        events.recording = True
        if profiler is not None:
            profiler.enable()
        try:
            yield
        finally:
            if profiler is not None:
                profiler.disable()
            events.recording = False

    model = model_folder(args.model)
    load_meter = StallMeter()
    with tempfile.TemporaryDirectory(prefix="rlhf-gui-stall-") as folder:
        workspace, settings = Path(folder) / "workspace", Path(folder) / "settings.ini"
        window = build_window(workspace, settings)
        window.resize(1400, 900)
        window.show()
        meters = run_scenario(window, args.steps, args.runs, around_run, model, load_meter)
        window.close()
        qt_app.processEvents()
        launch = launch_in_child(workspace, settings, model) if args.launch else None
    print(f"model load (Model page): longest GUI stall {load_meter.max_gap * 1000:.0f} ms")
    print("\n".join(describe(load_meter)))
    if launch is not None:
        print(f"launch with reload (own process): longest GUI stall {launch.max_ms:.0f} ms")
        print(launch.report)
    for run, meter in enumerate(meters, start=1):
        print(f"run {run}: longest GUI stall {meter.max_gap * 1000:.0f} ms")
        print("\n".join(describe(meter)))
    if args.events:
        print("slowest GUI-thread events:")
        print("\n".join(events.describe()))
    if profiler is not None:
        order = os.environ.get("GUI_STALL_SORT", "cumulative")
        pstats.Stats(profiler).sort_stats(order).print_stats(40)
    worst = max((meter.max_gap for meter in meters), default=0.0)
    busiest = max((meter.max_busy for meter in meters), default=0.0)
    load_ms = [load_meter.max_gap * 1000] + ([launch.max_ms] if launch is not None else [])
    load_busy_ms = [load_meter.max_busy * 1000] + ([launch.max_busy_ms] if launch else [])
    print(
        f"gui_stall max_ms={worst * 1000:.0f} max_busy_ms={busiest * 1000:.0f} runs={len(meters)}"
        f" load_max_ms={max(load_ms):.0f} load_max_busy_ms={max(load_busy_ms):.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
