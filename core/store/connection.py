"""Opening a store file: read-write (migrated, backed up first) or read-only, and checked.

Every open runs `PRAGMA quick_check` (about 7 ms per MB of store, see
docs/benchmarks.md; skipped when this process already checked the file unchanged since),
so a damaged file is refused with the way to recover instead of
being written to. A read-write open of a store that needs a newer schema first takes a
backup (core.store.backup), then migrates. A read-only open (`mode=ro`) works on a
read-only folder too: without write access there SQLite cannot create the WAL's -shm
file, so when no -wal file holds unmerged changes the file is opened `immutable=1`
(nobody can write it either: a writer would need those files too).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from core.store import schema
from core.store.backup import backup_store
from core.store.faults import (
    GuardedConnection,
    StoreError,
    damaged_error,
    raise_explained,
    read_only_error,
)


def connect(path: Path) -> GuardedConnection:
    """Open (creating if needed), check, back up if it is old, and migrate the store at `path`.

    The connection runs in autocommit mode: the Store opens each write transaction
    itself with BEGIN IMMEDIATE, so the write lock is taken up front and waits on the
    busy timeout instead of failing when a read would have to be upgraded to a write.
    """
    reason = unwritable_reason(path)
    if reason is not None:
        raise read_only_error(path.parent, reason)
    refuse_emptied(path)
    conn = _open(str(path), path, uri=False)
    try:
        # Both pragmas only work outside a transaction; foreign_keys is per connection.
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = WAL")
        check_integrity(conn, path)
        version = schema.schema_version(conn)
        if 0 < version < len(schema.MIGRATIONS):
            backup_store(conn, path)  # a way back if the new version's migration misbehaves
        schema.migrate(conn, path)
    except BaseException:  # StoreErrors from the guarded connection, or a bug
        conn.close()
        raise
    return conn


def connect_read_only(path: Path) -> GuardedConnection:
    """Open the existing store at `path` for reading only; StoreError if it cannot be read."""
    if not path.is_file():
        raise StoreError(
            f"no store in workspace {path.parent} ({path.name} is missing); check --workspace"
        )
    refuse_emptied(path)
    uri = path.resolve().as_uri() + "?mode=ro"
    conn = _open(uri, path, uri=True)
    try:
        try:
            schema.schema_version(conn)  # the first read opens the file (and the WAL's -shm)
        except StoreError as error:
            if not _cannot_open_shm(error):
                raise
            conn.close()
            if _wal_has_changes(path):
                raise StoreError(
                    f"the store {path} has changes in {path.name}-wal that cannot be read "
                    "in a read-only folder; open the workspace once where it is writable "
                    "(that merges them into the store file)"
                ) from error
            # The -shm file cannot be created here and no -wal holds changes: the file
            # alone is the whole store, and nobody can be writing it.
            conn = _open(uri + "&immutable=1", path, uri=True)
        conn.execute("PRAGMA foreign_keys = ON")
        check_integrity(conn, path)
        _refuse_unmigrated(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def refuse_emptied(path: Path) -> None:
    """A store file of 0 bytes is damage (a truncation, a failed copy), not a new store:
    SQLite would take it for an empty database and the workspace's data, and the backups
    that hold it, would go unmentioned. A new store is never 0 bytes once opened (setting
    WAL mode writes its header), so an empty file is refused, naming the backups."""
    try:
        emptied = path.stat().st_size == 0
    except OSError:
        return  # missing: a new store; unreadable: SQLite's open says why
    if emptied and not _wal_has_changes(path):
        raise damaged_error(path, "the file is empty, 0 bytes")


_checked: set[tuple[str, int, int, int]] = set()
"""Store files this process found sound, by (path, inode, size, mtime): the GUI opens
a store per background job, and a file unchanged since its last check needs no other."""


def check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    """Raise StoreDamagedError unless `PRAGMA quick_check` finds the file sound."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key in _checked:
        return
    verdict = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    if verdict != "ok":
        raise damaged_error(path, f"quick_check: {verdict}")
    _checked.add(key)


def unwritable_reason(path: Path) -> str | None:
    """Why this process cannot write the store at `path` (its folder or file), or None."""
    folder = path.parent
    if folder.is_dir() and not os.access(folder, os.W_OK):
        return f"cannot write the folder {folder}"
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if file.exists() and not os.access(file, os.W_OK):
            return f"cannot write {file}"
    return None


def _open(target: str, path: Path, *, uri: bool) -> GuardedConnection:
    try:
        conn = sqlite3.connect(
            target,
            timeout=schema.BUSY_TIMEOUT_S,
            isolation_level=None,
            uri=uri,
            factory=GuardedConnection,
        )
    except sqlite3.Error as error:
        raise_explained(error, path)
    conn.store_path = path
    return conn


def _cannot_open_shm(error: StoreError) -> bool:
    """Whether `error` is SQLite failing to open or create the WAL's files read-only."""
    name = getattr(error.__cause__, "sqlite_errorname", None) or ""
    return name.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY"))


def _wal_has_changes(path: Path) -> bool:
    wal = Path(f"{path}-wal")
    return wal.is_file() and wal.stat().st_size > 0


def _refuse_unmigrated(conn: sqlite3.Connection, path: Path) -> None:
    version, known = schema.schema_version(conn), len(schema.MIGRATIONS)
    schema._refuse_newer(version, known, path)
    if version < known:
        raise StoreError(
            f"the store {path} has schema version {version} and needs upgrading to {known}, "
            "which cannot be done read-only; open the workspace once where it is writable"
        )
