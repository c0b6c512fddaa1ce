"""Real faults for tests: a folder that cannot be written, files that cannot grow.

Read-only, also as root (for whom chmod stops nothing): as a normal user the folder's tree is chmod'ed a-w for the command. As root the command
runs in a private mount namespace (`unshare -m`) where the folder is bind-mounted
read-only: writes fail with EROFS as on a read-only disk, and no one else sees the mount.
Without either, the test is skipped, saying why.

A full disk: RLIMIT_FSIZE, with SIGXFSZ ignored, makes a write past the limit fail with
EFBIG, as a full disk fails with ENOSPC (POSIX only; skipped elsewhere).
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

_REMOUNT = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'


def _is_root() -> bool:
    return getattr(os, "geteuid", lambda: 1)() == 0


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = ["unshare", "-m", "--propagation", "private", "true"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def _chmod_tree(folder: Path, writable: bool) -> None:
    bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IWUSR if writable else mode & ~bits)


def run_with_read_only(folder: Path, argv: list[str]) -> subprocess.CompletedProcess:
    """Run `argv` (from the repo root) while `folder` cannot be written."""
    if sys.platform == "win32":
        pytest.skip("no read-only folders for tests on Windows (chmod does not stop writes)")
    if not _is_root():
        _chmod_tree(folder, writable=False)
        try:
            return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)
        finally:
            _chmod_tree(folder, writable=True)
    if not _can_unshare():
        pytest.skip("root without mount namespaces: chmod does not stop root, no read-only mount")
    wrapped = ["unshare", "-m", "--propagation", "private", "sh", "-c", _REMOUNT, str(folder)]
    return subprocess.run([*wrapped, *argv], cwd=REPO, capture_output=True, text=True, timeout=300)


def cli_with_read_only(folder: Path, *args: object) -> subprocess.CompletedProcess:
    """`python -m core ARGS` while `folder` cannot be written."""
    return run_with_read_only(folder, [sys.executable, "-m", "core", *map(str, args)])


def _resource():
    return pytest.importorskip("resource", reason="RLIMIT_FSIZE is POSIX only")


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """In this process, no file may grow past `limit` bytes until the block ends."""
    resource = _resource()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def file_size_limit_in_child(limit: int) -> Callable[[], None]:
    """A subprocess preexec_fn: in the child, no file may grow past `limit` bytes."""
    resource = _resource()

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply
