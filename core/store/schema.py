"""The store's SQLite schema and its migrations.

The schema version lives in `PRAGMA user_version`. `MIGRATIONS[i]` takes a store from
version i to version i + 1; opening a store applies the missing ones in order, all in
one transaction, so a store is never left half-migrated. A store whose version is
newer than `len(MIGRATIONS)` was written by a newer app and is refused rather than
guessed at.

To change the schema, append a migration; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

from core.errors import StudioError
from core.store.faults import StoreError

Migration = Callable[[sqlite3.Connection], None]

BUSY_TIMEOUT_S = 30.0
"""How long a write waits for another connection's write to finish before giving up."""

_INITIAL_SCHEMA = (
    """
    CREATE TABLE prompts (
        id INTEGER PRIMARY KEY,
        text TEXT NOT NULL CHECK (length(text) > 0),
        set_name TEXT NOT NULL,
        reference TEXT,
        created TEXT NOT NULL
    )
    """,
    "CREATE INDEX prompts_by_set ON prompts (set_name, id)",
    """
    CREATE TABLE generations (
        id INTEGER PRIMARY KEY,
        prompt_id INTEGER NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
        text TEXT NOT NULL,
        model TEXT NOT NULL,
        adapter TEXT,
        params TEXT NOT NULL DEFAULT '{}',
        seed INTEGER,
        created TEXT NOT NULL
    )
    """,
    "CREATE INDEX generations_by_prompt ON generations (prompt_id)",
    """
    CREATE TABLE comparisons (
        id INTEGER PRIMARY KEY,
        prompt_id INTEGER NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
        left_id INTEGER NOT NULL REFERENCES generations (id) ON DELETE CASCADE,
        right_id INTEGER NOT NULL REFERENCES generations (id) ON DELETE CASCADE,
        verdict TEXT NOT NULL CHECK (verdict IN ('left', 'right', 'tie', 'both_bad')),
        rater TEXT NOT NULL,
        note TEXT,
        soft_label REAL,
        detail TEXT,
        swapped INTEGER,
        created TEXT NOT NULL,
        CHECK (left_id != right_id)
    )
    """,
    "CREATE INDEX comparisons_by_left ON comparisons (left_id)",
    "CREATE INDEX comparisons_by_right ON comparisons (right_id)",
    "CREATE INDEX comparisons_by_prompt ON comparisons (prompt_id)",
    """
    CREATE TABLE ratings (
        id INTEGER PRIMARY KEY,
        generation_id INTEGER NOT NULL REFERENCES generations (id) ON DELETE CASCADE,
        value REAL NOT NULL,
        rater TEXT NOT NULL,
        note TEXT,
        created TEXT NOT NULL
    )
    """,
    "CREATE INDEX ratings_by_generation ON ratings (generation_id)",
    """
    CREATE TABLE scores (
        id INTEGER PRIMARY KEY,
        generation_id INTEGER NOT NULL REFERENCES generations (id) ON DELETE CASCADE,
        source TEXT NOT NULL,
        value REAL NOT NULL,
        detail TEXT,
        created TEXT NOT NULL
    )
    """,
    "CREATE INDEX scores_by_generation ON scores (generation_id)",
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        config TEXT NOT NULL,
        status TEXT NOT NULL,
        error TEXT,
        created TEXT NOT NULL,
        updated TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE metrics (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        data TEXT NOT NULL,
        created TEXT NOT NULL,
        PRIMARY KEY (run_id, step)
    )
    """,
    """
    CREATE TABLE samples (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        prompt TEXT NOT NULL,
        response TEXT NOT NULL,
        reward REAL,
        reference TEXT,
        created TEXT NOT NULL
    )
    """,
    "CREATE INDEX samples_by_step ON samples (run_id, step)",
    """
    CREATE TABLE checkpoints (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        path TEXT NOT NULL,
        created TEXT NOT NULL,
        UNIQUE (run_id, step)
    )
    """,
)


def _migration_1_initial_schema(conn: sqlite3.Connection) -> None:
    """Version 1: every table of the first release."""
    # One statement at a time: executescript() would COMMIT the open migration transaction.
    for statement in _INITIAL_SCHEMA:
        conn.execute(statement)


def _migration_2_sample_splits(conn: sqlite3.Connection) -> None:
    """Version 2: samples.split tells training rollouts ('train') from the policy's answers
    to held-out prompts ('eval'); every sample of version 1 was a training rollout."""
    conn.execute("ALTER TABLE samples ADD COLUMN split TEXT NOT NULL DEFAULT 'train'")


def _migration_3_workspace_identity(conn: sqlite3.Connection) -> None:
    """Version 3: a random id that names this workspace. Checkpoints record it beside their
    run id, so a checkpoint resumed in another workspace is never taken for one of that
    workspace's own runs (run ids repeat across workspaces)."""
    conn.execute("CREATE TABLE workspace (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO workspace (key, value) VALUES ('id', ?)", (uuid.uuid4().hex,))


def _migration_4_resolutions(conn: sqlite3.Connection) -> None:
    """Version 4: a person's final verdict on a pair people disagree on (core.data.conflicts).
    It settles the pair without touching the verdicts: `comparison_ids` (JSON) names the
    verdicts the resolver saw, `resolver` who settled it."""
    conn.execute(
        """
        CREATE TABLE resolutions (
            id INTEGER PRIMARY KEY,
            prompt_id INTEGER NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
            left_id INTEGER NOT NULL REFERENCES generations (id) ON DELETE CASCADE,
            right_id INTEGER NOT NULL REFERENCES generations (id) ON DELETE CASCADE,
            verdict TEXT NOT NULL CHECK (verdict IN ('left', 'right', 'tie')),
            resolver TEXT NOT NULL,
            note TEXT,
            comparison_ids TEXT NOT NULL,
            created TEXT NOT NULL,
            CHECK (left_id != right_id)
        )
        """
    )
    conn.execute("CREATE INDEX resolutions_by_prompt ON resolutions (prompt_id)")


MIGRATIONS: list[Migration] = [
    _migration_1_initial_schema,
    _migration_2_sample_splits,
    _migration_3_workspace_identity,
    _migration_4_resolutions,
]
"""MIGRATIONS[i] upgrades a store from schema version i to i + 1."""


def schema_version(conn: sqlite3.Connection) -> int:
    """The store's schema version (0 for a brand-new file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, path: Path) -> int:
    """Apply the migrations `conn` lacks, in order, in one transaction; return the version."""
    target = len(MIGRATIONS)
    version = schema_version(conn)
    _refuse_newer(version, target, path)
    if version == target:
        return version
    check_tables_match_version(conn, path)
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Read again under the write lock: another process may have migrated meanwhile.
        version = schema_version(conn)
        _refuse_newer(version, target, path)
        for migration in MIGRATIONS[version:]:
            migration(conn)
        # PRAGMA does not take bound parameters; target is an int we computed.
        conn.execute(f"PRAGMA user_version = {int(target)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return target


def _refuse_newer(version: int, known: int, path: Path) -> None:
    if version > known:
        raise StudioError(
            f"the store {path} was written by a newer RLHF Studio (schema version {version}; "
            f"this version knows up to {known}); upgrade the app to open this workspace"
        )


def tables_of(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """{table: its column names} of the database behind `conn` (SQLite's own tables aside)."""
    names = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return {
        name: [row[1] for row in conn.execute(f"PRAGMA table_info({_quoted(name)})")]
        for (name,) in names
    }


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def tables_at(version: int) -> dict[str, list[str]]:
    """The tables and columns a store of schema `version` has (built in memory)."""
    memory = sqlite3.connect(":memory:")
    try:
        for migration in MIGRATIONS[:version]:
            migration(memory)
        return tables_of(memory)
    finally:
        memory.close()


def check_tables_match_version(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse, before any migration or backup, a file whose tables are not those of its
    schema version: another application's SQLite file (version 0 with tables), or a store
    whose user_version was changed by hand. Migrating either would fail half-way
    (`table prompts already exists`, `duplicate column name`) or mix two schemas."""
    version = schema_version(conn)
    if version < 0:  # no version of the app writes one; tables_at would misread it
        raise StoreError(
            f"{path} is not an RLHF Studio store: its schema version is {version}; it was "
            "left untouched. Move it out of the workspace (or name another --workspace)."
        )
    found, expected = tables_of(conn), tables_at(version)
    if found == expected:
        return
    listed = ", ".join(sorted(found)[:6]) + (", ..." if len(found) > 6 else "")
    if version == 0:
        what = f"it is another application's SQLite database (tables: {listed})"
    else:
        what = (
            f"its tables ({listed}) are not those of the schema version {version} it "
            "claims (PRAGMA user_version was changed, or another program wrote it)"
        )
    raise StoreError(
        f"{path} is not an RLHF Studio store: {what}; it was left untouched, not migrated. "
        "Move it out of the workspace (or name another --workspace) and run again."
    )
