"""Settling a pair people disagree on: a person picks the final verdict.

The AI Feedback page's Resolve and `resolve PAIR --pick A|B|tie` both call `settle`. A
pair is named by its two answers' generation ids, `A:B` as `agreement` lists its
conflicts (A the answer shown first there). The resolution is stored beside the verdicts
(Store.add_resolution) with who settled it, an optional note and the ids of the verdicts
on the pair at the time; the conflict rule (core.data.conflicts, rule 6) then reads the pair
as settled in exports, reward-model training and DPO alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.data.conflicts import pair_key
from core.errors import StudioError

if TYPE_CHECKING:
    from core.store import Store

PICKS = {"a": "left", "b": "right", "tie": "tie"}
"""What a resolver can pick: answer A, answer B, or neither (a tie: not trained on)."""


@dataclass(frozen=True)
class Settled:
    """A stored resolution, as the CLI and the page report it."""

    resolution_id: int
    prompt: str
    picked: str
    """A | B | tie."""
    verdicts: int
    """How many stored verdicts on the pair it settles."""


def parse_pair(text: str) -> tuple[int, int]:
    """`12:15` as (12, 15), or one error naming the form wanted."""
    parts = text.split(":")
    try:
        first, second = (int(part) for part in parts)
    except ValueError:
        raise StudioError(
            f"pair {text!r} is not two generation ids A:B (e.g. 12:15); `agreement` lists "
            "each conflict's pair"
        ) from None
    return first, second


def settle(
    store: Store, first_id: int, second_id: int, pick: str, resolver: str, note: str | None = None
) -> Settled:
    """Store `resolver`'s final verdict on the pair (first_id = answer A, second_id = B):
    `pick` is A, B or tie. Refused when no one has rated the pair yet."""
    verdict = PICKS.get(pick.strip().lower())
    if verdict is None:
        raise StudioError(f"--pick {pick!r}: pick A, B or tie (the better answer, or neither)")
    first, second = store.generation(first_id), store.generation(second_id)
    key = (first.prompt, frozenset((first.text, second.text)))
    verdicts = [row.id for row in store.comparisons("all") if pair_key(row) == key]
    if not verdicts:
        raise StudioError(
            f"no one has rated pair {first_id}:{second_id}; rate it on Compare & Rate first "
            "(a resolution settles a pair people disagree on)"
        )
    resolution_id = store.add_resolution(
        first_id, second_id, verdict, resolver, note=note or None, comparison_ids=verdicts
    )
    picked = {"left": "A", "right": "B", "tie": "tie"}[verdict]
    return Settled(resolution_id, first.prompt, picked, len(verdicts))
