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
from core.ppo import checkpoint as ckpt
from core.ppo.trainer import PPOTrainer
from core.rlaif.loop import rounds_of

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
    trainer = PPOTrainer.resume(Path(checkpoint), session, reward, prompts, store, steps)
    store.set_run_status(trainer.run_id, "running")
    return trainer


def reward_specs_to_resume(store: Any, checkpoint: Path) -> list[str]:
    """The reward a checkpoint's run was training against when the checkpoint was saved.

    That is the reward model of the run's latest AI feedback round at or before the
    checkpoint's step, else the reward the run started with. Raises a StudioError when
    the run is not in this workspace's store (the caller must then name the reward).
    """
    folder = ckpt.resolve_checkpoint(Path(checkpoint))
    run_id = ckpt.read_meta(folder).get("run_id")
    run = next((r for r in store.runs("ppo") if r.id == run_id), None)
    specs = list(run.config.get("reward_specs") or []) if run is not None else []
    if not specs:
        raise StudioError(
            f"The reward of the run saved in {folder} is not recorded in this workspace; "
            "name it with --reward (e.g. --reward sentiment)."
        )
    step = ckpt.checkpoint_step(folder) or 0
    rounds = [r for r in rounds_of(store, run.id) if r.step <= step]
    return [f"rm={rounds[-1].reward_model}"] if rounds else specs
