"""Start or resume a PPO run inside a workspace: one code path for the CLI and the GUI.

A run gets a row in the store and a checkpoint folder `<workspace>/checkpoints/run-<id>/`
whose `step-<N>/` subfolders each hold a PEFT adapter folder and the trainer state.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.config import PPOConfig, to_dict
from core.errors import StudioError
from core.paths import run_checkpoint_dir
from core.ppo import checkpoint as ckpt
from core.ppo.reward_history import forget_changes_after, record_reward_change, reward_at
from core.ppo.trainer import PPOTrainer


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
    reward_specs: Sequence[str] | None = None,
) -> PPOTrainer:
    """Continue the run saved in `checkpoint` (a step folder, or a run's checkpoint folder).

    `steps` changes the run's total number of steps (to extend or cut it short); the rest of
    the configuration is the checkpoint's, so the run goes on as it would have.
    `reward_specs` names the reward `reward` was built from, noted in the run's reward
    history when it differs from the one the run had at the checkpoint.
    """
    trainer = PPOTrainer.resume(Path(checkpoint), session, reward, prompts, store, steps)
    forget_changes_after(store, trainer.run_id, trainer.step_count)
    if reward_specs is not None:
        record_reward_change(store, trainer.run_id, trainer.step_count, reward_specs)
    store.set_run_status(trainer.run_id, "running")
    return trainer


def reward_specs_to_resume(store: Any, checkpoint: Path) -> list[str]:
    """The reward a checkpoint's run was training against at the checkpoint's step: the
    reward it started with, or the latest change before then (an AI feedback round's reward
    model, a resume with another reward). Raises a StudioError when the run is not in this
    workspace's store (the caller must then name the reward)."""
    folder = ckpt.resolve_checkpoint(Path(checkpoint))
    run_id = ckpt.read_meta(folder).get("run_id")
    known = run_id is not None and any(run.id == run_id for run in store.runs("ppo"))
    specs = reward_at(store, run_id, ckpt.checkpoint_step(folder) or 0) if known else []
    if not specs:
        raise StudioError(
            f"The reward of the run saved in {folder} is not recorded in this workspace; "
            "name it with --reward (e.g. --reward sentiment)."
        )
    return specs
