"""The store's row types: small frozen dataclasses, plain Python values only.

Rows are safe to hand to another thread (the GUI) as they are. JSON columns come back
as dicts; timestamps are ISO-8601 strings in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

AI_RATER_PREFIX = "ai:"
"""Raters named `ai:<judge>` are AI labellers; any other name is a person."""

VERDICTS = ("left", "right", "tie", "both_bad")
"""What a comparison can conclude."""

SOURCES = ("human", "ai", "all")
"""Filters for feedback: people only, AI labellers only, or both."""

RUN_STATUSES = ("running", "paused", "stopped", "finished", "failed", "interrupted")
"""The states a run passes through. `interrupted`: the process running it ended without
saying so (killed, crashed, power lost); it resumes from its last checkpoint."""

ACTIVE_RUN_STATUSES = ("running", "paused")
"""Statuses of a run some process is working on (it holds the run's lock)."""


def is_ai_rater(rater: str) -> bool:
    """Whether `rater` names an AI labeller (`ai:<judge>`)."""
    return rater.startswith(AI_RATER_PREFIX)


@dataclass(frozen=True)
class PromptRow:
    """A prompt in a named set, with an optional reference answer."""

    id: int
    text: str
    set_name: str
    reference: str | None
    created: str


@dataclass(frozen=True)
class GenerationRow:
    """One completion of a prompt, with what produced it."""

    id: int
    prompt_id: int
    prompt: str
    text: str
    model: str
    adapter: str | None
    """The adapter folder or checkpoint that was active; None for the base model."""
    params: dict[str, Any]
    """The generation settings (GenerationConfig as a dict)."""
    seed: int | None
    created: str


@dataclass(frozen=True)
class ComparisonRow:
    """A pairwise verdict on two completions of one prompt, with their texts."""

    id: int
    prompt_id: int
    prompt: str
    left_id: int
    left_text: str
    right_id: int
    right_text: str
    verdict: str
    """left | right | tie | both_bad."""
    rater: str
    """A person's name, or `ai:<judge>`."""
    note: str | None
    soft_label: float | None
    """P(left is better) from an AI judge; None for people."""
    detail: dict[str, Any] | None
    swapped: bool | None
    """True when the left side shown was generated second (the GUI shuffles sides)."""
    created: str

    @property
    def is_ai(self) -> bool:
        """Whether an AI labeller gave this verdict."""
        return is_ai_rater(self.rater)


@dataclass(frozen=True)
class RatingRow:
    """A scalar rating of one completion."""

    id: int
    generation_id: int
    prompt: str
    response: str
    value: float
    rater: str
    note: str | None
    created: str

    @property
    def is_ai(self) -> bool:
        """Whether an AI labeller gave this rating."""
        return is_ai_rater(self.rater)


@dataclass(frozen=True)
class ScoreRow:
    """An automatic score of one completion by a reward source."""

    id: int
    generation_id: int
    source: str
    value: float
    detail: dict[str, Any] | None
    created: str


@dataclass(frozen=True)
class RunRow:
    """A training run (PPO, reward model...) and where it stands."""

    id: int
    kind: str
    name: str
    config: dict[str, Any]
    status: str
    """running | paused | stopped | finished | failed."""
    error: str | None
    created: str
    updated: str


@dataclass(frozen=True)
class CheckpointRow:
    """A checkpoint folder a run saved at a step."""

    id: int
    run_id: int
    step: int
    path: str
    created: str


@dataclass(frozen=True)
class ResolutionRow:
    """A person's final verdict on a pair people disagree on (core.data.conflicts), with the
    pair's texts. The verdicts it settles stay stored; it names them."""

    id: int
    prompt_id: int
    prompt: str
    left_id: int
    left_text: str
    right_id: int
    right_text: str
    verdict: str
    """left | right | tie: which of the two answers is better."""
    resolver: str
    note: str | None
    comparison_ids: tuple[int, ...]
    """The verdicts on the pair when it was settled (what the resolver weighed)."""
    created: str
