"""Start or resume a training run inside a workspace: one code path for the CLI and the
GUI, for every algorithm (an `Algorithm` names its run kind and how to build and resume
its trainer; core.algorithms' AlgorithmSpec.algorithm() makes one for every kind).

A run gets a row in the store and a checkpoint folder `<workspace>/checkpoints/run-<id>/`
whose `step-<N>/` subfolders each hold a PEFT adapter folder and the trainer state.

Everything that can be checked is checked before the run's row exists: the settings,
the model, the prompts (the trainer is built first), so a refused run leaves no record.

A run trained on prompts also keeps them (core.data.run_prompts), so it can be exported.

A checkpoint records the workspace and the run it belongs to. Resuming it in its own
workspace continues that run (its records past the checkpoint's step are replaced);
resuming it anywhere else starts a new run there that notes where it came from, and
never touches the other workspace or a run of this one that happens to share its id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from core.config import to_dict
from core.data.run_prompts import record_run_prompts
from core.errors import StudioError
from core.paths import run_checkpoint_dir
from core.train import checkpoints as ckpt
from core.train.control import NamedReward, RunControl
from core.train.reward_history import forget_changes_after, record_reward_change, reward_at
from core.train.run import StepwiseTrainer, TrainingRun

if TYPE_CHECKING:
    from core.model.session import ModelSession
    from core.store import Store
    from core.train.resumable import CheckpointedTrainer


@dataclass(frozen=True)
class Algorithm:
    """A trainer the shared launch can start and resume."""

    kind: str
    """The run's kind in the store, its config's key in the run record, the CLI command."""
    build: Callable[..., StepwiseTrainer]
    """(session, reward, prompts, config) -> a trainer; raises on anything it refuses.
    Trainers from stored data (core.offline) take reward None and their dataset (pairs,
    ratings, demonstrations) in place of the prompts."""
    resume: Callable[..., StepwiseTrainer]
    """(checkpoint folder, session, reward, prompts, steps, save_to) -> the trainer as it
    was at the checkpoint, with `steps` as its new total when given."""
    reads_unnamed_checkpoints: bool = False
    """Whether checkpoints whose meta names no algorithm (written before the field) are
    this trainer's: PPO's, the only trainer then."""

    @classmethod
    def of(cls, trainer_class: type[CheckpointedTrainer]) -> Algorithm:
        """The binding of a trainer class (its `kind`, constructor and `resume`)."""
        return cls(
            trainer_class.kind,
            build=trainer_class,
            resume=trainer_class.resume,
            reads_unnamed_checkpoints=getattr(trainer_class, "reads_unnamed_checkpoints", False),
        )


def start_run(
    store: Store,
    algorithm: Algorithm,
    session: ModelSession,
    reward: NamedReward | None,
    prompts: Sequence[str],
    config: Any,
    reward_specs: Sequence[str] = (),
    name: str | None = None,
    control: RunControl | None = None,
) -> TrainingRun:
    """Build the trainer (every check), then record a new run; returns it, not started."""
    trainer = algorithm.build(session, reward, prompts, config)
    run_config = _run_config(algorithm, session, reward, prompts, config, reward_specs)
    run_id = store.create_run(algorithm.kind, run_config, name)
    trainer.checkpoint_dir = run_checkpoint_dir(store.workspace, run_id)
    record_run_prompts(store.workspace, run_id, prompts)
    return TrainingRun(trainer, store, run_id, control)


def resume_run(
    store: Store,
    algorithm: Algorithm,
    checkpoint: Path,
    session: ModelSession,
    reward: NamedReward | None,
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
    _check_algorithm(folder, algorithm)
    run_id = own_run_of(store, folder)
    if run_id is None:
        return _resume_as_new_run(
            store, algorithm, folder, session, reward, prompts, steps, reward_specs, control
        )
    store.claim_run(run_id)  # one process per run: a second resume is refused here
    try:
        save_to = run_checkpoint_dir(store.workspace, run_id)
        trainer = algorithm.resume(folder, session, reward, prompts, steps, save_to)
    except BaseException:
        store.release_run(run_id)
        raise
    record_run_prompts(store.workspace, run_id, prompts)
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
    if not isinstance(run_id, int) or not _is_run_of(store, run_id, algorithm_of(meta)):
        return None
    if "workspace_id" in meta:
        return run_id if meta["workspace_id"] == store.workspace_id else None
    own_folder = run_checkpoint_dir(store.workspace, run_id).resolve()
    return run_id if folder.resolve().parent == own_folder else None


def _resume_as_new_run(
    store: Store,
    algorithm: Algorithm,
    folder: Path,
    session: ModelSession,
    reward: NamedReward | None,
    prompts: Sequence[str],
    steps: int | None,
    reward_specs: Sequence[str] | None,
    control: RunControl | None,
) -> TrainingRun:
    """A foreign checkpoint: a new run here, continuing its weights and state."""
    trainer = algorithm.resume(folder, session, reward, prompts, steps, None)
    meta = ckpt.read_meta(folder)
    origin = {
        "checkpoint": str(folder),
        "step": trainer.step_count,
        "run_id": meta.get("run_id"),
        "workspace_id": meta.get("workspace_id"),
    }
    config = _run_config(algorithm, session, reward, prompts, trainer.config, reward_specs or ())
    run_id = store.create_run(algorithm.kind, {**config, "resumed_from": origin})
    trainer.checkpoint_dir = run_checkpoint_dir(store.workspace, run_id)
    record_run_prompts(store.workspace, run_id, prompts)
    return TrainingRun(trainer, store, run_id, control, resumed_from=origin)


def _run_config(
    algorithm: Algorithm,
    session: ModelSession,
    reward: NamedReward | None,
    prompts: Sequence[str],
    config: Any,
    specs: Sequence[str],
) -> dict[str, Any]:
    return {
        algorithm.kind: to_dict(config),
        "algorithm": algorithm.kind,
        "model": session.name,
        "model_spec": to_dict(session.spec),
        "reward": reward.name if reward is not None else None,  # offline trainers: none
        "reward_specs": list(specs),
        "prompts": len(prompts),
    }


def algorithm_of(meta: dict[str, Any]) -> str | None:
    """The algorithm a checkpoint's meta names; None for checkpoints written before the
    field (PPO's: Algorithm.reads_unnamed_checkpoints). core.algorithms.kind_of_checkpoint
    also refuses unknown kinds."""
    kind = meta.get("algorithm")
    return None if kind is None else str(kind)


class Kinded(Protocol):
    """What names a run's algorithm: an Algorithm here, or a core.algorithms spec."""

    @property
    def kind(self) -> str: ...

    @property
    def reads_unnamed_checkpoints(self) -> bool: ...


def check_checkpoint_algorithm(checkpoint: Path, algorithm: Kinded) -> None:
    """Refuse, in one line, to resume a checkpoint with another algorithm than its own
    (callers check before loading a model; resume_run checks again)."""
    _check_algorithm(ckpt.resolve_checkpoint(Path(checkpoint)), algorithm)


def _check_algorithm(folder: Path, algorithm: Kinded) -> None:
    written_by = algorithm_of(ckpt.read_meta(folder))
    if written_by is None and algorithm.reads_unnamed_checkpoints:
        return
    if written_by is None:
        raise StudioError(
            f"{folder} was written before checkpoints named their algorithm, when PPO was the "
            f"only one; resume it with `ppo --resume` (or PPO on the Train page), not "
            f"{algorithm.kind}."
        )
    if written_by != algorithm.kind:
        raise StudioError(
            f"{folder} is a {written_by} checkpoint; resume it with `{written_by} --resume` "
            f"(or the {written_by.upper()} algorithm on the Train page), not {algorithm.kind}."
        )


def _is_run_of(store: Store, run_id: int, kind: str | None) -> bool:
    """Whether the workspace has run `run_id` of this kind (any kind for a checkpoint
    written before checkpoints named their algorithm)."""
    return any(run.id == run_id for run in store.runs(kind))


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
