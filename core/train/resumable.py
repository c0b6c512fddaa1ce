"""Checkpoints and resume, once for every step-wise LoRA trainer (the on-policy ones of
core.onpolicy.trainer and core.grpo, the offline ones of core.offline).

A trainer mixes in `CheckpointedTrainer` and says what is its own: the meta it adds, the
files besides adapter and config (`_write_extras` / `_load_extras`: PPO's value head), the
state besides the shared one (`_trainer_state` / `_load_trainer_state`, which call
`_common_state` / `_load_common_state`), and what makes a resume refused
(`_check_resume`: the offline trainers refuse changed data). In a run over several
processes only rank 0 writes; every rank resumes from the same folder, with any world size
(the state holds nothing per rank: the weights and optimiser are the same on every rank).
Sharded (FSDP, core.model.sharding), every rank gathers the full adapter and optimiser
state and rank 0 writes them as one process would: the folder does not say how it was run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import torch

from core.config.io import Dataclass, load_json, save_json
from core.errors import StudioError, TrainingError
from core.model.quantize import check_resume_quantize, session_quantize
from core.model.sharding import (
    full_optimizer_state,
    full_trainable_state,
    is_sharded,
    load_full_optimizer_state,
)
from core.train import checkpoint_io, checkpoints
from core.train.control import NamedReward
from core.train.distributed import World
from core.train.events import StepResult
from core.train.optim import with_own_kernels

if TYPE_CHECKING:
    from core.model.session import ModelSession

TrainerT = TypeVar("TrainerT", bound="CheckpointedTrainer")


class CheckpointedTrainer:
    """What a trainer needs to save step-<N> folders and to be rebuilt from one."""

    kind: ClassVar[str]
    """The run kind (meta.json's algorithm, the config file's stem)."""
    config_class: ClassVar[type[Dataclass]]

    session: ModelSession
    config: Any  # an instance of config_class
    reward: NamedReward | None  # None for the offline trainers
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    checkpoint_dir: Path | None
    last_checkpoint: Path | None
    world: World
    _step: int
    _failed: bool = False

    if TYPE_CHECKING:  # every trainer's constructor, which resume() calls

        def __init__(
            self,
            session: ModelSession,
            reward: NamedReward | None,
            data: Sequence[Any],
            config: Any,
            checkpoint_dir: Path | None = None,
        ) -> None: ...

    def step(self) -> StepResult:
        """One training step under the session's lock. A failure ends the trainer (its
        weights may be half-updated) and every later call refuses; an error from outside
        the training (a reward source's) is raised as a TrainingError naming the step and
        where to resume from."""
        if self._failed:
            raise TrainingError("This run failed; resume from its last checkpoint to go on.")
        try:
            with self.session.lock:
                return self._train_step()
        except TrainingError:
            self._failed = True
            raise
        except StudioError as error:
            self._failed = True
            message = f"Step {self._step + 1} failed: {error} {self._checkpoint_note()}"
            raise TrainingError(message) from error
        except BaseException:
            self._failed = True
            raise

    def _train_step(self) -> StepResult:
        """One training step (each trainer's own)."""
        raise NotImplementedError

    def _checkpoint_note(self) -> str:
        """Where a failed run goes on from: its last checkpoint, or why there is none."""
        if self.last_checkpoint is not None:
            return f"The last good checkpoint is {self.last_checkpoint}: resume from it."
        every = self.config.checkpoint_every
        if every and self._step < every:
            return f"No checkpoint yet (the first was due at step {every}): start the run again."
        if every:
            return "No checkpoint was saved: start the run again."
        return "No checkpoint was saved; set checkpoint_every to keep one."

    @property
    def step_count(self) -> int:
        """Steps completed so far (the step of the next checkpoint)."""
        return self._step

    def __iter__(self) -> Iterator[StepResult]:
        """All remaining steps, one after another (no store, no pause: see TrainingRun)."""
        while self._step < self.config.steps:
            yield self.step()

    # ------------------------------------------------------------ subclass hooks

    def _checkpoint_meta(self) -> dict[str, Any]:
        """What this trainer adds to meta.json (its reward, how many prompts...)."""
        return {}

    def _write_extras(self, folder: Path) -> None:
        """Write what the trainer keeps besides adapter, config and state."""

    def _load_extras(self, folder: Path) -> None:
        """Read back what _write_extras wrote."""

    def _trainer_state(self) -> dict[str, Any]:
        return self._common_state()

    def _load_trainer_state(self, state: dict[str, Any]) -> None:
        self._load_common_state(state)

    @classmethod
    def _check_resume(
        cls, folder: Path, meta: dict[str, Any], state: dict[str, Any], data: Sequence[Any]
    ) -> None:
        """Raise TrainingError when the checkpoint cannot go on with `data`."""

    # ------------------------------------------------------------------ saving

    @classmethod
    def config_file(cls) -> str:
        """The config's file name in a checkpoint: <kind>_config.json."""
        return f"{cls.kind}_config.json"

    def save_checkpoint(self, meta: Mapping[str, Any] | None = None) -> Path | None:
        """Write checkpoint_dir/step-<N> (atomically); `meta` adds to its meta.json (the
        run and workspace ids, from the TrainingRun that owns this trainer). Ranks other
        than 0 write nothing and return the folder rank 0 writes (None for a follower
        without a checkpoint folder; sharded, it helps gather the adapter and optimiser)."""
        if self.checkpoint_dir is None and self.world.is_main:
            raise TrainingError(
                "This trainer has no checkpoint folder; create it with checkpoint_dir=... "
                "to save checkpoints."
            )
        adapter_state = trainer_state = None
        if is_sharded(self.session.model):  # every rank takes part in gathering the shards
            with self.session.lock:
                adapter_state = full_trainable_state(self.session.model)
                trainer_state = self._trainer_state()
        if not self.world.is_main:
            folder = self.checkpoint_dir
            name = f"{checkpoints.PREFIX}{self._step}"
            self.last_checkpoint = None if folder is None else Path(folder) / name
            return self.last_checkpoint
        checkpoint_dir = self.checkpoint_dir
        assert checkpoint_dir is not None  # rank 0 refused to go on without one, above
        meta = {
            "algorithm": self.kind,
            **(meta or {}),
            "model": self.session.name,
            "prompt_format": self.session.prompt_format,
            "quantize": session_quantize(self.session),
            "model_spec": model_spec_record(getattr(self.session, "spec", None)),
            **self._checkpoint_meta(),
        }

        def write_parts(folder: Path) -> None:
            self.session.save_adapter(folder / checkpoints.ADAPTER_DIR, adapter_state)
            self._write_extras(folder)
            save_json(self.config, folder / self.config_file())

        with self.session.lock:
            path = checkpoint_io.write_checkpoint(
                checkpoint_dir,
                self._step,
                write_parts=write_parts,
                trainer_state=trainer_state or self._trainer_state(),
                meta=meta,
            )
        self.last_checkpoint = path
        return path

    def _common_state(self) -> dict[str, Any]:
        return {
            "step": self._step,
            "optimizer": (
                full_optimizer_state(self.optimizer)  # the single-process format
                if is_sharded(self.session.model)
                else self.optimizer.state_dict()
            ),
            "scheduler": self.scheduler.state_dict(),
            "rng": checkpoint_io.capture_rng_state(),
        }

    def _load_common_state(self, state: dict[str, Any]) -> None:
        self._step = int(state["step"])
        saved = with_own_kernels(self.optimizer, state["optimizer"])
        if is_sharded(self.session.model):
            load_full_optimizer_state(self.optimizer, saved)
        else:
            self.optimizer.load_state_dict(saved)
        self.scheduler.load_state_dict(state["scheduler"])
        checkpoint_io.restore_rng_state(state["rng"])
        # The saved learning rates follow the saved total of steps; a resume may change it.
        sync_learning_rates(self.optimizer, self.scheduler)

    # ------------------------------------------------------------------ resume

    @classmethod
    def resume(
        cls: type[TrainerT],
        checkpoint: Path,
        session: ModelSession,
        reward: NamedReward | None,
        data: Sequence[Any],
        steps: int | None = None,
        save_to: Path | None = None,
    ) -> TrainerT:
        """Continue the run saved in a checkpoint folder (or the latest one in a checkpoints
        folder) on `data` (prompts, or the offline trainers' examples).

        Restores adapter, extra weights, optimiser, schedule, RNG states and data order,
        so the continued run equals one that never stopped. `steps` sets a new total
        number of steps; the LR schedule is built for that total. New checkpoints go to
        `save_to` (default: beside the one resumed).
        """
        folder = checkpoints.resolve_checkpoint(Path(checkpoint))
        meta = checkpoints.read_meta(folder)
        checkpoints.check_prompt_format(folder, meta, session.prompt_format)
        check_resume_quantize(folder, meta, session_quantize(session))
        config = load_json(cls.config_class, folder / cls.config_file())
        if steps is not None:
            config = replace(config, steps=steps)
        state = checkpoint_io.read_trainer_state(folder)
        cls._check_resume(folder, meta, state, data)
        # Load the adapter before the optimiser is built, in case loading replaces parameters.
        with session.lock:
            session.load_adapter(folder / checkpoints.ADAPTER_DIR)
        trainer = cls(session, reward, data, config, save_to or folder.parent)
        trainer._load_extras(folder)
        trainer._load_trainer_state(state)
        trainer.last_checkpoint = folder
        return trainer


def model_spec_record(spec: Any) -> dict[str, Any] | None:
    """What loads the run's base again: path (absolute, for a local folder) or hub id,
    dtype, quantisation, prompt format, LoRA shape; None for sessions without a spec."""
    if spec is None:
        return None
    from core.config.io import to_dict

    record = to_dict(spec)
    source = Path(str(spec.name_or_path)).expanduser()
    if source.exists():
        record["name_or_path"] = str(source.resolve())
    record.pop("adapter_path", None)  # the checkpoint's own adapter replaces it
    record.pop("device", None)  # where to run is the resuming machine's choice
    return record


def sync_learning_rates(
    optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LambdaLR
) -> None:
    """Set each group's learning rate from the schedule at the scheduler's current step.

    After a checkpoint's scheduler state is loaded into a schedule for a different total
    of steps, the optimiser still holds the old schedule's rates; this recomputes them
    exactly as LambdaLR does (base_lr * factor(step)).
    """
    factors = scheduler.lr_lambdas
    for group, base_lr, factor in zip(
        optimizer.param_groups, scheduler.base_lrs, factors, strict=True
    ):
        group["lr"] = base_lr * factor(scheduler.last_epoch)
