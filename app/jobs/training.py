"""The training job: a generator run by a Qt worker, yielding core's run events.

No Qt here. The worker thread opens its own Store (sqlite connections are per thread),
builds the reward and the run there (core.train.launch with the request's algorithm
from app/algorithms.py, the CLI's code path), and passes
on the run's events (core.train.events: RunStarted, StepDone, GuardFired, RunPaused,
RunResumed, RunEnded) as they are; a guardrail that fires pauses the run. Pause, stop and reward swaps go through the run's RunControl,
which the page keeps; the run alone writes its status.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.algorithms import DEFAULT_KIND, spec_of
from core.config import PPOConfig
from core.errors import TrainingError
from core.rewards import RewardSpec, format_reward_spec
from core.rewards.spec import absolute_reward_specs
from core.store import Store
from core.train import RunControl, RunEvent
from core.train.guardrails import GuardrailConfig

# torch and the trainer are imported inside the job: the GUI imports this module at
# start-up, and the libraries come from the background warm-up (app/warm_up.py), which
# also imports what the first step would import lazily.


@dataclass(frozen=True)
class TrainRequest:
    """Everything a run needs besides the model session (plain data)."""

    workspace: Path
    prompt_set: str
    rewards: tuple[RewardSpec, ...]
    config: PPOConfig | Any
    """The algorithm's config (PPOConfig, GRPOConfig...)."""
    name: str | None = None
    resume_from: Path | None = None
    """A checkpoint (step folder) to continue instead of starting a new run; the run
    goes on under its id with config.steps as its new total."""
    kind: str = DEFAULT_KIND
    """The run kind: an on-policy kind of core.algorithms."""
    guardrails: GuardrailConfig | None = field(default_factory=GuardrailConfig)
    """The thresholds of the guardrails that pause the run when it goes wrong
    (core.train.guardrails); None turns them off. On by default in the GUI."""


def run_training(session: Any, request: TrainRequest, control: RunControl) -> Iterator[RunEvent]:
    """Train, yielding the run's events; a refused start leaves no run record."""
    import torch

    from core.rewards import RewardContext, build_reward
    from core.train.launch import resume_run, start_run

    torch.set_grad_enabled(True)  # grad mode is per thread; the trainer manages it inside
    store = Store.open(request.workspace)
    reward = None
    try:
        prompts, references = _prompts(store, request.prompt_set)
        context = RewardContext(references=references, policy_session=session)
        reward = build_reward(list(request.rewards), context)
        # Recorded with absolute paths, so a resume never depends on the current folder.
        specs = absolute_reward_specs([format_reward_spec(spec) for spec in request.rewards])
        algorithm = spec_of(request.kind).algorithm()
        if request.resume_from is not None:
            run = resume_run(
                store, algorithm, request.resume_from, session, reward, prompts,
                request.config.steps, specs, control,
            )  # fmt: skip
        else:
            run = start_run(
                store, algorithm, session, reward, prompts, request.config, specs,
                request.name, control,
            )  # fmt: skip
        if request.guardrails is not None:
            from core.train.guardrails import Guardrails

            run.guardrails = Guardrails.for_run(run.config, request.guardrails)
        yield from run.events()
    finally:
        close = getattr(reward, "close", None)
        if close is not None:
            close()
        store.close()


def _prompts(store: Store, set_name: str) -> tuple[list[str], dict[str, str]]:
    rows = store.prompts(set_name)
    if not rows:
        raise TrainingError(
            f"The prompt set '{set_name}' holds no prompts; add some on the Prompts page "
            "or choose another set."
        )
    references = {row.text: row.reference for row in rows if row.reference}
    return [row.text for row in rows], references


def reward_labels(specs: Sequence[RewardSpec]) -> str:
    """The reward as one line, e.g. "sentiment + 0.2·length=12"."""
    parts = []
    for spec in specs:
        text = spec.kind if spec.arg is None else f"{spec.kind}={spec.arg}"
        parts.append(text if spec.weight == 1.0 else f"{spec.weight:g}·{text}")
    return " + ".join(parts)
