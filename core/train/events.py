"""What a run reports, event by event: small frozen dataclasses of plain Python data.

The CLI prints them; the GUI's training worker passes them through a Qt signal as they
are (safe to hand to another thread: nothing here is a tensor or a live object).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StepResult:
    """What a trainer's `step()` returns: plain Python data, safe to hand to another thread."""

    step: int
    metrics: dict[str, float]
    samples: list[dict]  # prompt, response, reward, reference (the adapter-off response)
    held_out: list[dict] = field(default_factory=list)  # the same for held-out prompts


@dataclass(frozen=True)
class RunStarted:
    """The run exists (new, or resumed) and its first step is about to run."""

    run_id: int
    name: str
    config: dict[str, Any]  # the trainer's config as a dict
    history: list[dict[str, float]] = field(default_factory=list)  # a resumed run's steps
    resumed_from: dict[str, Any] | None = None  # a foreign checkpoint this run continues


@dataclass(frozen=True)
class StepDone:
    """One training step: its metrics and the samples kept for people to read."""

    step: int
    total: int
    metrics: dict[str, float]
    samples: list[dict[str, Any]]
    held_out: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RunPaused:
    """Paused after `step`: the model is free for other jobs until RunResumed."""

    step: int


@dataclass(frozen=True)
class RunResumed:
    """Going on after a pause."""

    step: int


@dataclass(frozen=True)
class GuardFired:
    """A guardrail (core.train.guardrails) fired after `step`: the run pauses (or, asked
    to, stops) next. `rule` names it; `message` says what happened and what to try."""

    step: int
    rule: str
    message: str


@dataclass(frozen=True)
class RunEnded:
    """The run reached a final status (finished, stopped)."""

    run_id: int
    status: str
    checkpoint: str | None  # the last checkpoint folder, if any


RunEvent = RunStarted | StepDone | GuardFired | RunPaused | RunResumed | RunEnded
"""Any of the above."""
