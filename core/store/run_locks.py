"""One process at a time per run: an OS file lock held while a process works on a run.

The lock is an exclusive, non-blocking lock on `<workspace>/locks/run-<id>.lock`. The
operating system drops it when the process ends, however it ends (kill -9 included), so
a run whose status says `running` but whose lock nobody holds was abandoned: that is how
the store tells a live run from the phantom of a killed one, without a heartbeat.

`flock` (POSIX) locks belong to an open file, not to a process, so two Stores in one
process (the GUI's and the training thread's) see each other's locks too.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.file_lock import try_lock, unlock

LOCKS_DIR = "locks"


def run_lock_path(workspace: Path, run_id: int) -> Path:
    """The lock file of run `run_id`."""
    return Path(workspace) / LOCKS_DIR / f"run-{run_id}.lock"


class RunLock:
    """An acquired run lock; `release()` (or the end of the process) frees it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def try_acquire(cls, path: Path) -> RunLock | None:
        """The lock, or None when another open file (any process) holds it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if not try_lock(fd):
            os.close(fd)
            return None
        # Who holds it, for the message another process shows (read, never trusted).
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return cls(path, fd)

    def release(self) -> None:
        """Free the lock (idempotent)."""
        if self._fd is None:
            return
        try:
            unlock(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None


def holder_pid(path: Path) -> int | None:
    """The pid the current holder wrote into the lock file, if readable."""
    try:
        return int(path.read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return None
