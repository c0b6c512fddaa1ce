"""The Store: one SQLite file per workspace holding prompts, completions and feedback.

Each public write is one transaction: it commits whole or not at all, so a process
killed mid-write loses nothing already committed and leaves no half-written rows.
WAL journalling lets other connections read while one writes. A Store belongs to
the thread that opened it (sqlite3's check_same_thread); each thread opens its own.

Run records (metrics, samples, checkpoints) are in `RunRecords`, feedback imported from
files in `FeedbackImports` (core.store.imports), people's final verdicts on disputed pairs
in `PairResolutions` (core.store.resolutions); Store extends all three.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.errors import StudioError
from core.store import connection
from core.store.base import dumps, inserted_id, loads, now
from core.store.faults import StoreReadOnlyError
from core.store.imports import FeedbackImports
from core.store.resolutions import PairResolutions
from core.store.rows import (
    SOURCES,
    VERDICTS,
    ComparisonRow,
    GenerationRow,
    PromptRow,
    RatingRow,
    ScoreRow,
)
from core.store.runs import RunRecords

STORE_FILENAME = "studio.db"

_GENERATION_SELECT = """
    SELECT g.id, g.prompt_id, p.text, g.text, g.model, g.adapter, g.params, g.seed, g.created
    FROM generations g JOIN prompts p ON p.id = g.prompt_id
"""

_COMPARISON_SELECT = """
    SELECT c.id, c.prompt_id, p.text, c.left_id, l.text, c.right_id, r.text, c.verdict,
           c.rater, c.note, c.soft_label, c.detail, c.swapped, c.created
    FROM comparisons c
    JOIN prompts p ON p.id = c.prompt_id
    JOIN generations l ON l.id = c.left_id
    JOIN generations r ON r.id = c.right_id
"""

_RATING_SELECT = """
    SELECT r.id, r.generation_id, p.text, g.text, r.value, r.rater, r.note, r.created
    FROM ratings r
    JOIN generations g ON g.id = r.generation_id
    JOIN prompts p ON p.id = g.prompt_id
"""


class Store(RunRecords, FeedbackImports, PairResolutions):
    """Prompts, generations, comparisons, ratings, scores and runs of one workspace."""

    @classmethod
    def open(cls, workspace: Path, read_only: bool = False) -> Store:
        """Open the store of `workspace`, creating the folder and the file if needed.

        With read_only=True the store must exist; nothing is created, migrated or
        written (every write raises StoreReadOnlyError), and a read-only folder works.
        A damaged store raises StoreDamagedError naming the last good backup.
        """
        workspace = Path(workspace)
        if workspace.exists() and not workspace.is_dir():
            raise StudioError(f"workspace {workspace} is a file; choose a folder as workspace")
        path = workspace / STORE_FILENAME
        if read_only:
            return cls(workspace, path, connection.connect_read_only(path), read_only=True)
        try:
            workspace.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StudioError(
                f"cannot create workspace folder {workspace}: {error}; choose a writable folder"
            ) from error
        return cls(workspace, path, connection.connect(path))

    @classmethod
    def open_for_reading(cls, workspace: Path) -> Store:
        """Open as `open` does where the workspace is writable, else read-only: for
        commands that only read, which then also work on a read-only workspace."""
        try:
            return cls.open(workspace)
        except StoreReadOnlyError:
            return cls.open(workspace, read_only=True)

    # ----------------------------------------------------------------- prompts

    def add_prompts(
        self,
        texts: Sequence[str],
        set_name: str = "default",
        references: Sequence[str | None] | None = None,
    ) -> list[int]:
        """Add prompts to `set_name` in one transaction; return their ids in order."""
        texts = list(texts)
        references = [None] * len(texts) if references is None else list(references)
        if len(references) != len(texts):
            raise ValueError(f"{len(texts)} prompts but {len(references)} references")
        set_name = _check_set_name(set_name)
        for text in texts:
            _check_prompt_text(text)
        created = now()
        with self._transaction() as conn:
            return [
                inserted_id(
                    conn.execute(
                        "INSERT INTO prompts (text, set_name, reference, created) VALUES (?, ?, ?, ?)",
                        (text, set_name, reference, created),
                    )
                )
                for text, reference in zip(texts, references, strict=True)
            ]

    def prompts(self, set_name: str | None = None) -> list[PromptRow]:
        """The prompts of one set (or of all sets), oldest first."""
        query = "SELECT id, text, set_name, reference, created FROM prompts"
        if set_name is None:
            rows = self._conn.execute(query + " ORDER BY id")
        else:
            rows = self._conn.execute(query + " WHERE set_name = ? ORDER BY id", (set_name,))
        return [PromptRow(*row) for row in rows]

    def prompt(self, prompt_id: int) -> PromptRow:
        """One prompt by id."""
        row = self._conn.execute(
            "SELECT id, text, set_name, reference, created FROM prompts WHERE id = ?", (prompt_id,)
        ).fetchone()
        if row is None:
            raise self._missing("prompt", prompt_id)
        return PromptRow(*row)

    def prompt_sets(self) -> list[str]:
        """The names of the prompt sets, sorted."""
        rows = self._conn.execute("SELECT DISTINCT set_name FROM prompts ORDER BY set_name")
        return [name for (name,) in rows]

    def update_prompt(self, prompt_id: int, text: str) -> None:
        """Replace a prompt's text."""
        _check_prompt_text(text)
        with self._transaction() as conn:
            self._require(conn, "prompts", prompt_id, "prompt")
            conn.execute("UPDATE prompts SET text = ? WHERE id = ?", (text, prompt_id))

    def prompt_usage(self, prompt_id: int) -> dict[str, int]:
        """How many generations, comparisons and ratings deleting this prompt would delete."""
        count = self._conn.execute
        return {
            "generations": count(
                "SELECT count(*) FROM generations WHERE prompt_id = ?", (prompt_id,)
            ).fetchone()[0],
            "comparisons": count(
                "SELECT count(*) FROM comparisons WHERE prompt_id = ?", (prompt_id,)
            ).fetchone()[0],
            "ratings": count(
                "SELECT count(*) FROM ratings r JOIN generations g ON g.id = r.generation_id "
                "WHERE g.prompt_id = ?",
                (prompt_id,),
            ).fetchone()[0],
        }

    def delete_prompt(self, prompt_id: int) -> None:
        """Delete a prompt with its generations and all feedback on them.

        Callers that let a person delete should show `prompt_usage` first: labels go too.
        """
        with self._transaction() as conn:
            self._require(conn, "prompts", prompt_id, "prompt")
            conn.execute("DELETE FROM prompts WHERE id = ?", (prompt_id,))

    # ------------------------------------------------------------- generations

    def add_generation(
        self,
        prompt_id: int,
        text: str,
        model: str,
        adapter: str | None = None,
        params: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> int:
        """Record one completion of a prompt and what produced it; return its id."""
        with self._transaction() as conn:
            self._require(conn, "prompts", prompt_id, "prompt")
            return inserted_id(
                conn.execute(
                    "INSERT INTO generations (prompt_id, text, model, adapter, params, seed, created)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (prompt_id, text, model, adapter, dumps(params or {}), seed, now()),
                )
            )

    def generation(self, generation_id: int) -> GenerationRow:
        """One generation by id, with its prompt's text."""
        row = self._conn.execute(
            _GENERATION_SELECT + " WHERE g.id = ?", (generation_id,)
        ).fetchone()
        if row is None:
            raise self._missing("generation", generation_id)
        return _generation_row(row)

    def generations(self, prompt_id: int | None = None) -> list[GenerationRow]:
        """The generations of one prompt (or all), oldest first."""
        if prompt_id is None:
            rows = self._conn.execute(_GENERATION_SELECT + " ORDER BY g.id")
        else:
            rows = self._conn.execute(
                _GENERATION_SELECT + " WHERE g.prompt_id = ? ORDER BY g.id", (prompt_id,)
            )
        return [_generation_row(row) for row in rows]

    # ---------------------------------------------------------------- feedback

    def add_comparison(
        self,
        prompt_id: int,
        left_id: int,
        right_id: int,
        verdict: str,
        rater: str,
        note: str | None = None,
        soft_label: float | None = None,
        detail: dict[str, Any] | None = None,
        swapped: bool | None = None,
    ) -> int:
        """Record a verdict on two completions of `prompt_id`; return its id.

        soft_label is P(left is better) from an AI judge; swapped is True when the left
        side shown was generated second.
        """
        if verdict not in VERDICTS:
            raise ValueError(f"verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
        _check_rater(rater)
        if soft_label is not None and not 0.0 <= soft_label <= 1.0:
            raise ValueError(f"soft_label {soft_label} is not a probability in [0, 1]")
        if left_id == right_id:
            raise ValueError(f"a comparison needs two different generations, got {left_id} twice")
        with self._transaction() as conn:
            for generation_id in (left_id, right_id):
                self._require_generation_of(conn, generation_id, prompt_id)
            return inserted_id(
                conn.execute(
                    "INSERT INTO comparisons (prompt_id, left_id, right_id, verdict, rater, note,"
                    " soft_label, detail, swapped, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        prompt_id,
                        left_id,
                        right_id,
                        verdict,
                        rater,
                        note,
                        soft_label,
                        None if detail is None else dumps(detail),
                        None if swapped is None else int(bool(swapped)),
                        now(),
                    ),
                )
            )

    def comparisons(self, source: str = "all") -> list[ComparisonRow]:
        """Comparisons by people ("human"), AI labellers ("ai") or both ("all"), oldest first."""
        rows = self._conn.execute(_COMPARISON_SELECT + _source_filter("c.rater", source))
        return [_comparison_row(row) for row in rows]

    def add_rating(
        self, generation_id: int, value: float, rater: str, note: str | None = None
    ) -> int:
        """Record a scalar rating of one completion; return its id."""
        value = _finite(value, "rating")
        _check_rater(rater)
        with self._transaction() as conn:
            self._require(conn, "generations", generation_id, "generation")
            return inserted_id(
                conn.execute(
                    "INSERT INTO ratings (generation_id, value, rater, note, created)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (generation_id, value, rater, note, now()),
                )
            )

    def ratings(self, source: str = "all") -> list[RatingRow]:
        """Ratings by people, AI labellers or both (see `comparisons`), oldest first."""
        rows = self._conn.execute(_RATING_SELECT + _source_filter("r.rater", source))
        return [RatingRow(*row) for row in rows]

    def add_score(
        self,
        generation_id: int,
        source: str,
        value: float,
        detail: dict[str, Any] | None = None,
    ) -> int:
        """Record the automatic score of one completion by reward source `source`; return
        its id. A completion has one score per source: scoring it again replaces it."""
        value = _finite(value, "score")
        if not source:
            raise ValueError("a score needs the name of its source")
        with self._transaction() as conn:
            self._require(conn, "generations", generation_id, "generation")
            conn.execute(
                "DELETE FROM scores WHERE generation_id = ? AND source = ?",
                (generation_id, source),
            )
            return inserted_id(
                conn.execute(
                    "INSERT INTO scores (generation_id, source, value, detail, created)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        generation_id,
                        source,
                        value,
                        None if detail is None else dumps(detail),
                        now(),
                    ),
                )
            )

    def scores(self, generation_id: int | None = None) -> list[ScoreRow]:
        """The scores of one generation (or all), oldest first."""
        query = "SELECT id, generation_id, source, value, detail, created FROM scores"
        if generation_id is None:
            rows = self._conn.execute(query + " ORDER BY id")
        else:
            rows = self._conn.execute(
                query + " WHERE generation_id = ? ORDER BY id", (generation_id,)
            )
        return [
            ScoreRow(row_id, generation, source, value, loads(detail), created)
            for row_id, generation, source, value, detail, created in rows
        ]

    def counts(self) -> dict[str, int]:
        """Row counts per table, for status displays."""
        tables = ("prompts", "generations", "comparisons", "ratings", "scores", "runs")
        return {
            table: self._conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in tables
        }


def _generation_row(row: tuple) -> GenerationRow:
    row_id, prompt_id, prompt, text, model, adapter, params, seed, created = row
    return GenerationRow(
        row_id, prompt_id, prompt, text, model, adapter, loads(params), seed, created
    )


def _comparison_row(row: tuple) -> ComparisonRow:
    (row_id, prompt_id, prompt, left_id, left_text, right_id, right_text,
     verdict, rater, note, soft_label, detail, swapped, created) = row  # fmt: skip
    return ComparisonRow(
        row_id, prompt_id, prompt, left_id, left_text, right_id, right_text,
        verdict, rater, note, soft_label,
        loads(detail), None if swapped is None else bool(swapped), created,
    )  # fmt: skip


def _source_filter(column: str, source: str) -> str:
    """A WHERE + ORDER BY clause keeping the feedback of one source."""
    if source not in SOURCES:
        raise ValueError(f"source {source!r} is not one of {', '.join(SOURCES)}")
    # substr, not LIKE: LIKE treats '_' as a wildcard and ignores case.
    where = {
        "human": f" WHERE substr({column}, 1, 3) != 'ai:'",
        "ai": f" WHERE substr({column}, 1, 3) = 'ai:'",
        "all": "",
    }[source]
    return where + f" ORDER BY {column.split('.')[0]}.id"


def _check_set_name(set_name: str) -> str:
    set_name = set_name.strip() if isinstance(set_name, str) else ""
    if not set_name:
        raise StudioError("a prompt set needs a name; give one (for example --set default)")
    return set_name


def _check_prompt_text(text: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise StudioError("a prompt cannot be empty; type some text or remove it")


def _check_rater(rater: str) -> None:
    if not isinstance(rater, str) or not rater.strip() or rater.strip() == "ai:":
        raise ValueError(f"rater {rater!r} must be a person's name or 'ai:<judge>'")


def _finite(value: float, what: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"a {what} must be a finite number, got {value}")
    return value
