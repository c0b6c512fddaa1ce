"""Resolutions: a person's final verdict on a pair that raters disagree on.

A resolution is stored beside the verdicts, never instead of them: the comparisons stay
as they were (agreement, kappa and each rater's habits still read them), and the conflict
rule (core.data.conflicts) lets the pair's latest resolution decide its label wherever pairs
are read. Each resolution records who settled the pair, when, an optional note, and the
ids of the verdicts it settled (its provenance).
"""

from __future__ import annotations

from collections.abc import Sequence

from core.errors import StudioError
from core.store.base import StoreBase, dumps, inserted_id, loads, now
from core.store.rows import ResolutionRow, is_ai_rater

RESOLUTION_VERDICTS = ("left", "right", "tie")
"""A resolution says which answer is better, or that neither is."""

_RESOLUTION_SELECT = """
    SELECT s.id, s.prompt_id, p.text, s.left_id, l.text, s.right_id, r.text, s.verdict,
           s.resolver, s.note, s.comparison_ids, s.created
    FROM resolutions s
    JOIN prompts p ON p.id = s.prompt_id
    JOIN generations l ON l.id = s.left_id
    JOIN generations r ON r.id = s.right_id
"""


class PairResolutions(StoreBase):
    """The resolutions half of the Store (see core.store.store.Store)."""

    def add_resolution(
        self,
        left_id: int,
        right_id: int,
        verdict: str,
        resolver: str,
        note: str | None = None,
        comparison_ids: Sequence[int] = (),
    ) -> int:
        """Settle the pair (left_id, right_id) with `verdict` (left | right | tie) by the
        person `resolver`; return the resolution's id. The verdicts stay untouched."""
        if verdict not in RESOLUTION_VERDICTS:
            raise ValueError(f"verdict {verdict!r} is not one of {', '.join(RESOLUTION_VERDICTS)}")
        if not isinstance(resolver, str) or not resolver.strip() or is_ai_rater(resolver):
            raise ValueError(f"resolver {resolver!r} must be a person's name")
        if left_id == right_id:
            raise ValueError(f"a pair needs two different generations, got {left_id} twice")
        with self._transaction() as conn:
            prompts = set()
            for generation_id in (left_id, right_id):
                row = conn.execute(
                    "SELECT prompt_id FROM generations WHERE id = ?", (generation_id,)
                ).fetchone()
                if row is None:
                    raise self._missing("generation", generation_id)
                prompts.add(row[0])
            if len(prompts) != 1:
                raise StudioError(
                    f"generations {left_id} and {right_id} answer different prompts; a "
                    "resolution settles two answers to one prompt"
                )
            return inserted_id(conn.execute(
                "INSERT INTO resolutions (prompt_id, left_id, right_id, verdict, resolver,"
                " note, comparison_ids, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (prompts.pop(), left_id, right_id, verdict, resolver.strip(), note,
                 dumps(sorted(int(i) for i in comparison_ids)), now()),
            ))  # fmt: skip

    def resolutions(self) -> list[ResolutionRow]:
        """Every resolution, oldest first (a pair's latest one is the one that counts)."""
        rows = self._conn.execute(_RESOLUTION_SELECT + " ORDER BY s.id")
        return [_resolution_row(row) for row in rows]


def _resolution_row(row: tuple) -> ResolutionRow:
    (row_id, prompt_id, prompt, left_id, left_text, right_id, right_text,
     verdict, resolver, note, comparison_ids, created) = row  # fmt: skip
    return ResolutionRow(
        row_id, prompt_id, prompt, left_id, left_text, right_id, right_text,
        verdict, resolver, note, tuple(loads(comparison_ids) or ()), created,
    )  # fmt: skip
