"""State shared by all pages: the workspace and its store, the loaded model session,
the running background jobs, the settings and the error reporter.

Pages take an AppState in `__init__` and listen to its signals instead of talking to
each other. The store opened here belongs to the GUI thread (sqlite connections are
per thread); workers open their own.
"""

from __future__ import annotations

import getpass
import logging
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QObject, QSettings, Signal, SignalInstance

from app.errors import ErrorReporter
from core.data.prompts_io import import_prompts
from core.store import Store
from resources import resource_path

if TYPE_CHECKING:
    from core.model.session import ModelSession

log = logging.getLogger("rlhf_studio.app")

DEMO_PROMPT_SET = "demo"
"""The built-in prompt set for the demo model."""


def demo_prompts_file() -> Path:
    """The shipped prompts for the demo model (review openings)."""
    return resource_path("prompts", "demo.txt")


class JobWorker(Protocol):
    """What the app's registry needs of a running job (app.workers.BackgroundJob is one;
    the registry sits below the workers module, so it names the shape, not the class)."""

    @property
    def finished(self) -> SignalInstance: ...

    def quit(self) -> None: ...


class _Unloader:
    """One thread, started with the first AppState, that frees replaced models.

    Freeing a real-size model takes a fraction of a second with the GIL taken in pieces,
    so it runs off the GUI thread; and starting a thread there at the moment a run starts
    waits for the new thread to take the GIL (measured 60 ms at load 1), so the thread is
    started once, early, and a replaced model is only put on its queue."""

    def __init__(self) -> None:
        self._models: queue.SimpleQueue[ModelSession] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            # A daemon: nothing is lost if the process ends before a model is freed.
            self._thread = threading.Thread(target=self._run, name="model-unload", daemon=True)
            self._thread.start()

    def unload(self, session: ModelSession) -> None:
        self.start()
        self._models.put(session)

    def _run(self) -> None:
        while True:
            session = self._models.get()
            try:
                session.unload()
            except Exception:  # noqa: BLE001 (a failed free must not end the thread)
                log.exception("Freeing the replaced model failed")
            del session


_UNLOADER = _Unloader()


@dataclass(eq=False)
class Job:
    """A running background job, as the status bar and the close handler see it."""

    description: str
    worker: JobWorker
    uses_model: bool
    stop: Any = None
    """A callable asking the job to stop cleanly; None for short jobs that just finish."""
    extra: dict = field(default_factory=dict)
    paused: bool = False
    """Holding its thread but doing no work (a paused training run): no busy bar."""


class AppState(QObject):
    """Everything the pages share; see the module docstring."""

    workspace_changed = Signal(object)  # Path
    session_changed = Signal(object)  # ModelSession | None
    jobs_changed = Signal()
    prompts_changed = Signal()
    feedback_changed = Signal()  # generations, comparisons, scores
    runs_changed = Signal()

    def __init__(self, workspace: Path, settings: QSettings, parent: QObject | None = None):
        super().__init__(parent)
        self.settings = settings
        self.errors = ErrorReporter()
        self.session: ModelSession | None = None
        self.adapter_fresh = False
        """Whether the session's adapter is untrained (a new run need not reload it)."""
        self.store: Store | None = None
        self.workspace: Path = Path(workspace)
        self._jobs: list[Job] = []
        _UNLOADER.start()
        self.open_workspace(workspace)

    # workspace
    def open_workspace(self, workspace: Path) -> None:
        """Open (creating if needed) the workspace folder and its store."""
        workspace = Path(workspace).expanduser().resolve()
        store = Store.open(workspace)
        try:
            if not store.prompt_sets():
                # A new workspace starts with the built-in prompt set, so the demo loop
                # works right away; it is an ordinary set the user can edit or delete.
                import_prompts(store, demo_prompts_file(), set_name=DEMO_PROMPT_SET)
        except BaseException:
            store.close()  # the workspace stays unopened; the previous one stays open
            raise
        if self.store is not None:
            self.store.close()
        self.store = store
        self.workspace = workspace
        self.settings.setValue("workspace/last", str(workspace))
        log.info("Opened workspace %s", workspace)
        self.workspace_changed.emit(workspace)
        self.prompts_changed.emit()
        self.feedback_changed.emit()
        self.runs_changed.emit()

    def require_store(self) -> Store:
        """The open workspace's store, for what the user does in the window: a workspace is
        open from __init__ until close() (the window closing)."""
        if self.store is None:
            raise RuntimeError("the workspace is closed")
        return self.store

    def close(self) -> None:
        """Release the store and the model (the window is closing)."""
        if self.store is not None:
            self.store.close()
            self.store = None
        self.set_session(None)

    # model
    def set_session(self, session: ModelSession | None) -> None:
        """Make `session` the current model, unloading the previous one."""
        previous = self.session
        self.session = session
        self.adapter_fresh = session is not None and session.spec.adapter_path is None
        if previous is not None and previous is not session:
            if session is None:
                previous.unload()  # "Unload" (or closing): the memory is free on return
            else:
                _UNLOADER.unload(previous)  # the GUI thread meanwhile shows the new model
        self.session_changed.emit(session)

    # background jobs
    def track(self, worker: JobWorker, description: str, uses_model: bool, stop=None) -> Job:
        """Register a started (or about to start) worker until it finishes."""
        job = Job(description, worker, uses_model, stop)
        self._jobs.append(job)
        worker.finished.connect(lambda: self._untrack(job))
        self.jobs_changed.emit()
        return job

    def _untrack(self, job: Job) -> None:
        if job in self._jobs:
            self._jobs.remove(job)
            self.jobs_changed.emit()

    def set_job_state(self, worker: JobWorker, description: str, paused: bool) -> None:
        """Re-describe a running job (a run paused or resumed) for the status bar."""
        for job in self._jobs:
            if job.worker is worker and (job.description, job.paused) != (description, paused):
                job.description, job.paused = description, paused
                self.jobs_changed.emit()

    def jobs(self) -> list[Job]:
        return list(self._jobs)

    def model_busy(self) -> bool:
        """Whether a job using the model is running (loading a new one must wait)."""
        return any(job.uses_model for job in self._jobs)

    def stop_all_jobs(self) -> None:
        """Ask every job to stop (long ones at their next step; short ones just finish)."""
        for job in self._jobs:
            if job.stop is not None:
                job.stop()
            else:
                job.worker.quit()

    # settings helpers
    def setting(self, key: str, default: Any = None, type_: type | None = None) -> Any:
        """A stored setting; with `type_`, converted by QSettings ("true" -> True)."""
        if type_ is None:
            return self.settings.value(key, default)
        try:
            return self.settings.value(key, default, type=type_)
        except (TypeError, ValueError):
            return default

    def set_setting(self, key: str, value: Any) -> None:
        self.settings.setValue(key, value)

    def rater_name(self) -> str:
        """Who votes: the name set in Settings or on Compare & Rate, else the login name
        (one default, so both places show the same name)."""
        return str(self.setting("ui/rater", "") or "").strip() or login_name()


def login_name() -> str:
    """The user's login name ('rater' where the system has none)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "rater"
