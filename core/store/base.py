"""What every part of the Store shares: the connection, transactions, lookups, JSON."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from core.errors import StudioError
from core.store.backup import backup_store
from core.store.faults import StoreError, read_only_error


def now() -> str:
    """The current time as an ISO-8601 UTC string (sorts like the time it names)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def dumps(value: Any) -> str:
    """A JSON column's text (sorted keys, so equal dicts store equal text)."""
    return json.dumps(value, sort_keys=True)


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The id of the row the INSERT on `cursor` added (sqlite3 types `lastrowid` as
    Optional: it is None only on a cursor that has inserted nothing)."""
    row_id = cursor.lastrowid
    if row_id is None:
        raise StudioError("the store inserted no row; this is a bug, please report it")
    return row_id


def loads(text: str | None) -> Any:
    """A JSON column's value; None stays None."""
    try:
        return None if text is None else json.loads(text)
    except ValueError as error:  # only a damaged file holds JSON the store did not write
        raise StoreError(
            f"a value in the store is not readable JSON ({error}); the store file is "
            "damaged: restore the last good backup from the workspace's backups folder"
        ) from error


class StoreBase:
    """A workspace's SQLite connection and the helpers every write goes through."""

    def __init__(
        self, workspace: Path, path: Path, conn: sqlite3.Connection, read_only: bool = False
    ) -> None:
        self.workspace = workspace
        self.path = path
        self.read_only = read_only
        """True when opened with read_only=True: every write raises StoreReadOnlyError."""
        self._conn = conn

    def close(self) -> None:
        """Close the connection; the Store is unusable afterwards."""
        # A failed final checkpoint loses nothing: the committed rows are in the -wal file.
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def backup(self) -> Path:
        """Snapshot the store to `<workspace>/backups/studio-<time>.db`, keeping the newest
        few (core.store.backup); return the new backup's path. StudioError if it cannot."""
        return backup_store(self._conn, self.path)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: commits on success, rolls back on any error.

        BEGIN IMMEDIATE takes the write lock first, so a concurrent writer makes this
        wait (busy timeout) rather than fail halfway through. A full disk, a damaged
        file or a read-only workspace raise a StoreError (core.store.faults) from the
        statement that met it; what was committed before stays as it was.
        """
        conn = self._conn
        if self.read_only:
            raise read_only_error(self.workspace, "opened for reading only")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise StudioError(
                f"the store {self.path} is busy ({error}); another program is writing to "
                "this workspace; wait for it to finish and try again"
            ) from error
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as error:
            _roll_back(conn)
            if isinstance(error, sqlite3.IntegrityError):
                raise StudioError(
                    f"the store {self.path} refused a write ({error}); "
                    "the rows it refers to may have been deleted, reload and try again"
                ) from error
            raise

    def _missing(self, what: str, row_id: int) -> StudioError:
        return StudioError(
            f"no {what} with id {row_id} in workspace {self.workspace}; "
            "check the id (it may have been deleted)"
        )

    def _require(self, conn: sqlite3.Connection, table: str, row_id: int, what: str) -> None:
        """Raise a StudioError naming `what` unless `table` has a row `row_id`."""
        # table is always one of our literal table names, never user input.
        if conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (row_id,)).fetchone() is None:
            raise self._missing(what, row_id)

    def _require_generation_of(
        self, conn: sqlite3.Connection, generation_id: int, prompt_id: int
    ) -> None:
        row = conn.execute(
            "SELECT prompt_id FROM generations WHERE id = ?", (generation_id,)
        ).fetchone()
        if row is None:
            raise self._missing("generation", generation_id)
        if row[0] != prompt_id:
            raise StudioError(
                f"generation {generation_id} answers prompt {row[0]}, not prompt {prompt_id}; "
                "compare two completions of the same prompt"
            )


def _roll_back(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already (it may, e.g. on a full
    disk); a failing rollback must not hide the error that caused it."""
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except (sqlite3.Error, StoreError):
        pass  # SQLite rolls back an unfinished transaction when the file is next opened
