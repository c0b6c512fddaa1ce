"""The training commands on ranks other than 0, under `torchrun` or `accelerate launch`.

Rank 0 runs a command as one process does (store, run record, checkpoints, metrics,
stdout) and sends the others what it read from the store (`share_inputs`). Every other
rank builds the same trainer from what it receives, on its own device, and steps it for
as long as rank 0 says (core.train.distributed.follow). They open no store, take no lock,
write no file and print nothing on stdout.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import ModelSpec
from core.errors import TrainingError
from core.train.distributed import World, current_world, follow

if TYPE_CHECKING:
    from core.algorithms import AlgorithmSpec
    from core.model.session import ModelSession
    from core.rewards.base import RewardSource
    from core.train.launch import Algorithm
    from core.train.run import StepwiseTrainer


@dataclass(frozen=True)
class SharedInputs:
    """What rank 0 read (from the store, files and the checkpoint) for the others."""

    data: Sequence[Any]
    """The prompts (on-policy trainers) or the examples (offline trainers)."""
    config: Any
    """The run's settings; None on --resume (the checkpoint's)."""
    resume: str | None
    """The checkpoint folder resumed, resolved by rank 0."""
    steps: int | None
    prompt_format: str | None
    reward_specs: list[str] = field(default_factory=list)
    references: dict[str, str] = field(default_factory=dict)


def share_inputs(inputs: SharedInputs | None) -> SharedInputs:
    """Rank 0's inputs on every rank (in one process: the inputs themselves)."""
    shared = current_world().share(inputs)
    if shared is None:  # only followers pass None; rank 0 always sends what it read
        raise TrainingError("Rank 0 sent no training inputs; start every rank the same way.")
    return shared


def training_spec(spec: ModelSpec) -> ModelSpec:
    """The model spec with this rank's device (its own GPU over several processes)."""
    return replace(spec, device=current_world().device(spec.device))


def follow_on_policy(args: argparse.Namespace, command: AlgorithmSpec, world: World) -> int:
    """`ppo`/`grpo`/`rloo` on a rank other than 0."""
    from core.rewards import RewardContext, build_reward

    inputs = share_inputs(None)
    session = _load_session(args, inputs)
    context = RewardContext(references=inputs.references, policy_session=session)
    reward = build_reward(inputs.reward_specs, context)
    trainer = _trainer(command.algorithm(), inputs, session, reward)
    follow(trainer.step, world, trainer.save_checkpoint)
    return 0


def follow_offline(args: argparse.Namespace, algorithm: Algorithm, world: World) -> int:
    """`dpo`/`kto`/`sft` on a rank other than 0."""
    inputs = share_inputs(None)
    session = _load_session(args, inputs)
    trainer = _trainer(algorithm, inputs, session, None)
    follow(trainer.step, world, trainer.save_checkpoint)
    return 0


def _load_session(args: argparse.Namespace, inputs: SharedInputs) -> ModelSession:
    from core.cli.common import model_spec_from_args
    from core.model.session import ModelSession

    args.prompt_format = inputs.prompt_format
    return ModelSession.load(training_spec(model_spec_from_args(args)))


def _trainer(
    algorithm: Algorithm,
    inputs: SharedInputs,
    session: ModelSession,
    reward: RewardSource | None,
) -> StepwiseTrainer:
    """The trainer rank 0 builds, without a checkpoint folder (rank 0 writes them)."""
    if inputs.resume is not None:
        return algorithm.resume(Path(inputs.resume), session, reward, inputs.data, inputs.steps)
    return algorithm.build(session, reward, inputs.data, inputs.config)
