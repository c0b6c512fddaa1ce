"""A reward written by the user as a Python function in a file, run in its own process.

The file must define `def reward(prompts, responses) -> list[float]`: both arguments are
lists of str of the same length, and it returns one number per response. The file runs
in a worker process (core.rewards.python_worker), imported once when the reward is
built, so the user's code cannot end or hang the command that scores with it:

- each call (and the import) has a time limit, `RLHF_STUDIO_PY_REWARD_TIMEOUT` seconds
  (default 30), or `time_limit_s`; past it the worker is killed and a RewardError names
  the file and the limit;
- `sys.exit()` in the function is an error naming the file and line, and the worker
  carries on; a worker that dies anyway (os._exit, a crash in native code) is an error
  too, and the next call starts a fresh one.

Every other failure (a syntax error, an exception, a missing function, a wrong result)
is a RewardError naming the file and the line, as before.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import signal
import threading
import weakref
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path

from core.errors import RewardError
from core.rewards.base import check_batch
from core.rewards.python_worker import PIPE_LOST_EXIT, SIGNATURE, serve

TIME_LIMIT_ENV = "RLHF_STUDIO_PY_REWARD_TIMEOUT"
DEFAULT_TIME_LIMIT_S = 30.0
START_LIMIT_S = 120.0
"""How long a new worker may take to start Python and its imports (the user's file not
included: that has the time limit), generous for a loaded machine."""


def time_limit_from_env() -> float:
    """The per-call limit in seconds from RLHF_STUDIO_PY_REWARD_TIMEOUT, else the default."""
    text = os.environ.get(TIME_LIMIT_ENV, "").strip()
    if not text:
        return DEFAULT_TIME_LIMIT_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise RewardError(
            f"{TIME_LIMIT_ENV}={text!r} is not a positive number of seconds; set it to e.g. 30"
        )
    return value


log = logging.getLogger("rlhf_studio.rewards")

_PIPE_LOST = "closed its pipe"


class _WorkerGone(Exception):
    """The worker process ended (or its pipe broke); the message says how."""


class _TimedOut(Exception):
    """The worker did not answer within the limit."""


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, path: Path) -> None:
        context = multiprocessing.get_context("spawn")  # fork is unsafe beside torch threads
        self.conn, child_end = context.Pipe()
        # daemon: never outlives the command, even if nothing closes it.
        self.process = context.Process(
            target=serve, args=(str(path), child_end), name=f"py-reward {path.name}", daemon=True
        )
        self.process.start()
        child_end.close()  # the worker's end lives in the worker: its exit means EOF here
        self._stop = weakref.finalize(self, _stop_worker, self.process, self.conn)

    def send(self, message: tuple) -> None:
        try:
            self.conn.send(message)
        except OSError as error:  # BrokenPipeError: the worker is gone
            raise _WorkerGone(self._how_it_ended()) from error

    def receive(self, limit_s: float) -> tuple:
        if not self.conn.poll(limit_s):
            raise _TimedOut
        try:
            return self.conn.recv()
        except (EOFError, OSError) as error:
            raise _WorkerGone(self._how_it_ended()) from error

    def stop(self) -> None:
        self._stop()

    def _how_it_ended(self) -> str:
        self.process.join(timeout=5)
        code = self.process.exitcode
        if code is None:
            return "stopped answering"
        if code == PIPE_LOST_EXIT:
            return _PIPE_LOST
        if code < 0:
            try:
                return f"was killed by signal {signal.Signals(-code).name}"
            except ValueError:
                return f"was killed by signal {-code}"
        return f"ended with exit status {code}"


def _stop_worker(process: multiprocessing.process.BaseProcess, conn: Connection) -> None:
    """Ask the worker to stop, and kill it if it does not at once (it may be stuck); then
    stop what the function left running in the worker's process group."""
    pid, own_group = process.pid, False  # pid None: never started
    if pid is not None:
        with contextlib.suppress(OSError):  # gone already
            own_group = os.getpgid(pid) == pid
    with contextlib.suppress(OSError, ValueError):  # already gone, or the pipe closed
        conn.send(("stop",))
    process.join(timeout=1)
    if process.is_alive():
        process.kill()
        process.join(timeout=5)
    if pid is not None and own_group:  # the worker made the group; its children are in it
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    conn.close()


class PythonFunctionReward:
    """Scores with `reward(prompts, responses)` from a user's Python file."""

    def __init__(self, path: str | Path, time_limit_s: float | None = None) -> None:
        self.path = Path(path).expanduser().resolve()
        if not self.path.is_file():
            what = "a folder, not a file" if self.path.is_dir() else "no such file"
            raise RewardError(
                f"py={path}: {what}; give the path to a .py file that defines {SIGNATURE}."
            )
        self.name = f"py_{self.path.stem}"
        self.time_limit_s = time_limit_from_env() if time_limit_s is None else time_limit_s
        self._lock = threading.Lock()  # one request at a time on the pipe
        self._worker: _Worker | None = None
        with self._lock:
            self._start()  # imports the file now, so its errors show when the reward is built

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        """The function's scores, checked: one finite number per response."""
        check_batch(prompts, responses)
        with self._lock:
            if self._worker is None:
                self._start()
            reply = self._ask(("score", list(prompts), list(responses)), "reward() did not return")
        for warning in reply[2:]:  # said once per worker, e.g. processes left running
            log.warning("warning: %s", warning)
        return reply[1]

    def close(self) -> None:
        """Stop the worker process (a later score() starts a new one)."""
        with self._lock:
            if self._worker is not None:
                self._worker.stop()
                self._worker = None

    def _start(self) -> None:
        self._worker = _Worker(self.path)
        self._ask(None, "the Python worker did not start", limit_s=START_LIMIT_S)
        self._ask(None, "importing the reward file did not finish")

    def _ask(self, message: tuple | None, late: str, limit_s: float | None = None) -> tuple:
        """Send `message` (if any) and return the worker's good reply; on an error, a time
        out or a dead worker raise RewardError (and drop the worker unless it answered)."""
        worker = self._worker
        if worker is None:
            raise RewardError(f"{self.path}: the Python worker is not running; score again")
        limit = self.time_limit_s if limit_s is None else limit_s
        try:
            if message is not None:
                worker.send(message)
            reply = worker.receive(limit)
        except _TimedOut:
            self._drop_worker()
            raise RewardError(
                f"{self.path}: {late} within the {limit:g} s limit, so it was "
                f"stopped; make it faster or raise the limit ({TIME_LIMIT_ENV}=SECONDS)"
            ) from None
        except _WorkerGone as gone:
            self._drop_worker()
            if gone.args and gone.args[0] == _PIPE_LOST:
                raise RewardError(
                    f"{self.path}: reward() closed a file descriptor it did not open (the "
                    "pipe that carries its scores back), so its answer was lost; close only "
                    "the files the function opens itself"
                ) from None
            raise RewardError(
                f"{self.path}: the process running the reward file {gone}; reward() must "
                "return its scores, not end the process; fix the function"
            ) from None
        if reply[0] == "error":
            if message is None:  # failed while importing: the worker has exited
                self._drop_worker()
            raise RewardError(reply[1])
        return reply

    def _drop_worker(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
