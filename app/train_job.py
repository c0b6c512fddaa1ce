"""The PPO training job: a generator run by a Qt worker, yielding plain-data events.

No Qt here. The worker thread opens its own Store (sqlite connections are per thread),
builds the reward and the trainer there, and yields one event per step:

    {"event": "started", "run_id", "name", "config", "history" (a resumed run's steps)}
    {"event": "step", "step", "total", "metrics", "samples"}
    {"event": "paused", "step"} / {"event": "resumed"}
    {"event": "ended", "run_id", "status", "checkpoint"}

Pause and stop come through a TrainingControl and act between steps only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from core.config import PPOConfig, to_dict
from core.errors import TrainingError
from core.rewards import RewardContext, RewardSpec, build_reward, format_reward_spec
from core.store import Store

if TYPE_CHECKING:
    from core.ppo import PPOTrainer

# torch and the trainer are imported inside the job: the GUI imports this module at
# start-up, and the libraries come from the background warm-up (app/warm_up.py), which
# also imports what the first step would import lazily.


class Control(Protocol):
    """What the job needs from app.workers.TrainingControl."""

    paused: bool
    stop_requested: bool

    def attach(self, trainer: Any) -> None: ...
    def wait_if_paused(self) -> None: ...


@dataclass(frozen=True)
class TrainRequest:
    """Everything a run needs besides the model session (plain data)."""

    workspace: Path
    prompt_set: str
    rewards: tuple[RewardSpec, ...]
    config: PPOConfig
    name: str | None = None
    resume_from: Path | None = None
    """A checkpoint (step folder) to continue instead of starting a new run; the run
    goes on under its id with config.steps as its new total."""


def run_ppo(session: Any, request: TrainRequest, control: Control) -> Iterator[dict[str, Any]]:
    """Train, yielding events; the run's status in the store follows pause/stop/end."""
    import torch

    torch.set_grad_enabled(True)  # grad mode is per thread; the trainer manages it inside
    store = Store.open(request.workspace)
    reward = None
    try:
        prompts, references = _prompts(store, request.prompt_set)
        context = RewardContext(references=references, policy_session=session)
        reward = build_reward(list(request.rewards), context)
        trainer = _trainer(store, session, reward, prompts, request)
        run_id = trainer.run_id
        control.attach(trainer)
        yield {
            "event": "started",
            "run_id": run_id,
            "name": store.run(run_id).name,
            "config": to_dict(trainer.config),
            "history": store.metrics(run_id) if request.resume_from is not None else [],
        }
        yield from _steps(trainer, store, run_id, control)
        yield {
            "event": "ended",
            "run_id": run_id,
            "status": trainer.state,
            "checkpoint": str(trainer.last_checkpoint) if trainer.last_checkpoint else None,
        }
    finally:
        close = getattr(reward, "close", None)
        if close is not None:
            close()
        store.close()


def _trainer(store: Store, session: Any, reward: Any, prompts: list[str], request: TrainRequest):
    """A new run, or the checkpoint's run continued (core's launch: the CLI's code path)."""
    from core.ppo.launch import resume_run, start_run

    specs = [format_reward_spec(spec) for spec in request.rewards]
    if request.resume_from is not None:
        return resume_run(
            store, request.resume_from, session, reward, prompts, request.config.steps, specs
        )
    latest = store.latest_run()
    try:
        return start_run(store, session, reward, prompts, request.config, specs, request.name)
    except Exception as error:
        run = store.latest_run()
        if run is not None and (latest is None or run.id != latest.id):
            store.set_run_status(run.id, "failed", str(error))  # recorded, then refused
        raise


def _steps(trainer: PPOTrainer, store: Store, run_id: int, control: Control) -> Iterator[dict]:
    total = trainer.config.steps
    for result in trainer:
        yield {
            "event": "step",
            "step": result.step,
            "total": total,
            "metrics": dict(result.metrics),
            "samples": [dict(sample) for sample in result.samples],
            "held_out": [dict(answer) for answer in result.held_out],
        }
        if control.paused and not control.stop_requested and result.step < total:
            # Between steps the model lock is free: the GUI may sample the policy now.
            store.set_run_status(run_id, "paused")
            yield {"event": "paused", "step": result.step}
            control.wait_if_paused()
            if not control.stop_requested:
                store.set_run_status(run_id, "running")
                yield {"event": "resumed"}


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
