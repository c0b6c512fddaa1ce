"""Start or resume a PPO run inside a workspace: one code path for the CLI and the GUI.

A run gets a row in the store and a checkpoint folder `<workspace>/checkpoints/run-<id>/`
whose `step-<N>/` subfolders each hold a PEFT adapter folder and the trainer state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.config import PPOConfig, to_dict
from core.ppo.trainer import PPOTrainer

CHECKPOINTS_DIR = "checkpoints"


def run_checkpoint_dir(workspace: Path, run_id: int) -> Path:
    """Where the checkpoints of run `run_id` go."""
    return Path(workspace) / CHECKPOINTS_DIR / f"run-{run_id}"


def start_run(
    store: Any,
    session: Any,
    reward: Any,
    prompts: Sequence[str],
    config: PPOConfig,
    reward_specs: Sequence[str] = (),
    name: str | None = None,
) -> PPOTrainer:
    """Record a new run in the store and return its trainer (not started yet)."""
    run_config = {
        "ppo": to_dict(config),
        "model": session.name,
        "model_spec": to_dict(session.spec),
        "reward": reward.name,
        "reward_specs": list(reward_specs),
        "prompts": len(prompts),
    }
    run_id = store.create_run("ppo", run_config, name=name)
    return PPOTrainer(
        session,
        reward,
        prompts,
        config,
        store=store,
        run_id=run_id,
        checkpoint_dir=run_checkpoint_dir(store.workspace, run_id),
    )


def resume_run(
    store: Any,
    checkpoint: Path,
    session: Any,
    reward: Any,
    prompts: Sequence[str],
    steps: int | None = None,
) -> PPOTrainer:
    """Continue the run saved in `checkpoint` (a step folder, or a run's checkpoint folder).

    `steps` changes the run's total number of steps (to extend or cut it short); the rest of
    the configuration is the checkpoint's, so the run goes on as it would have.
    """
    trainer = PPOTrainer.resume(Path(checkpoint), session, reward, prompts, store=store)
    if steps is not None:
        trainer.config = replace(trainer.config, steps=steps)
    store.set_run_status(trainer.run_id, "running")
    return trainer
