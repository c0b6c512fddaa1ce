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
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from core.config.settings import setting_problems
from core.errors import TrainingError
from core.model.grad_checkpointing import recomputing_layers, set_gradient_checkpointing
from core.model.host_memory import update_memory_returned
from core.model.sharding import (
    prepare_weights,
    reduce_and_clip,
    use_per_parameter_steps,
)
from core.offline.batching import chunks
from core.offline.config import OfflineConfig
from core.offline.data import split_examples
from core.onpolicy.rollout import PromptOrder
from core.train import checkpoints as ckpt
from core.train.distributed import current_world
from core.train.events import StepResult
from core.train.metrics import perf_metrics
from core.train.optim import build_optimizer, build_scheduler
from core.train.resumable import CheckpointedTrainer

if TYPE_CHECKING:
    from core.model.session import ModelSession
    from core.rewards.base import RewardSource

Stats = dict[str, float]


class OfflineTrainer(CheckpointedTrainer):
    """LoRA training of one ModelSession on a fixed dataset (pairs, ratings or demos).

    Over several processes (core.train.distributed) each rank takes its contiguous share
    of every step's examples; each micro-batch's loss weighs its share of the global
    batch and the gradients are summed over ranks, so the step is the one process's.
    """

    kind: ClassVar[str] = "offline"
    config_class: ClassVar[type] = OfflineConfig

    def __init__(
        self,
        session: ModelSession,
        reward: RewardSource | None,
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
        if hasattr(session, "set_reference"):  # the adapter-off base, not an earlier RL
            session.set_reference("base")  # run's kept start adapter
        self.world = current_world()
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
        sizes = {"batch_size": config.batch_size}  # under FSDP, a multiple of the ranks
        self.sharded = prepare_weights(session, [], self.world, config, sizes)  # FSDP when asked
        self._parameters = [p for p in session.model.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(self._parameters, config)
        if self.sharded:
            use_per_parameter_steps(self.optimizer)
        self.scheduler = build_scheduler(self.optimizer, config)
        self._step = 0
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

    def _train_step(self) -> StepResult:
        config, started = self.config, time.perf_counter()
        self.session.model.eval()  # dropout off: the policy starts exactly at the reference
        indices = self.order.take(config.batch_size)
        mine = self.world.shard(indices)  # all of them in one process
        lr = self.optimizer.param_groups[0]["lr"]
        totals: dict[str, float] = {}
        self.optimizer.zero_grad(set_to_none=True)
        model, device = self.session.model, self.session.device
        with torch.enable_grad(), recomputing_layers(model), update_memory_returned(device, model):
            for chunk in chunks(mine, config.micro_batch_size):
                loss, stats = self._batch_loss(chunk)
                if not torch.isfinite(loss):
                    raise self._nan_error(f"The {self.kind.upper()} loss became NaN or infinity")
                share = len(chunk) / len(indices)  # of the global batch
                (loss * share).backward()
                for key, value in stats.items():
                    totals[key] = totals.get(key, 0.0) + value * share
        totals = self._summed_over_ranks(totals)
        grad_norm = self._optimizer_step()
        self.scheduler.step()
        self._step += 1
        metrics = {"step": float(self._step), **totals, "optim/grad_norm": grad_norm, "lr": lr}
        metrics |= perf_metrics(len(indices), time.perf_counter() - started, self.session.device)
        metrics = self.world.reduce_metrics(metrics)  # the perf figures; the rest agree
        due = self._step % config.eval_every == 0 or self._step == config.steps
        if self.eval_data and due and (self.world.is_main or self.sharded):
            with torch.no_grad():
                metrics |= self._evaluate()
        return StepResult(self._step, metrics, [], [])

    def _optimizer_step(self) -> float:
        limit = self.config.max_grad_norm if self.config.max_grad_norm > 0 else float("inf")
        # Each rank's loss is its share of the global batch's: the gradients add up.
        norm = reduce_and_clip(self._parameters, self.world, "sum", limit, self.sharded)
        if not torch.isfinite(norm):
            self.optimizer.zero_grad(set_to_none=True)
            raise self._nan_error("The gradients became NaN or infinity")
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(norm)

    def _nan_error(self, what: str) -> TrainingError:
        return TrainingError(
            f"{what} at step {self._step + 1}; the run stopped. {self._checkpoint_note()} "
            "Try a lower learning_rate."
        )

    def _summed_over_ranks(self, totals: dict[str, float]) -> dict[str, float]:
        """The gauges of the global batch: each rank's are weighted by its share."""
        if not self.world.is_distributed:
            return totals
        keys = self.world.share(sorted(totals))
        values = torch.tensor([totals.get(key, 0.0) for key in keys], dtype=torch.float64)
        return dict(zip(keys, self.world.sum(values).tolist(), strict=True))

    # -------------------------------------------------------------- checkpoints

    def _checkpoint_meta(self) -> dict[str, Any]:
        return {"examples": len(self.data)}

    def _trainer_state(self) -> dict[str, Any]:
        return {
            **self._common_state(),
            "order": self.order.state_dict(),
            "data_fingerprint": data_fingerprint(self.data),
        }

    def _load_trainer_state(self, state: dict[str, Any]) -> None:
        self._load_common_state(state)
        self.order.load_state_dict(state["order"])

    @classmethod
    def _check_resume(
        cls, folder: Path, meta: dict[str, Any], state: dict[str, Any], data: Sequence[Any]
    ) -> None:
        """A dataset that changed since the checkpoint is refused."""
        if state["data_fingerprint"] != data_fingerprint(data):
            raise TrainingError(
                f"The data changed since {folder} was saved ({meta.get('examples')} examples "
                f"then, {len(data)} now); resume needs the same data. To train on the new "
                f"data, start a new run from its adapter (--adapter {folder / ckpt.ADAPTER_DIR})."
            )


def data_fingerprint(data: Sequence[Any]) -> str:
    """A hash of a dataset's contents: resume refuses data that changed."""
    digest = hashlib.sha256()
    for item in data:
        value = asdict(item) if is_dataclass(item) and not isinstance(item, type) else item
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
