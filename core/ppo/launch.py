"""Start or resume a PPO run inside a workspace: one code path for the CLI and the GUI.

A run gets a row in the store and a checkpoint folder `<workspace>/checkpoints/run-<id>/`
whose `step-<N>/` subfolders each hold a PEFT adapter folder and the trainer state.

Everything that can be checked is checked before the run's row exists: the settings,
the model, the prompts (the trainer is built first), so a refused run leaves no record.

A checkpoint records the workspace and the run it belongs to. Resuming it in its own
workspace continues that run (its records past the checkpoint's step are replaced);
resuming it anywhere else starts a new run there that notes where it came from, and
never touches the other workspace or a run of this one that happens to share its id.
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
from core.store import Store
from core.train import RunControl, TrainingRun


def start_run(
    store: Store,
    session: Any,
    reward: Any,
    prompts: Sequence[str],
    config: PPOConfig,
    reward_specs: Sequence[str] = (),
    name: str | None = None,
    control: RunControl | None = None,
) -> TrainingRun:
    """Build the trainer (every check), then record a new run; returns it, not started."""
    trainer = PPOTrainer(session, reward, prompts, config)
    run_id = store.create_run(
        "ppo", _run_config(session, reward, prompts, config, reward_specs), name
    )
    trainer.checkpoint_dir = run_checkpoint_dir(store.workspace, run_id)
    return TrainingRun(trainer, store, run_id, control)


def resume_run(
    store: Store,
    checkpoint: Path,
    session: Any,
    reward: Any,
    prompts: Sequence[str],
    steps: int | None = None,
    reward_specs: Sequence[str] | None = None,
    control: RunControl | None = None,
) -> TrainingRun:
    """Continue the run saved in `checkpoint` (a step folder, or a run's checkpoint folder).

    `steps` changes the run's total number of steps (to extend or cut it short); the rest of
    the configuration is the checkpoint's, so the run goes on as it would have.
    `reward_specs` names the reward `reward` was built from, noted in the run's reward
    history when it differs from the one the run had at the checkpoint.
    """
    folder = ckpt.resolve_checkpoint(Path(checkpoint))
    run_id = own_run_of(store, folder)
    if run_id is None:
        return _resume_as_new_run(
            store, folder, session, reward, prompts, steps, reward_specs, control
        )
    store.claim_run(run_id)  # one process per run: a second resume is refused here
    try:
        save_to = run_checkpoint_dir(store.workspace, run_id)
        trainer = PPOTrainer.resume(folder, session, reward, prompts, steps, save_to)
    except BaseException:
        store.release_run(run_id)
        raise
    store.delete_metrics_after(run_id, trainer.step_count)
    forget_changes_after(store, run_id, trainer.step_count)
    if reward_specs is not None:
        record_reward_change(store, run_id, trainer.step_count, reward_specs)
    store.set_run_status(run_id, "running")
    return TrainingRun(trainer, store, run_id, control, resumed=True)


def own_run_of(store: Store, folder: Path) -> int | None:
    """The id of the run of this workspace that `folder` (a checkpoint) belongs to, or None
    when it comes from another workspace.

    Checkpoints record their workspace's id. Older ones do not: they count as this
    workspace's only when they lie in this workspace's folder of the run they name.
    """
    meta = ckpt.read_meta(folder)
    run_id = meta.get("run_id")
    if not isinstance(run_id, int) or not _is_ppo_run(store, run_id):
        return None
    if "workspace_id" in meta:
        return run_id if meta["workspace_id"] == store.workspace_id else None
    own_folder = run_checkpoint_dir(store.workspace, run_id).resolve()
    return run_id if folder.resolve().parent == own_folder else None


def _resume_as_new_run(
    store: Store,
    folder: Path,
    session: Any,
    reward: Any,
    prompts: Sequence[str],
    steps: int | None,
    reward_specs: Sequence[str] | None,
    control: RunControl | None,
) -> TrainingRun:
    """A foreign checkpoint: a new run here, continuing its weights and state."""
    trainer = PPOTrainer.resume(folder, session, reward, prompts, steps)
    meta = ckpt.read_meta(folder)
    origin = {
        "checkpoint": str(folder),
        "step": trainer.step_count,
        "run_id": meta.get("run_id"),
        "workspace_id": meta.get("workspace_id"),
    }
    config = _run_config(session, reward, prompts, trainer.config, reward_specs or ())
    run_id = store.create_run("ppo", {**config, "resumed_from": origin})
    trainer.checkpoint_dir = run_checkpoint_dir(store.workspace, run_id)
    return TrainingRun(trainer, store, run_id, control, resumed_from=origin)


def _run_config(
    session: Any, reward: Any, prompts: Sequence[str], config: PPOConfig, specs: Sequence[str]
) -> dict[str, Any]:
    return {
        "ppo": to_dict(config),
        "model": session.name,
        "model_spec": to_dict(session.spec),
        "reward": reward.name,
        "reward_specs": list(specs),
        "prompts": len(prompts),
    }


def _is_ppo_run(store: Store, run_id: int) -> bool:
    return any(run.id == run_id for run in store.runs("ppo"))


def reward_specs_to_resume(store: Store, checkpoint: Path) -> list[str]:
    """The reward a checkpoint's run was training against at the checkpoint's step: the
    reward it started with, or the latest change before then (an AI feedback round's reward
    model, a resume with another reward). Raises a StudioError when the run is not one of
    this workspace's (the caller must then name the reward)."""
    folder = ckpt.resolve_checkpoint(Path(checkpoint))
    run_id = own_run_of(store, folder)
    specs = reward_at(store, run_id, ckpt.checkpoint_step(folder) or 0) if run_id else []
    if not specs:
        raise StudioError(
            f"The checkpoint {folder} comes from another workspace, so its reward is not "
            "recorded here; name it with --reward (e.g. --reward sentiment) to continue it "
            "as a new run in this workspace."
        )
    return specs
