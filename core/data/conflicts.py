"""One rule for many verdicts on one pair, used by exports, reward-model training and DPO.

A pair is a prompt and two answers, whichever was shown on the left. Its verdicts become
one label by this rule (docs/feedback.md, "When raters disagree"):

1. Each rater's latest verdict on the pair counts: rating a pair again replaces the
   earlier verdict, so re-rating a conflict resolves it.
2. People outrank AI: when a person rated the pair, AI verdicts on it are set aside.
3. The label is the vote share p = P(answer A is better): the mean of the counted
   verdicts, a decisive one 1 or 0, a tie 0.5, an AI judge's its probability; "both bad"
   says nothing about the order and is not counted.
4. p = 0.5 is no preference: a "conflict" when decisive verdicts cancel out (alice said A,
   bob said B), else a "tie". Neither is trained on nor exported (a tie is, where a caller
   keeps ties, with label 0.5); `agreement` lists the conflicts so they can be re-rated.
5. Otherwise the favoured answer is "chosen" and the pair carries p_chosen = max(p, 1 - p)
   as its soft label: 2 votes against 1 train as 0.67, never as two opposite pairs.
6. A resolution settles the pair: a person's final verdict (the AI Feedback page's
   Resolve, or `resolve`) is the pair's label, 1 for the answer picked (0.5 and a tie
   when they pick neither), whatever the verdicts say, before or after it. The verdicts
   stay stored and still count for agreement; the pair's latest resolution counts.
"""

from __future__ import annotations

import functools
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.store.rows import ComparisonRow, ResolutionRow

_TOLERANCE = 1e-9
_VOTES = {"left": 1.0, "right": 0.0, "tie": 0.5}
DECIDED, TIE, CONFLICT, BOTH_BAD = "decided", "tie", "conflict", "both_bad"


@dataclass(frozen=True)
class Resolution:
    """What the verdicts on one pair come to."""

    status: str
    """decided | tie | conflict | both_bad."""
    prompt: str
    chosen: str
    """The favoured answer (answer A when nothing is favoured)."""
    rejected: str
    label: float
    """P(chosen is better), >= 0.5: the vote share of the favoured answer."""
    by_people: bool
    counted: tuple[ComparisonRow, ...]
    """The verdicts the label came from (each rater's latest, people over AI)."""
    set_aside: tuple[ComparisonRow, ...]
    """AI verdicts on a pair a person rated."""
    rows: tuple[ComparisonRow, ...]
    """Every verdict on the pair, oldest first."""
    settled_by: ResolutionRow | None = None
    """The person's resolution that decided the pair (rule 6), if any."""

    @property
    def comparison_ids(self) -> tuple[int, ...]:
        """Every verdict's id: a model trained on the pair has seen all of them."""
        return tuple(row.id for row in self.rows)


def pair_key(row: ComparisonRow | ResolutionRow) -> tuple[str, frozenset[str]]:
    """The same prompt and the same two answers, in either order."""
    return row.prompt, frozenset((row.left_text, row.right_text))


def grouped(rows: Iterable[ComparisonRow]) -> list[list[ComparisonRow]]:
    """Verdicts grouped by pair, groups in the order of their first verdict."""
    groups: dict[tuple[str, frozenset[str]], list[ComparisonRow]] = {}
    for row in rows:
        groups.setdefault(pair_key(row), []).append(row)
    return list(groups.values())


def latest_by_rater(rows: Sequence[ComparisonRow]) -> list[ComparisonRow]:
    """Each rater's latest verdict among `rows` (by id), oldest first."""
    latest: dict[str, ComparisonRow] = {}
    for row in sorted(rows, key=lambda r: r.id):
        latest[row.rater] = row
    return sorted(latest.values(), key=lambda r: r.id)


def vote_share(rows: Iterable[ComparisonRow], answer_a: str) -> float | None:
    """Mean P(answer_a is better) over the verdicts that say anything; None if none do."""
    votes = []
    for row in rows:
        p_left = row.soft_label if row.soft_label is not None else _VOTES.get(row.verdict)
        if p_left is not None:
            votes.append(p_left if row.left_text == answer_a else 1.0 - p_left)
    return statistics.fmean(votes) if votes else None


def resolve(group: Sequence[ComparisonRow], settled_by: ResolutionRow | None = None) -> Resolution:
    """The module doc's rule applied to the verdicts on one pair (and its resolution)."""
    rows = tuple(sorted(group, key=lambda r: r.id))
    latest = latest_by_rater(rows)
    people = [row for row in latest if not row.is_ai]
    counted = people or latest
    set_aside = tuple(row for row in latest if row.is_ai) if people else ()
    answer_a, answer_b = rows[0].left_text, rows[0].right_text
    p_a = vote_share(counted, answer_a)
    resolution = functools.partial(
        Resolution, prompt=rows[0].prompt, by_people=bool(people), counted=tuple(counted),
        set_aside=set_aside, rows=rows,
    )  # fmt: skip
    if settled_by is not None:
        return _settled(settled_by, resolution)
    if p_a is None:
        return resolution(BOTH_BAD, chosen=answer_a, rejected=answer_b, label=0.5)
    if answer_a == answer_b or abs(p_a - 0.5) < _TOLERANCE:
        decisive = any(row.verdict in ("left", "right") for row in counted)
        status = CONFLICT if decisive and answer_a != answer_b else TIE
        return resolution(status, chosen=answer_a, rejected=answer_b, label=0.5)
    if p_a > 0.5:
        return resolution(DECIDED, chosen=answer_a, rejected=answer_b, label=p_a)
    return resolution(DECIDED, chosen=answer_b, rejected=answer_a, label=1.0 - p_a)


def _settled(settled_by: ResolutionRow, resolution: Callable[..., Resolution]) -> Resolution:
    """Rule 6: the person's pick is the label; the verdicts ride along for provenance."""
    answer_a, answer_b = settled_by.left_text, settled_by.right_text
    settled = functools.partial(resolution, by_people=True, settled_by=settled_by)
    if settled_by.verdict == "tie":
        return settled(TIE, chosen=answer_a, rejected=answer_b, label=0.5)
    if settled_by.verdict == "right":
        answer_a, answer_b = answer_b, answer_a
    return settled(DECIDED, chosen=answer_a, rejected=answer_b, label=1.0)


def resolved(
    rows: Iterable[ComparisonRow], resolutions: Iterable[ResolutionRow] = ()
) -> list[Resolution]:
    """One Resolution per pair, in the order of each pair's first verdict; a pair with a
    resolution (Store.resolutions) is settled by its latest one (rule 6)."""
    latest = {pair_key(row): row for row in sorted(resolutions, key=lambda r: r.id)}
    return [resolve(group, latest.get(pair_key(group[0]))) for group in grouped(rows)]


def disagreeing_people(resolution: Resolution) -> bool:
    """Whether people gave the pair different verdicts (a conflict, or a split majority)."""
    verdicts = {
        _oriented(row, resolution.chosen)
        for row in resolution.counted
        if not row.is_ai and row.verdict in _VOTES
    }
    return len(verdicts) > 1


def _oriented(row: ComparisonRow, answer_a: str) -> str:
    """The verdict told as if answer_a were on the left."""
    if row.left_text == answer_a or row.verdict == "tie":
        return row.verdict
    return {"left": "right", "right": "left"}[row.verdict]
