"""PPO's binding to the shared launch (core.train.launch): start or resume a PPO run in a
workspace, one code path for the CLI and the GUI."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from core.config import PPOConfig
from core.paths import run_checkpoint_dir
from core.ppo.trainer import PPOTrainer
from core.train import launch
from core.train.launch import Algorithm, own_run_of, reward_specs_to_resume

if TYPE_CHECKING:
    from core.model.session import ModelSession
    from core.rewards.base import RewardSource
    from core.store import Store
    from core.train import RunControl, TrainingRun

PPO = Algorithm.of(PPOTrainer)

__all__ = [
    "PPO",
    "own_run_of",
    "resume_run",
    "reward_specs_to_resume",
    "run_checkpoint_dir",
    "start_run",
]


def start_run(
    store: Store,
    session: ModelSession,
    reward: RewardSource,
    prompts: Sequence[str],
    config: PPOConfig,
    reward_specs: Sequence[str] = (),
    name: str | None = None,
    control: RunControl | None = None,
) -> TrainingRun:
    """Build the PPO trainer (every check), then record a new run; returns it, not started."""
    return launch.start_run(
        store, PPO, session, reward, prompts, config, reward_specs, name, control
    )


def resume_run(
    store: Store,
    checkpoint: Path,
    session: ModelSession,
    reward: RewardSource,
    prompts: Sequence[str],
    steps: int | None = None,
    reward_specs: Sequence[str] | None = None,
    control: RunControl | None = None,
) -> TrainingRun:
    """Continue the PPO run saved in `checkpoint` (see core.train.launch.resume_run)."""
    return launch.resume_run(
        store, PPO, checkpoint, session, reward, prompts, steps, reward_specs, control
    )
