"""Exclusive OS file locks: flock on POSIX, msvcrt on Windows.

The operating system drops such a lock when its process ends, however it ends, which is
what the demo-model build (one builder at a time) and run locks (one process per run,
and how a dead run is told from a live one) rely on. A flock belongs to an open file, so
two opens in one process exclude each other too.
"""

from __future__ import annotations

import os
import sys

# sys.platform (not os.name) so that the type checker sees only this platform's branch.
if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt
    import time

    def try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def lock(fd: int) -> None:
        while not try_lock(fd):
            time.sleep(0.5)

    def unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
