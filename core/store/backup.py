"""Rolling backups of a workspace's store: `<workspace>/backups/studio-<time>.db`.

A backup is taken with SQLite's online backup API (a consistent snapshot even while
other connections write), checked with `PRAGMA quick_check`, and only then renamed
into place, so every file named `studio-*.db` in the folder is a complete, good store.
The newest `BACKUPS_KEPT` are kept. The store takes one before migrating a file to a
newer schema; runs take one when they end (Store.backup).
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from core.atomic import discard, remove_stale_temporaries, temporary_sibling
from core.errors import StudioError
from core.store.faults import BACKUP_DIR, damaged_error, raise_explained

BACKUPS_KEPT = 3
"""How many backups a workspace keeps (the oldest beyond this are deleted)."""


def backups(workspace: Path) -> list[Path]:
    """The workspace's complete backups, oldest first."""
    folder = Path(workspace) / BACKUP_DIR
    return sorted(folder.glob("studio-*.db")) if folder.is_dir() else []


def backup_store(conn: sqlite3.Connection, store_path: Path) -> Path:
    """Copy the store open on `conn` to a new backup beside it; return the backup's path.

    Raises a StudioError (disk full, unwritable folder, damaged source) and leaves no
    partial backup behind.
    """
    folder = store_path.parent / BACKUP_DIR
    try:
        folder.mkdir(exist_ok=True)
    except OSError as error:
        raise StudioError(
            f"cannot create the backup folder {folder}: {error}; make the workspace writable"
        ) from error
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    target = folder / f"studio-{stamp}.db"
    remove_stale_temporaries(target.parent, "studio-")
    temporary = temporary_sibling(target)
    try:
        _copy_and_check(conn, temporary, store_path, target)
        os.replace(temporary, target)
    except OSError as error:
        raise StudioError(
            f"cannot write the backup {target}: {error}; free disk space or make {folder} writable"
        ) from error
    finally:
        discard(temporary)
    _rotate(store_path.parent)
    return target


def _copy_and_check(
    conn: sqlite3.Connection, temporary: Path, store_path: Path, target: Path
) -> None:
    copy = sqlite3.connect(temporary, isolation_level=None)
    try:
        try:
            conn.backup(copy)
        except sqlite3.Error as error:
            # Damage is the store's; any other fault (a full disk...) met writing the copy.
            name = getattr(error, "sqlite_errorname", "") or ""
            damaged = name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
            raise_explained(error, store_path if damaged else target)
        verdict = copy.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise damaged_error(store_path, f"quick_check: {verdict}")
    finally:
        copy.close()


def _rotate(workspace: Path) -> None:
    """Delete all but the newest BACKUPS_KEPT backups."""
    for old in backups(workspace)[:-BACKUPS_KEPT]:
        old.unlink(missing_ok=True)
