"""Hidden repeats: a pair a person already rated, shown to them again with its sides
swapped, to measure how consistent they are (self-agreement in core.rating.agreement).

Compare & Rate (with *Hidden repeats* on) slips one in after every `REPEAT_EVERY` votes.
The repeat is stored as an ordinary comparison with `detail.repeat_of` = the id of the
verdict it repeats; like any second verdict by the same person, the latest one counts for
training (core.data.conflicts).
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.store.rows import ComparisonRow

REPEAT_EVERY = 8
"""One hidden repeat after this many votes."""
MIN_GAP = 3
"""A repeat is never one of the rater's last this-many votes: long enough not to recall
the pair at once."""


def pick_repeat(
    comparisons: Sequence[ComparisonRow],
    rater: str,
    prompt_ids: Collection[int],
    rng: random.Random,
) -> ComparisonRow | None:
    """A verdict of `rater` (left, right or tie, on one of `prompt_ids`) to repeat, or None:
    not among their last MIN_GAP votes, not a repeat, not repeated yet."""
    mine = sorted((row for row in comparisons if row.rater == rater), key=lambda r: r.id)
    repeated = {(row.detail or {}).get("repeat_of") for row in mine}
    candidates = [
        row
        for row in mine[: max(0, len(mine) - MIN_GAP)]
        if row.verdict in ("left", "right", "tie")
        and row.prompt_id in prompt_ids
        and row.id not in repeated
        and "repeat_of" not in (row.detail or {})
    ]
    return rng.choice(candidates) if candidates else None
