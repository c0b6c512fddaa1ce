"""Read a bundle's files without ever leaving the bundle.

A bundle is a folder that came from elsewhere: an export folder a cluster trained in,
brought back by `import-run` (core.runs.import_run), whose files an `export-run` of the
imported run may ship again (core.runs.export). A bundle is data, never instructions:

- no symbolic link in it is followed (a link to `~/.ssh` would copy that folder in);
- nothing that is not a regular file or a folder is read (a FIFO blocks, a device
  never ends);
- no path it names leads outside it (`..`, an absolute path elsewhere).

Everything is checked before anything is written, so a refused bundle leaves no trace.
The checks are lexical and `lstat`-based, then each file is opened with O_NOFOLLOW and
checked again on the open descriptor, so a link swapped in between is refused too.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from core.errors import StudioError

_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)


class BundleError(StudioError):
    """A bundle holds something that is not plain data inside it."""


def _refusal(root: Path, path: Path, what: str) -> BundleError:
    return BundleError(
        f"{path} in {root} {what}; a bundle's files must be regular files and folders "
        "inside it (links and devices are never followed); replace it with the real file, "
        "or remove it, and import again"
    )


def inside_bundle(root: Path, path: Path) -> Path:
    """`path` if it lies inside `root` with no symbolic link on the way from `root` down
    to it (itself included), else BundleError. `path` need not exist."""
    root, path = Path(root), Path(path)
    try:
        relative = path.relative_to(root)
    except ValueError:
        raise BundleError(
            f"{path} lies outside {root}; a bundle may only name files inside it"
        ) from None
    current = root
    for part in relative.parts:
        if part in ("..", "."):
            raise BundleError(
                f"{path} leaves {root} ('{part}'); a bundle may only name files inside it"
            )
        current = current / part
        if current.is_symlink():
            raise _refusal(root, current, "is a symbolic link")
    return path


def check_bundle_tree(root: Path, folder: Path) -> None:
    """Refuse a folder of the bundle holding a link or anything else not plain data."""
    inside_bundle(root, folder)
    if not folder.exists():
        return
    for entry in [folder, *_entries(folder)]:
        mode = entry.lstat().st_mode
        if stat.S_ISLNK(mode):
            raise _refusal(root, entry, "is a symbolic link")
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            raise _refusal(root, entry, "is not a regular file")


def check_bundle_file(root: Path, path: Path) -> None:
    """Refuse a file of the bundle that is a link (or lies under one) or not a regular file."""
    inside_bundle(root, path)
    if path.exists() and not stat.S_ISREG(path.lstat().st_mode):
        raise _refusal(root, path, "is not a regular file")


def _entries(folder: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):  # never follows links
        found += [Path(dirpath) / name for name in (*dirnames, *filenames)]
    return found


def copy_bundle_tree(root: Path, source: Path, target: Path) -> None:
    """Copy the bundle's folder `source` to `target` (merged into it if it exists), after
    check_bundle_tree; each file is copied as copy_bundle_file does."""
    check_bundle_tree(root, source)
    target.mkdir(parents=True, exist_ok=True)
    for entry in _entries(source):
        copied = target / entry.relative_to(source)
        if stat.S_ISDIR(entry.lstat().st_mode):
            copied.mkdir(exist_ok=True)
        else:
            copy_bundle_file(root, entry, copied)


def copy_bundle_file(root: Path, source: Path, target: Path) -> None:
    """Copy the bundle's regular file `source` to `target`, opened without following a
    link and checked regular on the open descriptor."""
    check_bundle_file(root, source)
    try:
        fd = os.open(source, os.O_RDONLY | _NO_FOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise _refusal(root, source, f"cannot be opened ({error.strerror})") from error
    with os.fdopen(fd, "rb") as reader:
        if not stat.S_ISREG(os.fstat(reader.fileno()).st_mode):
            raise _refusal(root, source, "is not a regular file")
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as writer:
            shutil.copyfileobj(reader, writer)
