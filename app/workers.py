"""Background jobs whose threads never touch Qt: results travel through a queue that the
GUI thread drains on a timer.

The work itself lives in app/jobs/ and app/jobs/training.py as plain Python (no Qt); this
module runs it in a thread, hands its results, progress and errors to the GUI thread,
routes errors to the one error reporter and registers each job with the AppState (status
bar, close handling).

Why not Qt signals emitted from the worker thread (superqt's workers, a QThreadPool): an
emit from a worker with a Python object argument makes Qt copy the argument, and copying
a Python object needs the GIL, while the GUI thread, holding the GIL inside a Qt call,
may wait for a Qt lock the emitting thread holds. Seen once as a whole-process hang in a
test run (the GUI thread in QObject::~QObject during a paint, the pool threads waiting for
the GIL). A worker thread here only appends to a queue.SimpleQueue; every Qt signal of a
job is emitted on the GUI thread, so no Qt lock is ever taken from a worker.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.app_state import AppState
from core.train.control import RunControl

log = logging.getLogger("rlhf_studio.app")

POLL_INTERVAL_MS = 10
"""How often the GUI thread drains the jobs' queues while any job runs: well under a
frame, and nothing at all while no job runs."""


class ToGui:
    """Marks a callback among a job's arguments: the job's thread calls it, and `target`
    runs with the same arguments on the GUI thread, in order with the job's signals (core's
    `on_epoch` reports, plotted as they come)."""

    def __init__(self, target: Callable[..., object]) -> None:
        self.target = target


class BackgroundJob(QObject):
    """One job in its own thread. Its signals are emitted on the GUI thread, in the order
    the thread produced them: `progress`, `yielded`..., then `returned` or `errored`, then
    `finished` (always last, and always emitted)."""

    progress = Signal(int, int, str)
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)
    finished = Signal()

    def __init__(self, description: str) -> None:
        super().__init__()
        self.description = description
        self._outbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._quit = threading.Event()
        self.done = False
        """Set on the GUI thread once `finished` was emitted."""

    def quit(self) -> None:
        """Ask a generator job to stop before its next item (a function job runs to its end:
        it is given a `should_stop` of its own where it can stop early)."""
        self._quit.set()

    def report_progress(self, done: int, total: int, message: str) -> None:
        """core's Progress callback; called on the job's thread."""
        self._outbox.put(("progress", (int(done), int(total), str(message))))

    def bind(self, value: Any) -> Any:
        """`value`, or for a `ToGui` a function the job's thread may call."""
        if not isinstance(value, ToGui):
            return value
        target = value.target
        return lambda *args: self._outbox.put(("call", (target, args)))

    def start_function(self, func: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        args, kwargs = self._bound(args, kwargs)

        def run() -> None:
            try:
                self._outbox.put(("returned", func(*args, **kwargs)))
            except BaseException as error:  # noqa: BLE001 (every failure reaches the user)
                self._outbox.put(("errored", error))
            self._outbox.put(("finished", None))

        self._start(run)

    def start_generator(self, func: Callable[..., Iterator[Any]], args: tuple, kwargs: dict):
        args, kwargs = self._bound(args, kwargs)

        def run() -> None:
            try:
                items = func(*args, **kwargs)
                for item in items:
                    self._outbox.put(("yielded", item))
                    if self._quit.is_set():
                        close = getattr(items, "close", None)
                        if close is not None:
                            close()
                        break
            except BaseException as error:  # noqa: BLE001 (every failure reaches the user)
                self._outbox.put(("errored", error))
            self._outbox.put(("finished", None))

        self._start(run)

    def _bound(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        return tuple(map(self.bind, args)), {key: self.bind(v) for key, v in kwargs.items()}

    def _start(self, run: Callable[[], None]) -> None:
        _MAILBOX.watch(self)
        # Not a daemon: the interpreter waits for a job at exit, as the window does on close.
        threading.Thread(target=run, name=f"job: {self.description}").start()

    def deliver(self) -> None:
        """Emit what the thread produced since the last call (GUI thread only). Progress
        reports in one batch collapse to the newest: the bar shows the latest anyway."""
        events: list[tuple[str, Any]] = []
        while True:
            try:
                events.append(self._outbox.get_nowait())
            except queue.Empty:
                break
        last_progress = max(
            (i for i, (kind, _) in enumerate(events) if kind == "progress"), default=-1
        )
        for i, (kind, payload) in enumerate(events):
            if kind == "progress":
                if i == last_progress:
                    self.progress.emit(*payload)
            elif kind == "call":
                target, args = payload
                target(*args)
            elif kind == "finished":
                self.done = True
                self.finished.emit()
            else:
                getattr(self, kind).emit(payload)


class _Mailbox(QObject):
    """Drains every running job's queue on the GUI thread while any job runs."""

    def __init__(self) -> None:
        super().__init__()
        self._jobs: list[BackgroundJob] = []
        self._timer: QTimer | None = None

    def watch(self, job: BackgroundJob) -> None:
        if self._timer is None:  # created on first use: the QApplication exists by then
            self._timer = QTimer()
            self._timer.setInterval(POLL_INTERVAL_MS)
            self._timer.timeout.connect(self._drain)
        self._jobs.append(job)
        self._timer.start()

    def _drain(self) -> None:
        for job in list(self._jobs):
            job.deliver()
            if job.done:
                self._jobs.remove(job)
        if not self._jobs and self._timer is not None:
            self._timer.stop()


_MAILBOX = _Mailbox()


def start_job(
    state: AppState,
    func: Callable[..., Any],
    *args: Any,
    description: str,
    context: str,
    on_done: Callable[[Any], object] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
    uses_model: bool = False,
    **kwargs: Any,
) -> BackgroundJob:
    """Run `func(*args, **kwargs)` in a thread; its return value goes to `on_done`.

    With `on_progress`, `func` also receives `progress=` (a core Progress callback).
    Errors go to the error reporter with `context` ("Loading the model"), then to
    `on_error` (for the page to re-enable its buttons).
    """
    job = BackgroundJob(description)
    if on_progress is not None:
        job.progress.connect(on_progress)
        kwargs["progress"] = job.report_progress
    if on_done is not None:
        job.returned.connect(on_done)
    _route_errors(state, job, context, on_error)
    state.track(job, description, uses_model)
    job.start_function(func, args, kwargs)
    return job


def start_generator_job(
    state: AppState,
    func: Callable[..., Iterator[Any]],
    *args: Any,
    description: str,
    context: str,
    control: RunControl,
    on_yielded: Callable[[Any], None],
    on_finished: Callable[[], None],
    on_error: Callable[[BaseException], None] | None = None,
    uses_model: bool = True,
    **kwargs: Any,
) -> BackgroundJob:
    """Run a generator job (training) that yields plain-data snapshots step by step."""
    job = BackgroundJob(description)
    job.yielded.connect(on_yielded)
    job.finished.connect(on_finished)
    _route_errors(state, job, context, on_error)
    state.track(job, description, uses_model, stop=control.stop)
    job.start_generator(func, args, kwargs)
    return job


def _route_errors(state: AppState, job: BackgroundJob, context: str, on_error) -> None:
    def report(error: BaseException) -> None:
        state.errors.report(error, context)
        if on_error is not None:
            on_error(error)

    job.errored.connect(report)
