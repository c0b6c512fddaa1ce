"""The step-wise trainer shared by DPO/IPO, KTO and SFT: data split and order, micro-
batched gradient steps on the LoRA adapter, held-out evaluation, checkpoints and resume.

An algorithm subclass says only how to lay out its data (`_build_tables`), its loss on a
micro-batch (`_batch_loss`) and its held-out figures (`_evaluate`); its loss maths live
in its own module. Like PPOTrainer it knows nothing of stores or run records: a
TrainingRun (core.train.run) drives it, core.offline.launch binds it to the shared
launch. The model runs with dropout off, as TRL's DPOTrainer does by default, so the
policy starts exactly at the reference.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, is_dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from core.config_io import load_json, save_json
from core.errors import TrainingError
from core.grad_checkpointing import recomputing_layers, set_gradient_checkpointing
from core.offline.batching import chunks
from core.offline.config import OfflineConfig
from core.offline.data import split_examples
from core.ppo.metrics import perf_metrics
from core.ppo.optim import build_optimizer, build_scheduler, sync_learning_rates
from core.ppo.rollout import PromptOrder
from core.settings import setting_problems
from core.train import checkpoints as ckpt
from core.train.checkpoint_io import (
    capture_rng_state,
    read_trainer_state,
    restore_rng_state,
    write_checkpoint,
)
from core.train.events import StepResult

Stats = dict[str, float]


class OfflineTrainer:
    """LoRA training of one ModelSession on a fixed dataset (pairs, ratings or demos)."""

    kind: ClassVar[str] = "offline"
    config_class: ClassVar[type] = OfflineConfig

    def __init__(
        self,
        session: Any,
        reward: Any,
        data: Sequence[Any],
        config: OfflineConfig,
        checkpoint_dir: Path | None = None,
    ) -> None:
        _check_config(config, self.kind)
        if not session.has_adapter:
            raise TrainingError(
                f"{self.kind.upper()} trains a LoRA adapter, but the model was loaded without "
                "one; load it with a LoRA setting (ModelSpec.lora)."
            )
        self.session, self.reward, self.config = session, reward, config
        self.data = list(data)
        with session.lock:
            set_gradient_checkpointing(session.model, config.gradient_checkpointing)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        _seed_everything(config.seed)
        self.train_data, self.eval_data = split_examples(
            self.data, config.eval_fraction, config.seed
        )
        with session.lock:
            self._build_tables()
        self.order = PromptOrder(len(self.train_data), config.seed)
        self._parameters = [p for p in session.model.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(self._parameters, config)
        self.scheduler = build_scheduler(self.optimizer, config)
        self._step = 0
        self._failed = False
        self.last_checkpoint: Path | None = None

    # ----------------------------------------------------------- subclass hooks

    def _build_tables(self) -> None:
        """Tokenise self.train_data and self.eval_data (SequenceTables)."""
        raise NotImplementedError

    def _batch_loss(self, indices: list[int]) -> tuple[torch.Tensor, Stats]:
        """(mean loss with gradient, gauges) of the training examples `indices`."""
        raise NotImplementedError

    def _evaluate(self) -> Stats:
        """Held-out figures (eval/... keys), computed without gradients."""
        raise NotImplementedError

    # -------------------------------------------------------------------- steps

    @property
    def step_count(self) -> int:
        """Optimiser steps completed so far (the step of the next checkpoint)."""
        return self._step

    def __iter__(self) -> Iterator[StepResult]:
        """All remaining steps (no store, no pause: see TrainingRun)."""
        while self._step < self.config.steps:
            yield self.step()

    def step(self) -> StepResult:
        """One optimiser step over the next batch; a failure ends the trainer."""
        if self._failed:
            raise TrainingError("This run failed; resume from its last checkpoint to go on.")
        try:
            with self.session.lock:
                return self._train_step()
        except BaseException:
            self._failed = True
            raise

    def _train_step(self) -> StepResult:
        config, started = self.config, time.perf_counter()
        self.session.model.eval()  # dropout off: the policy starts exactly at the reference
        indices = self.order.take(config.batch_size)
        lr = self.optimizer.param_groups[0]["lr"]
        totals: dict[str, float] = {}
        self.optimizer.zero_grad(set_to_none=True)
        with torch.enable_grad(), recomputing_layers(self.session.model):
            for chunk in chunks(indices, config.micro_batch_size):
                loss, stats = self._batch_loss(chunk)
                if not torch.isfinite(loss):
                    raise self._nan_error(f"The {self.kind.upper()} loss became NaN or infinity")
                share = len(chunk) / len(indices)
                (loss * share).backward()
                for key, value in stats.items():
                    totals[key] = totals.get(key, 0.0) + value * share
        grad_norm = self._optimizer_step()
        self.scheduler.step()
        self._step += 1
        metrics = {"step": float(self._step), **totals, "optim/grad_norm": grad_norm, "lr": lr}
        metrics |= perf_metrics(len(indices), time.perf_counter() - started, self.session.device)
        if self.eval_data and (self._step % config.eval_every == 0 or self._step == config.steps):
            with torch.no_grad():
                metrics |= self._evaluate()
        return StepResult(self._step, metrics, [], [])

    def _optimizer_step(self) -> float:
        limit = self.config.max_grad_norm if self.config.max_grad_norm > 0 else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(self._parameters, limit)
        if not torch.isfinite(norm):
            self.optimizer.zero_grad(set_to_none=True)
            raise self._nan_error("The gradients became NaN or infinity")
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(norm)

    def _nan_error(self, what: str) -> TrainingError:
        where = (
            f"resume from {self.last_checkpoint}"
            if self.last_checkpoint is not None
            else "start again"
        )
        return TrainingError(
            f"{what} at step {self._step + 1}; the run stopped. Lower the learning rate and "
            f"{where}."
        )

    # -------------------------------------------------------------- checkpoints

    def save_checkpoint(self, meta: Mapping[str, Any] | None = None) -> Path:
        """Write checkpoint_dir/step-<N> atomically (adapter, <kind>_config.json, state)."""
        if self.checkpoint_dir is None:
            raise TrainingError(
                "This trainer has no checkpoint folder; create it with checkpoint_dir=... "
                "to save checkpoints."
            )
        meta = {
            **(meta or {}),
            "algorithm": self.kind,
            "model": self.session.name,
            "prompt_format": self.session.prompt_format,
            "examples": len(self.data),
        }

        def write_parts(folder: Path) -> None:
            self.session.save_adapter(folder / ckpt.ADAPTER_DIR)
            save_json(self.config, folder / f"{self.kind}_config.json")

        with self.session.lock:
            path = write_checkpoint(
                self.checkpoint_dir,
                self._step,
                write_parts=write_parts,
                trainer_state=self._trainer_state(),
                meta=meta,
            )
        self.last_checkpoint = path
        return path

    def _trainer_state(self) -> dict[str, Any]:
        return {
            "step": self._step,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "order": self.order.state_dict(),
            "data_fingerprint": data_fingerprint(self.data),
            "rng": capture_rng_state(),
        }

    @classmethod
    def resume(
        cls,
        checkpoint: Path,
        session: Any,
        reward: Any,
        data: Sequence[Any],
        steps: int | None = None,
        save_to: Path | None = None,
    ) -> OfflineTrainer:
        """The trainer as it was at `checkpoint` (with `steps` as the new total when given),
        on the same data: a dataset that changed since is refused."""
        folder = ckpt.resolve_checkpoint(Path(checkpoint))
        meta = ckpt.read_meta(folder)
        ckpt.check_prompt_format(folder, meta, session.prompt_format)
        config = load_json(cls.config_class, folder / f"{cls.kind}_config.json")
        if steps is not None:
            config = replace(config, steps=steps)
        state = read_trainer_state(folder)
        if state["data_fingerprint"] != data_fingerprint(data):
            raise TrainingError(
                f"The data changed since {folder} was saved ({meta.get('examples')} examples "
                f"then, {len(data)} now); resume needs the same data. To train on the new "
                f"data, start a new run from its adapter (--adapter {folder / ckpt.ADAPTER_DIR})."
            )
        with session.lock:
            session.load_adapter(folder / ckpt.ADAPTER_DIR)
        trainer = cls(session, reward, data, config, save_to or folder.parent)
        trainer._load_trainer_state(state)
        trainer.last_checkpoint = folder
        return trainer

    def _load_trainer_state(self, state: dict[str, Any]) -> None:
        self._step = int(state["step"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.order.load_state_dict(state["order"])
        restore_rng_state(state["rng"])
        sync_learning_rates(self.optimizer, self.scheduler)


def data_fingerprint(data: Sequence[Any]) -> str:
    """A hash of a dataset's contents: resume refuses data that changed."""
    digest = hashlib.sha256()
    for item in data:
        value = asdict(item) if is_dataclass(item) else item
        digest.update(json.dumps(value, sort_keys=True, default=str).encode("utf-8"))
    return digest.hexdigest()


def _check_config(config: OfflineConfig, kind: str) -> None:
    problems = setting_problems(config)
    if problems:
        raise TrainingError(f"Invalid {kind.upper()} settings: " + "; ".join(problems) + ".")


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
