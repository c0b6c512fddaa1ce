"""The pairs of Compare & Rate as plain data: which recipe is on which side, what a vote
reveals, and the session's tally of wins per recipe (no Qt here)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from app.jobs.model import SideCompletion, SideScores

VERDICT_TEXT = {
    "left": "Left better",
    "right": "Right better",
    "tie": "Tie",
    "both_bad": "Both bad",
}

VOTE_MARKS = {
    "left": (" — preferred", ""),
    "right": ("", " — preferred"),
    "tie": (" — tie", " — tie"),
    "both_bad": (" — both bad", " — both bad"),
}
"""What each pane's title adds after a vote: (left, right)."""

RATE_MODES = ("Pairs", "Single answers (thumbs)", "Rank 4 answers")
"""Compare & Rate's modes, in the Rate combo's order."""
THUMB_TEXT = {"up": "Thumbs up", "down": "Thumbs down"}
THUMB_VALUES = {"up": 1.0, "down": 0.0}
"""A thumb as a stored rating value, as TRL's boolean KTO labels are imported: KTO
(core.offline.data) reads >= 0.5 as desirable."""


@dataclass
class Pair:
    """A generated pair as the rater sees it; sides[0] is recipe A, sides[1] recipe B."""

    prompt_id: int
    prompt: str
    sides: list[SideCompletion]
    generation_ids: list[int]
    swapped: bool
    """True when the left side shows recipe B (the second one generated)."""
    verdict: str | None = None
    scores: list[SideScores] = field(default_factory=list)
    repeat_of: int | None = None
    """A hidden repeat: the id of the rater's earlier verdict on this pair (core.rating.repeats)."""

    def shown(self) -> tuple[int, int]:
        """Indices into `sides` of the (left, right) completions."""
        return (1, 0) if self.swapped else (0, 1)

    def recipe(self, index: int) -> str:
        """What produced side `index`: the weights and the temperature."""
        side = self.sides[index]
        temperature = side.params.get("temperature")
        return side.variant if temperature is None else f"{side.variant}, T={temperature}"

    def winner(self) -> str | None:
        """The recipe the vote preferred (None before a vote and for tie / both bad)."""
        left, right = self.shown()
        return {"left": self.recipe(left), "right": self.recipe(right)}.get(self.verdict or "")


def single_title(pair: Pair) -> str:
    """The single answer's pane title: blind until rated, then its recipe and thumb."""
    if pair.verdict is None:
        return "Answer"
    return f"Answer: {pair.recipe(0)} — {THUMB_TEXT[pair.verdict].lower()}"


def recipe_tally(pairs: Iterable[Pair]) -> str:
    """One line: how often each recipe won the pairs voted on, ties and both-bad counted."""
    voted = [pair for pair in pairs if pair.verdict is not None]
    if not voted:
        return ""
    wins = Counter(pair.winner() for pair in voted)
    recipes = dict.fromkeys(pair.recipe(i) for pair in voted for i in range(len(pair.sides)))
    parts = [f"{recipe} won <b>{wins[recipe]}</b>" for recipe in recipes]
    verdicts = Counter(pair.verdict for pair in voted)
    parts += [f"ties {verdicts['tie']}", f"both bad {verdicts['both_bad']}"]
    votes = f"{len(voted)} vote" + ("s" if len(voted) != 1 else "")
    return f"{votes} this session: " + " · ".join(parts)


def stored_recipe(row) -> str:
    """A stored generation's recipe as the reveal names it."""
    if row.adapter is None:
        return "Base model (adapter off)"
    return f"Policy {row.adapter}"
