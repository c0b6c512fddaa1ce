"""Preference data out, as TRL reads it: one row per pair, with its confidence and source.

Pairs (`export --format pairs`), rows of TRL's explicit-prompt preference form plus two
columns TRL's RewardTrainer and filters can use:

    {"prompt", "chosen", "rejected", "margin", "source"}   (+ "score_chosen", "score_rejected"
                                                            when an imported pair had them)

One row per pair: the verdicts on the same prompt and the same two answers (in either
order, by anyone) are merged by the conflict rule of core.data.conflicts, the one reward-model
training and DPO use too:

1. Each rater's latest verdict counts; people outrank AI (AI verdicts on a pair a person
   rated are set aside, counted, and how many of them disagreed).
2. The counted verdicts are averaged as the vote share p = P(one answer is better); the
   answer it favours is "chosen". p = 0.5 (ties, or verdicts that cancel out, "conflicting")
   is left out; "both bad" says nothing and is ignored.
3. `margin` is |2p - 1| (0 = coin flip, 1 = unanimous or certain): 1 when the people
   agreed, 1/3 for two people against one, the judge's confidence for AI pairs (the
   `label` command's "mean confidence"). An imported pair decided by its one imported
   verdict keeps the margin (and scores) its file gave.
4. AI pairs whose confidence is below `min_confidence` are dropped (and counted).

`source` is "human" or the judge, "ai:<judge>" (several judges joined with "+").

KTO (`export --format kto`): TRL's unpaired form {"prompt", "completion", "label"} from
the ratings, one row per answer: people outrank AI again, the ratings of the answer are
averaged, and `label` is average >= `label_threshold` (imported labels are 1 or 0).

Rows are conversational (message lists, which TRL renders with the chat template) when the
answers were generated with the chat prompt format, standard text otherwise; `layout`
forces one ("standard" or "conversational"). A file never mixes the two: TRL reads a
dataset as one or the other.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.data.conflicts import (
    BOTH_BAD,
    CONFLICT,
    DECIDED,
    TIE,
    Resolution,
    disagreeing_people,
    resolved,
    vote_share,
)
from core.data.trl_rows import CHAT, assistant_message, conversation_of, prompt_messages
from core.errors import StudioError

if TYPE_CHECKING:
    from core.store import Store
    from core.store.rows import ComparisonRow, RatingRow, ResolutionRow

DEFAULT_MIN_CONFIDENCE = 0.2
"""AI pairs with confidence |2p - 1| below this (the judge gives its pick < 60 %) are
dropped: TRL trains on every row as if it were certain."""
COIN_FLIPS = "AI coin flips"
"""The reason under which trainers count the AI labels they dropped for low confidence."""
DEFAULT_LABEL_THRESHOLD = 0.5
LAYOUTS = ("auto", "standard", "conversational")
_TOLERANCE = 1e-9  # float noise: p = 0.6 gives |2p - 1| = 0.19999999999999996


def ai_confidence(row: ComparisonRow) -> float | None:
    """|2p - 1| of an AI comparison's soft label; None for people and for hard AI verdicts."""
    if not row.is_ai or row.soft_label is None:
        return None
    return abs(2.0 * float(row.soft_label) - 1.0)


def is_coin_flip(row: ComparisonRow, min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> bool:
    """True for an AI label too unsure to train on (the export's and trainers' filter)."""
    confidence = ai_confidence(row)
    return confidence is not None and confidence < min_confidence - _TOLERANCE


def drop_coin_flips(
    rows: Sequence[ComparisonRow], min_confidence: float = DEFAULT_MIN_CONFIDENCE
) -> tuple[list[ComparisonRow], int]:
    """(the rows to train on, how many AI coin flips were dropped)."""
    kept = [row for row in rows if not is_coin_flip(row, min_confidence)]
    return kept, len(rows) - len(kept)


def coin_flip_note(dropped: int, min_confidence: float) -> str:
    """The one line trainers print about the AI labels they left out."""
    return (
        f"dropped {dropped} AI labels with confidence |2p - 1| below {min_confidence:g} "
        "(coin flips: the judge was not sure); --min-confidence 0 keeps them"
    )


@dataclass
class PairCounts:
    """What merging the comparisons into pairs left out or set aside (pairs, not verdicts)."""

    ties: int = 0
    both_bad: int = 0
    conflicting: int = 0
    """Pairs whose decisive verdicts cancel out (as many for each answer)."""
    split_votes: int = 0
    """Decided pairs that people voted on both ways (exported with margin |2p - 1| < 1)."""
    resolved: int = 0
    """Pairs a person settled with a resolution (exported as they picked, margin 1)."""
    low_confidence: int = 0
    human_over_ai: int = 0
    """Pairs with verdicts by people and by AI: the people's verdict was kept."""
    ai_disagreed: int = 0
    """Of those, pairs where the AI favoured the other answer (or neither)."""


@dataclass(frozen=True)
class ExportRow:
    """One exported row's texts, what it says, and how the model saw the prompt."""

    values: dict[str, Any]
    prompt_format: str
    extra: dict[str, Any] = field(default_factory=dict)


def merged_pairs(
    comparisons: Sequence[ComparisonRow],
    prompt_formats: dict[int, str],
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    resolutions: Sequence[ResolutionRow] = (),
) -> tuple[list[ExportRow], PairCounts]:
    """One ExportRow per decided pair (oldest first) by the module doc's rule; pairs a
    person resolved (Store.resolutions) as they settled them."""
    counts = PairCounts()
    rows = []
    for resolution in resolved(comparisons, resolutions):
        row = _merge_pair(resolution, prompt_formats, min_confidence, counts)
        if row is not None:
            rows.append(row)
    return rows, counts


_LEFT_OUT = {BOTH_BAD: "both_bad", CONFLICT: "conflicting", TIE: "ties"}


def _merge_pair(resolution: Resolution, prompt_formats, min_confidence, counts) -> ExportRow | None:
    if resolution.status != DECIDED:
        name = _LEFT_OUT[resolution.status]
        setattr(counts, name, getattr(counts, name) + 1)
        return None
    first, deciding = resolution.rows[0], resolution.counted
    if resolution.settled_by is not None:
        counts.resolved += 1
    elif disagreeing_people(resolution):
        counts.split_votes += 1
    margin = abs(2 * resolution.label - 1)
    if resolution.by_people:
        source = "human"
        if resolution.set_aside:
            counts.human_over_ai += 1
            ai_p = vote_share(resolution.set_aside, resolution.chosen)
            if ai_p is None or ai_p <= 0.5 + _TOLERANCE:
                counts.ai_disagreed += 1
    else:
        if margin < min_confidence - _TOLERANCE:
            counts.low_confidence += 1
            return None
        source = "+".join(sorted({c.rater for c in deciding}))
    values: dict[str, Any] = {"prompt": first.prompt, "chosen": resolution.chosen,
              "rejected": resolution.rejected}  # fmt: skip
    extra = _imported_numbers(deciding)
    values["margin"] = extra.pop("margin", margin)
    values["source"] = source
    return ExportRow(values, prompt_formats.get(first.left_id, "plain"), extra)


def _imported_numbers(deciding: Sequence[ComparisonRow]) -> dict[str, float]:
    """margin / score_chosen / score_rejected of a pair decided by one imported verdict
    (which then names the chosen answer, so its scores stay with their answers)."""
    if len(deciding) != 1 or not deciding[0].detail:
        return {}
    detail = deciding[0].detail
    return {key: detail[key] for key in ("margin", "score_chosen", "score_rejected")
            if key in detail}  # fmt: skip


def merged_ratings(
    ratings: Sequence[RatingRow],
    prompt_formats: dict[int, str],
    label_threshold: float = DEFAULT_LABEL_THRESHOLD,
) -> list[ExportRow]:
    """One KTO row per rated answer (oldest first): people over AI, mean >= threshold."""
    rows = []
    for group in _groups(ratings, lambda r: (r.prompt, r.response)):
        people = [r for r in group if not r.is_ai]
        value = statistics.fmean(r.value for r in people or group)
        values = {
            "prompt": group[0].prompt,
            "completion": group[0].response,
            "label": value >= label_threshold,
        }
        rows.append(ExportRow(values, prompt_formats.get(group[0].generation_id, "plain")))
    return rows


def trl_rows(rows: Sequence[ExportRow], layout: str, answers: Sequence[str]) -> list[dict]:
    """The rows as TRL reads them: text, or message lists for `answers` and the prompt."""
    conversational = _conversational(rows, layout)
    keys = sorted({key for row in rows for key in row.extra})
    out = []
    for number, row in enumerate(rows, start=1):
        item = dict(row.values)
        if not conversational and conversation_of(item["prompt"]) is not None:
            raise StudioError(
                f"row {number}'s prompt is a conversation (a system message or several "
                "turns), which standard text rows cannot hold; use --layout conversational"
            )
        if conversational:
            item["prompt"] = prompt_messages(item["prompt"])
            for key in answers:
                item[key] = assistant_message(item[key])
        out.append({**item, **{key: row.extra.get(key) for key in keys}})
    return out


def _conversational(rows: Sequence[ExportRow], layout: str) -> bool:
    if layout not in LAYOUTS:
        raise StudioError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    if layout != "auto":
        return layout == "conversational"
    chat = sum(row.prompt_format == CHAT for row in rows)
    if 0 < chat < len(rows):
        raise StudioError(
            f"{chat} of the {len(rows)} rows were generated with the chat prompt format and "
            "the others with plain text, and TRL reads a file as one or the other; choose "
            "with --layout conversational or --layout standard"
        )
    return bool(rows) and chat == len(rows)


def prompt_formats(store: Store) -> dict[int, str]:
    """{generation id: the prompt format it was generated with} ("plain" when unrecorded)."""
    return {g.id: str(g.params.get("prompt_format", "plain")) for g in store.generations()}


def _groups(items: Iterable[Any], key) -> list[list[Any]]:
    """Items grouped by `key`, groups in the order of their first item."""
    groups: dict[Any, list[Any]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return list(groups.values())
