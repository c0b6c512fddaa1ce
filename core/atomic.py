"""Files and folders that appear whole or not at all, and never replace one by surprise.

Everything is first written to a hidden temporary beside the target
(`.<name>.<pid>-<random>.tmp`, same folder, so the final rename is atomic) and renamed
into place only once complete and flushed to disk. A process killed halfway leaves only
its temporary, which the next write to that folder removes once its process is gone.
An existing target is replaced only when the caller says so (`force`, the CLI's --force).
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import stat
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import psutil

from core.errors import StudioError

_TEMPORARY = re.compile(r"\.(\d+)-[0-9a-f]{8}\.tmp$")


def temporary_sibling(target: Path) -> Path:
    """A fresh hidden name beside `target`, tagged with this process id."""
    return target.with_name(f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


def remove_stale_temporaries(folder: Path, prefix: str) -> None:
    """Remove temporaries of targets named `prefix...` left in `folder` by dead processes."""
    if not folder.is_dir():
        return
    for path in folder.glob(f".{glob.escape(prefix)}*.tmp"):
        match = _TEMPORARY.search(path.name)
        if match is None or psutil.pid_exists(int(match.group(1))):
            continue  # not ours, or its writer is still at work
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            discard(path)


def exists_error(target: Path, flag: str = "--out") -> StudioError:
    """The one-line refusal to replace an existing output."""
    return StudioError(
        f"{target} already exists; choose another {flag}, or pass --force to replace it"
    )


def check_file_target(target: Path, force: bool, flag: str = "--out", append: bool = False) -> None:
    """The safe output path rule, for every file the app writes where a user says:
    refuse a symbolic link (never written through, even with `force`), a folder, an
    existing file unless `force` (or `append`, which adds to it), and anything that is
    not a regular file (a device, a FIFO) even with `force`."""
    if target.is_symlink():
        raise StudioError(
            f"{flag} {target} is a symbolic link; outputs are never written through one: "
            "name the file itself, or another path"
        )
    if target.is_dir():
        raise StudioError(f"{flag} {target} is a folder; give a file path to write to")
    if not target.exists():
        return
    if not stat.S_ISREG(target.stat().st_mode):
        raise StudioError(
            f"{flag} {target} is not a regular file ({file_kind(target)}); --force replaces "
            f"regular files only; choose another {flag}"
        )
    if not force and not append:
        raise exists_error(target, flag)


def file_kind(path: Path) -> str:
    """What `path` is, in words, for messages about files that are not regular."""
    mode = path.lstat().st_mode
    kinds = (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISREG, "a regular file"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def check_folder_target(target: Path, force: bool, replaceable: Callable[[Path], bool]) -> None:
    """Refuse a symbolic link or a file as target, and a non-empty folder unless `force`
    and `replaceable`."""
    if target.is_symlink():
        raise StudioError(
            f"{target} is a symbolic link; outputs are never written through one: name the "
            "folder itself, or another path"
        )
    if target.exists() and not target.is_dir():
        raise StudioError(f"{target} is a file; give a folder path to export to")
    if not target.is_dir() or not any(target.iterdir()):
        return  # nothing there to lose
    if not force:
        raise exists_error(target)
    if not replaceable(target):
        raise StudioError(
            f"{target} holds files that are not an earlier export; --force replaces only "
            "those; choose another --out"
        )


def _make_parent(target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StudioError(
            f"cannot create the folder of {target}: {error}; choose a writable location"
        ) from error


def write_file_atomically(target: Path, write: Callable[[IO[str]], object], force: bool) -> None:
    """Write text `target` with `write(file)` through a temporary, then rename it in place."""
    check_file_target(target, force)
    _make_parent(target)
    remove_stale_temporaries(target.parent, target.name)
    temporary = temporary_sibling(target)
    try:
        with open(temporary, "x", encoding="utf-8", newline="") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        _publish_file(temporary, target, force)
    except OSError as error:
        raise StudioError(f"cannot write {target}: {error}; choose a writable location") from error
    finally:
        discard(temporary)


def discard(path: Path) -> None:
    """Remove the file `path` if it is there; a failure (e.g. a read-only disk, where
    the file was never made) must not hide the error being reported."""
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def _publish_file(temporary: Path, target: Path, force: bool) -> None:
    if force:
        os.replace(temporary, target)
        return
    try:
        os.link(temporary, target)  # fails if target appeared meanwhile: never clobbers
    except FileExistsError:
        raise exists_error(target) from None
    except OSError:  # a file system without hard links
        if target.exists():
            raise exists_error(target) from None
        os.replace(temporary, target)


@contextmanager
def folder_written_atomically(
    target: Path, force: bool, replaceable: Callable[[Path], bool]
) -> Iterator[Path]:
    """Yield an empty temporary folder beside `target`; when the block ends without an
    error, move it to `target` (replacing an earlier one only when allowed)."""
    check_folder_target(target, force, replaceable)
    _make_parent(target)
    remove_stale_temporaries(target.parent, target.name)
    temporary = temporary_sibling(target)
    try:
        temporary.mkdir()
    except OSError as error:
        raise StudioError(f"cannot write {target}: {error}; choose a writable location") from error
    try:
        yield temporary
        _sync_folder(temporary)
        _publish_folder(temporary, target)
    except OSError as error:
        raise StudioError(f"cannot write {target}: {error}; choose a writable location") from error
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _publish_folder(temporary: Path, target: Path) -> None:
    if not target.exists():
        os.rename(temporary, target)
        return
    previous = temporary_sibling(target)
    os.rename(target, previous)
    try:
        os.rename(temporary, target)
    except BaseException:
        os.rename(previous, target)
        raise
    shutil.rmtree(previous, ignore_errors=True)


def _sync_folder(folder: Path) -> None:
    """Flush every file under `folder` to disk, so a power cut cannot publish empty files."""
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as file:
                os.fsync(file.fileno())
