"""What every part of the Store shares: the connection, transactions, lookups, JSON."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from core.errors import StudioError


def now() -> str:
    """The current time as an ISO-8601 UTC string (sorts like the time it names)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def dumps(value: Any) -> str:
    """A JSON column's text (sorted keys, so equal dicts store equal text)."""
    return json.dumps(value, sort_keys=True)


def loads(text: str | None) -> Any:
    """A JSON column's value; None stays None."""
    return None if text is None else json.loads(text)


class StoreBase:
    """A workspace's SQLite connection and the helpers every write goes through."""

    def __init__(self, workspace: Path, path: Path, conn: sqlite3.Connection) -> None:
        self.workspace = workspace
        self.path = path
        self._conn = conn

    def close(self) -> None:
        """Close the connection; the Store is unusable afterwards."""
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: commits on success, rolls back on any error.

        BEGIN IMMEDIATE takes the write lock first, so a concurrent writer makes this
        wait (busy timeout) rather than fail halfway through.
        """
        conn = self._conn
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
            # SQLite may already have rolled back by itself (e.g. disk full).
            if conn.in_transaction:
                conn.execute("ROLLBACK")
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
