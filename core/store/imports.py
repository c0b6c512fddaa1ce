"""Feedback brought in from files: preference pairs and ratings, each file in one transaction.

An imported row becomes what the app itself would have stored: a prompt (in a named set,
reused when the set already holds its text), one generation per answer (reused when the
prompt already has a generation with that text, so imported verdicts meet the app's own),
and a comparison (chosen on the left, verdict "left") or a rating by the named rater.
A row that this rater already gave (in the store or earlier in the file) is a duplicate:
counted, not stored again. Either every new row is stored or, on any error, none.
"""

from __future__ import annotations

import itertools
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from core.store.base import StoreBase, dumps, inserted_id, loads, now


@dataclass(frozen=True)
class PairToStore:
    """One preference row read from a file: `chosen` is better than `rejected`."""

    prompt: str
    chosen: str
    rejected: str
    prompt_format: str
    """plain | chat: how the model saw the prompt (chat: TRL's conversational rows)."""
    detail: dict[str, Any] = field(default_factory=dict)
    """Stored with the comparison: where it came from, margin, score_chosen/rejected."""


@dataclass(frozen=True)
class RatingToStore:
    """One rated answer read from a file."""

    prompt: str
    completion: str
    value: float
    prompt_format: str
    note: str | None = None


class FeedbackImports(StoreBase):
    """The import half of the Store (see core.store.store.Store)."""

    def import_pairs(
        self, pairs: Sequence[PairToStore], set_name: str, rater: str, model: str
    ) -> tuple[int, int]:
        """Store `pairs` as comparisons by `rater`, generations credited to `model`;
        return (stored, duplicates)."""
        with self._transaction() as conn:
            ids = _Lookup(conn, set_name)
            seen = {
                (prompt, chosen, rejected)
                for prompt, left, right, verdict in conn.execute(
                    "SELECT p.text, l.text, r.text, c.verdict FROM comparisons c"
                    " JOIN prompts p ON p.id = c.prompt_id"
                    " JOIN generations l ON l.id = c.left_id"
                    " JOIN generations r ON r.id = c.right_id WHERE c.rater = ?",
                    (rater,),
                )
                if verdict in ("left", "right")
                for chosen, rejected in [(left, right) if verdict == "left" else (right, left)]
            }
            stored = 0
            for pair in pairs:
                key = (pair.prompt, pair.chosen, pair.rejected)
                if key in seen:
                    continue
                seen.add(key)
                prompt_id = ids.prompt(pair.prompt)
                params = {"prompt_format": pair.prompt_format, "imported": True}
                left = ids.generation(prompt_id, pair.chosen, model, params)
                right = ids.generation(prompt_id, pair.rejected, model, params)
                conn.execute(
                    "INSERT INTO comparisons (prompt_id, left_id, right_id, verdict, rater,"
                    " detail, created) VALUES (?, ?, ?, 'left', ?, ?, ?)",
                    (prompt_id, left, right, rater, dumps(pair.detail), now()),
                )
                stored += 1
        return stored, len(pairs) - stored

    def import_ratings(
        self, ratings: Sequence[RatingToStore], set_name: str, rater: str, model: str
    ) -> tuple[int, int]:
        """Store `ratings` by `rater`, generations credited to `model`; return
        (stored, duplicates): a duplicate repeats a rating of the same answer and value."""
        with self._transaction() as conn:
            ids = _Lookup(conn, set_name)
            seen = set(
                conn.execute(
                    "SELECT p.text, g.text, r.value FROM ratings r"
                    " JOIN generations g ON g.id = r.generation_id"
                    " JOIN prompts p ON p.id = g.prompt_id WHERE r.rater = ?",
                    (rater,),
                )
            )
            stored = 0
            for rating in ratings:
                key = (rating.prompt, rating.completion, rating.value)
                if key in seen:
                    continue
                seen.add(key)
                prompt_id = ids.prompt(rating.prompt)
                params = {"prompt_format": rating.prompt_format, "imported": True}
                generation = ids.generation(prompt_id, rating.completion, model, params)
                conn.execute(
                    "INSERT INTO ratings (generation_id, value, rater, note, created)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (generation, rating.value, rater, rating.note, now()),
                )
                stored += 1
        return stored, len(ratings) - stored

    def import_rankings(
        self, rankings: Sequence[Any], set_name: str, rater: str, model: str
    ) -> tuple[int, int]:
        """Store each ranking (core.data.rankings.RankingToStore) by `rater` as the comparisons it
        implies, sharing one `detail.ranking` id; return (stored, duplicates): a duplicate
        repeats a ranking this rater already gave (same prompt, same order and ties)."""
        with self._transaction() as conn:
            ids = _Lookup(conn, set_name)
            seen = {
                (prompt, loads(detail).get("ranking_key"))
                for prompt, detail in conn.execute(
                    "SELECT p.text, c.detail FROM comparisons c JOIN prompts p"
                    " ON p.id = c.prompt_id WHERE c.rater = ? AND c.detail LIKE '%ranking_key%'",
                    (rater,),
                )
            }
            stored = 0
            for ranking in rankings:
                key = dumps([sorted(ranking.completions[i] for i in g) for g in ranking.groups])
                if (ranking.prompt, key) in seen:
                    continue
                seen.add((ranking.prompt, key))
                prompt_id = ids.prompt(ranking.prompt)
                params = {"prompt_format": ranking.prompt_format, "imported": True}
                answer_ids = [
                    ids.generation(prompt_id, text, model, params) for text in ranking.completions
                ]
                extra = {"ranking_key": key, "imported_from": ranking.where}
                _insert_ranking(conn, prompt_id, answer_ids, ranking.groups, rater, extra)
                stored += 1
        return stored, len(rankings) - stored

    def add_ranking(
        self,
        prompt_id: int,
        generation_ids: Sequence[int],
        groups: Sequence[Sequence[int]],
        rater: str,
        detail: dict[str, Any] | None = None,
    ) -> str:
        """Store a ranking of stored generations of `prompt_id` (groups of indices into
        `generation_ids`, best first; a group of several is a tie) as its comparisons;
        return the ranking's id (Compare & Rate's Rank mode)."""
        from core.store.store import _check_rater

        _check_rater(rater)
        with self._transaction() as conn:
            for generation_id in generation_ids:
                self._require_generation_of(conn, generation_id, prompt_id)
            return _insert_ranking(conn, prompt_id, generation_ids, groups, rater, detail or {})


def ranking_pairs(groups: Sequence[Sequence[int]]) -> list[tuple[int, int, str]]:
    """The K(K-1)/2 comparisons a ranking (groups of indices, best first; a group of
    several is a tie) implies: (a, b, "left") when a ranks above b, (a, b, "tie")."""
    out = []
    for rank, group in enumerate(groups):
        out += [(a, b, "tie") for a, b in itertools.combinations(group, 2)]
        for lower in groups[rank + 1 :]:
            out += [(a, b, "left") for a in group for b in lower]
    return out


def _insert_ranking(conn, prompt_id, answer_ids, groups, rater, extra) -> str:
    """The comparisons a ranking implies, sharing `detail.ranking` (core.data.rankings)."""
    groups = tuple(tuple(group) for group in groups)
    rank_of = {i: rank for rank, group in enumerate(groups) for i in group}
    if sorted(rank_of) != list(range(len(answer_ids))) or len(answer_ids) < 2:
        raise ValueError(
            f"the ranking {groups} must rank each of the {len(answer_ids)} answers once"
        )
    ranking_id, created = uuid.uuid4().hex[:12], now()
    for a, b, verdict in ranking_pairs(groups):
        detail = {"ranking": ranking_id, "ranks": [rank_of[a], rank_of[b]],
                  "size": len(answer_ids), **extra}  # fmt: skip
        conn.execute(
            "INSERT INTO comparisons (prompt_id, left_id, right_id, verdict, rater,"
            " detail, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (prompt_id, answer_ids[a], answer_ids[b], verdict, rater, dumps(detail), created),
        )
    return ranking_id


class _Lookup:
    """Prompt and generation ids inside one import transaction, created when missing."""

    def __init__(self, conn: sqlite3.Connection, set_name: str) -> None:
        self.conn, self.set_name = conn, set_name
        self.prompts: dict[str, int] = {}
        for prompt_id, text in conn.execute(
            "SELECT id, text FROM prompts WHERE set_name = ? ORDER BY id", (set_name,)
        ):
            self.prompts.setdefault(text, prompt_id)
        self.generations: dict[int, dict[str, int]] = {}

    def prompt(self, text: str) -> int:
        if text not in self.prompts:
            self.prompts[text] = inserted_id(
                self.conn.execute(
                    "INSERT INTO prompts (text, set_name, created) VALUES (?, ?, ?)",
                    (text, self.set_name, now()),
                )
            )
        return self.prompts[text]

    def generation(self, prompt_id: int, text: str, model: str, params: dict) -> int:
        known = self.generations.get(prompt_id)
        if known is None:
            known = self.generations[prompt_id] = {}
            for generation_id, existing in self.conn.execute(
                "SELECT id, text FROM generations WHERE prompt_id = ? ORDER BY id", (prompt_id,)
            ):
                known.setdefault(existing, generation_id)
        if text not in known:
            known[text] = inserted_id(
                self.conn.execute(
                    "INSERT INTO generations (prompt_id, text, model, params, created)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (prompt_id, text, model, dumps(params), now()),
                )
            )
        return known[text]
