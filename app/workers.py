"""Qt plumbing for background work: superqt workers whose signals reach the GUI thread.

The work itself lives in app/jobs/ and app/jobs/training.py as plain Python (no Qt); this
module runs it in the thread pool, relays progress callbacks as a Qt signal, routes errors
to the one error reporter and registers each job with the AppState (status bar, close
handling).
Workers emit plain Python data; the GUI never waits on them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThreadPool, Signal

from app.app_state import AppState
from core.train.control import RunControl

if TYPE_CHECKING:  # superqt is imported with the first job: the window is up without it
    from superqt.utils import FunctionWorker, GeneratorWorker

log = logging.getLogger("rlhf_studio.app")

MIN_POOL_THREADS = 8
"""Training holds one pool thread for its whole run, and a paused run still holds it while
the user tries the policy; the default pool (one thread per core) could starve."""


def ensure_thread_pool() -> None:
    """Give the global pool enough threads for a long job plus short ones beside it, and
    let the GUI thread take the GIL back quickly. (torch's thread count, which leaves the
    GUI thread a core, is set by the import warm-up: app/warm_up.py.)"""
    global _threads_configured
    pool = QThreadPool.globalInstance()
    if pool.maxThreadCount() < MIN_POOL_THREADS:
        pool.setMaxThreadCount(MIN_POOL_THREADS)
    if not _threads_configured:
        _threads_configured = True
        # While the training thread runs Python, the GUI thread waits up to one switch
        # interval (default 5 ms) for the GIL at every hand-over, and a plot redraw has
        # hundreds: measured 10-30x slower redraws. A short interval costs the worker
        # little (it only matters while another thread asks for the GIL).
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


_threads_configured = False
GIL_SWITCH_INTERVAL_S = 0.00025


class ProgressRelay(QObject):
    """Turns core's `progress(done, total, message)` callback into a queued Qt signal."""

    progress = Signal(int, int, str)

    def callback(self) -> Callable[[int, int, str], None]:
        def report(done: int, total: int, message: str) -> None:
            self.progress.emit(int(done), int(total), str(message))

        return report


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
) -> FunctionWorker:
    """Run `func(*args, **kwargs)` in the pool; its return value goes to `on_done`.

    With `on_progress`, `func` also receives `progress=` (a core Progress callback).
    Errors go to the error reporter with `context` ("Loading the model"), then to
    `on_error` (for the page to re-enable its buttons).
    """
    relay = None
    if on_progress is not None:
        relay = ProgressRelay()
        relay.progress.connect(on_progress)
        kwargs["progress"] = relay.callback()
    from superqt.utils import FunctionWorker

    # The worker keeps the relay alive: it holds kwargs["progress"], the relay's own callback.
    worker = FunctionWorker(func, *args, **kwargs)
    if on_done is not None:
        worker.returned.connect(on_done)
    _route_errors(state, worker, context, on_error)
    state.track(worker, description, uses_model)
    worker.start()
    return worker


def _route_errors(state: AppState, worker, context: str, on_error) -> None:
    def report(error: BaseException) -> None:
        state.errors.report(error, context)
        if on_error is not None:
            on_error(error)

    worker.errored.connect(report)
    worker.warned.connect(_log_warning)


def _log_warning(args: tuple) -> None:
    message, category = args[0], args[1]
    log.warning("%s: %s", getattr(category, "__name__", category), message)


class WorkerRuntimeError(Exception):
    """Carries a RuntimeError out of a generator job.

    superqt's GeneratorWorker treats a RuntimeError from the generator as "the worker was
    deleted" and returns without emitting `errored` or `finished`; torch raises
    RuntimeError for ordinary failures (out of memory...), so we re-wrap it.
    """


def _guarded(
    func: Callable[..., Iterator[Any]], *args: Any, **kwargs: Any
) -> Generator[Any, Any, Any]:
    try:
        return (yield from func(*args, **kwargs))
    except RuntimeError as error:
        raise WorkerRuntimeError(str(error)) from error


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
) -> GeneratorWorker:
    """Run a generator job (training) that yields plain-data snapshots step by step."""
    from superqt.utils import GeneratorWorker

    worker = GeneratorWorker(_guarded, func, *args, **kwargs)
    worker.yielded.connect(on_yielded)
    # superqt types `finished` as passing None; it passes nothing (its Qt signal's own type).
    worker.signals.finished.connect(on_finished)
    _route_errors(state, worker, context, on_error)
    state.track(worker, description, uses_model, stop=control.stop)
    worker.start()
    return worker
