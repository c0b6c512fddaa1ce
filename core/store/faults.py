"""SQLite's failures of the disk and of the file, as one-line errors that say what to do.

A full disk, a damaged file, a read-only folder or another program holding the write
lock are not bugs: each becomes a StoreError (a StudioError) naming the store, the cause
and the fix. Everything else SQLite raises (a constraint, a misuse of the API, an SQL
mistake) is left as it is: those are ours to fix and keep their traceback.

`GuardedConnection` applies the translation to every statement and every fetched row,
so reads and writes anywhere in the Store (and in code that runs SQL on `store._conn`)
fail the same readable way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn, TypeVar, overload

from core.errors import StudioError

BACKUP_DIR = "backups"
"""The folder of a workspace holding its rolling store backups (core.store.backup)."""

CursorT = TypeVar("CursorT", bound=sqlite3.Cursor)

READ_ONLY_COMMANDS = "prompts, export, agreement"
"""The CLI commands that only read, named in the read-only message."""


class StoreError(StudioError):
    """The store cannot be used as asked because of its disk or its file."""


class StoreFullError(StoreError):
    """The disk (or a size limit) left no room for a write; nothing saved was lost."""


class StoreDamagedError(StoreError):
    """The store file is damaged or is not a store at all; it is not written to."""


class StoreReadOnlyError(StoreError):
    """The workspace cannot be written: a read-only folder, file or disk."""


class StoreBusyError(StoreError):
    """Another connection holds the write lock past the busy timeout."""


def latest_backup(workspace: Path) -> Path | None:
    """The newest complete backup of the workspace's store, or None."""
    folder = Path(workspace) / BACKUP_DIR
    found = sorted(folder.glob("studio-*.db")) if folder.is_dir() else []
    return found[-1] if found else None


def damaged_error(path: Path, detail: str) -> StoreDamagedError:
    """The store at `path` is damaged: say how to get the data back."""
    detail = " ".join(detail.split())  # quick_check reports over several lines
    backup = latest_backup(path.parent)
    if backup is not None:
        count = len(list(backup.parent.glob("studio-*.db")))
        recover = (
            f"to recover, close RLHF Studio, delete {path.name}-wal and {path.name}-shm if "
            f"present and copy the last good backup {backup} over {path} "
            f"({count} backup{'s' if count != 1 else ''} in {backup.parent})"
        )
    else:
        recover = (
            f"there is no backup in {path.parent / BACKUP_DIR}; move the file away and start "
            "again from your exports (sqlite3's .recover command may salvage some rows)"
        )
    return StoreDamagedError(
        f"{path} is not a readable RLHF Studio store: it is damaged ({detail}); "
        f"nothing more is written to it; {recover}"
    )


def read_only_error(workspace: Path, reason: str) -> StoreReadOnlyError:
    """The workspace cannot be written: say what still works and how to write."""
    return StoreReadOnlyError(
        f"the workspace {workspace} is read-only ({reason}); make it writable or copy it to "
        f"a writable folder and pass that as --workspace; commands that only read "
        f"({READ_ONLY_COMMANDS}) still work on it"
    )


def explain(error: sqlite3.Error, path: Path) -> StoreError | None:
    """The StoreError for a failure of the disk or the file at `path`, else None (a bug)."""
    if isinstance(error, sqlite3.IntegrityError | sqlite3.ProgrammingError):
        return None
    name = getattr(error, "sqlite_errorname", None) or ""
    if name == "SQLITE_FULL":
        return StoreFullError(
            f"the disk holding {path} is full ({error}); free disk space and try again "
            "(nothing already saved was lost)"
        )
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or str(error).startswith(
        "Could not decode to UTF-8"  # raised by the sqlite3 module for garbled text
    ):
        return damaged_error(path, str(error))
    if name.startswith("SQLITE_READONLY"):
        return read_only_error(path.parent, str(error))
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StoreBusyError(
            f"the store {path} is busy ({error}); another program is writing to this "
            "workspace; wait for it to finish and try again"
        )
    if name.startswith("SQLITE_IOERR"):
        writing = name in ("SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC", "SQLITE_IOERR_TRUNCATE")
        return StoreError(
            f"the store {path} could not be {'written' if writing else 'read or written'} "
            f"({error}, {name}); free disk space, check that the disk is still connected, "
            "and try again (nothing already saved was lost)"
        )
    if name.startswith("SQLITE_CANTOPEN"):
        return StoreError(
            f"cannot open the store {path} ({error}); check that the workspace folder exists "
            "and that you may read and write it"
        )
    if name == "SQLITE_NOMEM":
        return StoreError(f"SQLite ran out of memory on {path}; close other programs and retry")
    return None


def raise_explained(error: sqlite3.Error, path: Path) -> NoReturn:
    """Raise the StoreError for `error` (chained), or `error` itself when it is a bug."""
    fault = explain(error, path)
    if fault is None:
        raise error
    raise fault from error


class GuardedCursor(sqlite3.Cursor):
    """A cursor whose statements and fetches raise StoreErrors for disk and file faults."""

    def _path(self) -> Path:
        return getattr(self.connection, "store_path", Path("?"))

    def execute(self, sql: str, parameters: Any = (), /) -> GuardedCursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.Error as error:
            raise_explained(error, self._path())

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> GuardedCursor:
        try:
            return super().executemany(sql, seq_of_parameters)
        except sqlite3.Error as error:
            raise_explained(error, self._path())

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.Error as error:
            raise_explained(error, self._path())

    def fetchmany(self, size: int | None = None) -> list[Any]:
        try:
            return super().fetchmany(self.arraysize if size is None else size)
        except sqlite3.Error as error:
            raise_explained(error, self._path())

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.Error as error:
            raise_explained(error, self._path())

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.Error as error:
            raise_explained(error, self._path())


class GuardedConnection(sqlite3.Connection):
    """A connection (sqlite3.connect(..., factory=GuardedConnection)) whose cursors are
    GuardedCursors; `store_path` names the file in messages."""

    store_path: Path

    @overload
    def cursor(self, factory: None = None) -> sqlite3.Cursor: ...
    @overload
    def cursor(self, factory: Callable[[sqlite3.Connection], CursorT]) -> CursorT: ...
    def cursor(self, factory: Callable[[sqlite3.Connection], sqlite3.Cursor] | None = None) -> Any:
        """A cursor of `factory`, by default a GuardedCursor."""
        return super().cursor(GuardedCursor if factory is None else factory)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> sqlite3.Cursor:
        return self.cursor().executemany(sql, seq_of_parameters)
