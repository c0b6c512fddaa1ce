"""What every on-policy LoRA trainer shares: PPO (core.ppo.trainer), GRPO and RLOO
(core.grpo.trainer) differ only in their advantage and their loss.

An OnPolicyTrainer holds the prompts (training and held-out), the prompt order, the
sampling seeds, the optimiser and LR schedule, the epochs x minibatches update loop,
the reward call, the held-out evaluation, the side-by-side samples, checkpoints and
resume, and the error handling that stops a run on NaN. A subclass writes `_train_step`
(rollout -> score -> advantages -> `_update` -> log, readable top to bottom) and names
its run kind, config class and any extra weights (PPO: the value head).

The trainer knows nothing of stores, run records, pause or stop: a TrainingRun
(core.train.run) owns those. Iterating a bare trainer runs all its steps. `step()` must
run in one thread.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from core.config import GenerationConfig
from core.errors import TrainingError
from core.model.generate import encode_prompts
from core.model.grad_checkpointing import recomputing_layers, set_gradient_checkpointing
from core.model.host_memory import update_memory_returned
from core.model.lora import load_reference_adapter, save_reference_adapter
from core.model.sharding import (
    prepare_weights,
    reduce_and_clip,
    use_per_parameter_steps,
)
from core.onpolicy.evaluation import HeldOutEval, split_prompts
from core.onpolicy.maths import masked_whiten
from core.onpolicy.rollout import PromptOrder, Rollout, collect_rollout, side_by_side_samples
from core.train.distributed import current_world
from core.train.events import StepResult
from core.train.optim import build_optimizer, build_scheduler
from core.train.resumable import CheckpointedTrainer

if TYPE_CHECKING:
    from core.model.session import ModelSession
    from core.rewards.base import RewardSource

EVAL_STREAM = 999_999
"""The held-out evaluation's sampling stream: a number no training step reaches."""

MinibatchLoss = Callable[[torch.Tensor, Rollout], tuple[torch.Tensor, dict[str, float]]]
"""(row indices, their rollout rows) -> (loss to minimise, gauges to average and log)."""


PROMPTS_FILE = "prompts.jsonl"
"""A checkpoint's prompt set, one {"prompt": ...} per line (the format --prompts reads)."""
REFERENCE_DIR = "reference_adapter"
"""A checkpoint's copy of the frozen start adapter (only when that is the reference)."""


class OnPolicyTrainer(CheckpointedTrainer):
    """LoRA on-policy RL on one ModelSession with one reward source over a list of prompts.

    Over several processes (core.train.distributed) each rank samples and trains on its
    share of every step's batch; gradients and batch statistics are reduced over ranks.
    """

    kind: ClassVar[str]
    """The run kind (its spec's in core.algorithms): meta.json's algorithm, the config file's stem."""
    config_class: ClassVar[type]
    reward: RewardSource

    def __init__(
        self,
        session: ModelSession,
        reward: RewardSource,
        prompts: Sequence[str],
        config: Any,
        checkpoint_dir: Path | None = None,
    ) -> None:
        self.check_config(config)
        self.world = current_world()
        self._check_world(config)
        if not session.has_adapter:
            raise TrainingError(
                f"{self.kind.upper()} trains a LoRA adapter, but the model was loaded without "
                "one; load it with a LoRA setting (ModelSpec.lora)."
            )
        self.session, self.reward, self.config = session, reward, config
        self.prompts = list(prompts)
        with session.lock:
            set_gradient_checkpointing(session.model, config.gradient_checkpointing)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        # Before the optimiser: the frozen reference copy must not be among its parameters.
        self.reference = session.set_reference(config.reference)
        _seed_everything(config.seed)

        self._query_ids = encode_prompts(session, self.prompts, config.max_new_tokens)
        self._train_indices, held_out = split_prompts(
            len(self.prompts), config.eval_prompts, config.seed
        )
        self.held_out = HeldOutEval(
            [self.prompts[i] for i in held_out],
            [self._query_ids[i] for i in held_out],
            config.eval_every,
            seed=_sampling_seed(config.seed, EVAL_STREAM),
        )
        self.prompt_order = PromptOrder(len(self._train_indices), config.seed)
        extra_modules = self._build_modules()  # after the prompt order: same RNG draws
        extras = [p for module in extra_modules for p in module.parameters()]
        self.sharded = prepare_weights(session, extras, self.world, config)  # FSDP when asked
        self._parameters = [p for p in session.model.parameters() if p.requires_grad] + extras
        self.optimizer = build_optimizer(self._parameters, config)
        if self.sharded:
            use_per_parameter_steps(self.optimizer)
        self.scheduler = build_scheduler(self.optimizer, config)
        self._shuffle = torch.Generator().manual_seed(config.seed)  # minibatch order
        self._generation = GenerationConfig(
            max_new_tokens=config.max_new_tokens,
            temperature=config.temperature,
            top_k=config.top_k,
            top_p=config.top_p,
            seed=None,
            batch_size=config.batch_size,
        )

        self._step = 0
        self.last_checkpoint: Path | None = None

    # ------------------------------------------------------------- subclass hooks

    @staticmethod
    def check_config(config: Any) -> None:
        """Raise TrainingError naming every setting this trainer cannot run with."""
        raise NotImplementedError

    def _build_modules(self) -> list[nn.Module]:
        """Trainable modules besides the LoRA weights (PPO: the value head)."""
        return []

    def _train_step(self) -> StepResult:
        raise NotImplementedError

    def _extra_state(self) -> dict[str, Any]:
        """Trainer state besides the shared one (PPO: the KL controller)."""
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what _extra_state gave."""

    # ----------------------------------------------------- rollout and scoring

    def _next_prompts(self, count: int) -> tuple[list[str], list[list[int]]]:
        """The next `count` training prompts in the seeded order, or this rank's share of
        them over several processes: (texts, token ids)."""
        taken = self.world.shard(self.prompt_order.take(count))
        indices = [self._train_indices[i] for i in taken]
        return [self.prompts[i] for i in indices], [self._query_ids[i] for i in indices]

    def _collect(
        self,
        queries: list[list[int]],
        value_head: nn.Module | None,
        with_reference: bool,
        chunk_size: int | None = None,
    ) -> Rollout:
        """Sample one batch, then score it with the policy (and critic, and reference)
        in forward passes of `chunk_size` rows (default: the minibatch size)."""
        return collect_rollout(
            self.session,
            value_head,
            queries,
            self._generation,
            seed=self.world.sampling_seed(self._step_seed()),
            chunk_size=chunk_size or self._local(self.config.mini_batch_size),
            with_reference=with_reference,
            logits_chunk_size=self.config.logits_chunk_size,
        )

    def _step_seed(self) -> int:
        """The sampling seed of the coming step: fixed by config.seed and the step number."""
        return _sampling_seed(self.config.seed, self._step)

    def _score(self, prompts: list[str], responses: list[str]) -> torch.Tensor:
        values = self.reward.score(prompts, responses)
        scores = torch.tensor([float(s) for s in values], dtype=torch.float32)
        if len(scores) != len(responses):
            raise TrainingError(
                f"The reward '{self.reward.name}' returned {len(scores)} scores for "
                f"{len(responses)} responses; it must return one per response."
            )
        if not torch.isfinite(scores).all():
            raise self._nan_error(f"The reward '{self.reward.name}' returned NaN or infinity")
        return scores.to(self.session.device)

    def _samples(
        self,
        prompts: list[str],
        queries: list[list[int]],
        responses: list[str],
        scores: list[float],
    ) -> list[dict]:
        """The first samples_per_step rollouts given, each beside the reference's answer.
        Call after the step count moved on: the reference samples with the next step's
        seed, a draw independent of this rollout."""
        # Sharded, every rank samples alongside rank 0 (each forward is a collective).
        count = self.config.samples_per_step if self.world.is_main or self.sharded else 0
        return side_by_side_samples(
            self.session,
            self._generation,
            prompts[:count],
            queries,
            responses,
            scores,
            seed=self._step_seed(),
        )

    def _evaluate(self, value_head: nn.Module | None) -> tuple[dict[str, float], list[dict]]:
        """The held-out eval/* metrics and answers when due at this step, else nothing
        (rank 0 alone evaluates; sharded, every rank runs it with rank 0)."""
        evaluates = self.world.is_main or self.sharded
        if not evaluates or not self.held_out.due(self._step, self.config.steps):
            return {}, []
        config = self.config
        return self.held_out.run(
            self.session,
            value_head,
            self._generation,
            self._score,
            config.mini_batch_size,
            config.logits_chunk_size,
        )

    # ------------------------------------------------------------------ update

    def _update(self, rollout: Rollout, loss_of: MinibatchLoss) -> dict[str, float]:
        """ppo_epochs passes over shuffled minibatches of the batch, minimising `loss_of`;
        returns the mean of each gauge (and of the gradient norm). With gradient
        checkpointing on, the layers recompute their activations in the backward pass; on
        the CPU, the pass's freed tensors leave the process at once (core.model.host_memory)."""
        totals: dict[str, list[float]] = {}
        self.optimizer.zero_grad(set_to_none=True)
        with (
            recomputing_layers(self.session.model),
            update_memory_returned(self.session.device, self.session.model),
        ):
            for _ in range(self.config.ppo_epochs):
                self._epoch(rollout, loss_of, totals)
        return {key: float(np.mean(values)) for key, values in totals.items()}

    def _epoch(
        self, rollout: Rollout, loss_of: MinibatchLoss, totals: dict[str, list[float]]
    ) -> None:
        """One pass over the batch in shuffled minibatches; each gauge goes to `totals`."""
        config = self.config
        size, count = (
            self._local(config.mini_batch_size),
            config.batch_size // config.mini_batch_size,
        )
        accumulate = config.gradient_accumulation_steps
        order = torch.randperm(self._local(config.batch_size), generator=self._shuffle)
        order = order.to(rollout.response_ids.device)
        for position in range(count):
            index = order[position * size : (position + 1) * size]
            loss, gauges = loss_of(index, rollout.select(index))
            if not torch.isfinite(loss):
                raise self._nan_error(f"The {self.kind.upper()} loss became NaN or infinity")
            # Average (not sum) gradients over the minibatches of one optimiser step.
            group = position // accumulate
            group_size = min(accumulate, count - group * accumulate)
            (loss / group_size).backward()
            if (position + 1) % accumulate == 0 or position == count - 1:
                gauges["optim/grad_norm"] = self._optimizer_step()
            for key, value in gauges.items():
                totals.setdefault(key, []).append(value)

    def _optimizer_step(self) -> float:
        """Clip, check and apply the accumulated gradients; never step on NaN gradients."""
        max_norm = self.config.max_grad_norm if self.config.max_grad_norm > 0 else float("inf")
        norm = reduce_and_clip(self._parameters, self.world, "mean", max_norm, self.sharded)
        if not torch.isfinite(norm):
            self.optimizer.zero_grad(set_to_none=True)
            raise self._nan_error("The gradients became NaN or infinity")
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return norm.item()

    # ------------------------------------------------------- over several processes

    def _check_world(self, config: Any) -> None:
        """Every rank must get an equal share of the batch and of each minibatch."""
        size = self.world.size
        for name in ("batch_size", "mini_batch_size"):
            if getattr(config, name) % size:
                raise TrainingError(
                    f"{name} ({getattr(config, name)}) must be a multiple of the number of "
                    f"processes ({size}): each one trains on an equal share of the batch."
                )

    def _local(self, count: int) -> int:
        """This rank's share of `count` rollouts (all of them in one process)."""
        return count // self.world.size

    def _whiten(self, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """masked_whiten over the whole batch, across ranks when there are several."""
        if self.world.is_distributed:
            return self.world.masked_whiten(values, mask)
        return masked_whiten(values, mask)

    def _over_ranks(self, metrics: dict[str, float], raw_scores: torch.Tensor) -> dict[str, float]:
        """One step's metrics over the global batch (unchanged in one process)."""
        if not self.world.is_distributed:
            return metrics
        reduced = self.world.reduce_metrics(metrics)
        reduced["reward/std"] = self.world.gather(raw_scores).std(correction=0).item()
        return reduced

    # -------------------------------------------------------------- checkpoints

    def _checkpoint_meta(self) -> dict[str, Any]:
        return {
            "reward": self.reward.name,
            "prompts": len(self.prompts),
            "reference": self.reference,
        }

    def _write_extras(self, folder: Path) -> None:
        """The frozen start adapter, when it is the reference: a resume measures KL to it
        again without needing the folder the run started from."""
        if self.reference == "start":
            save_reference_adapter(self.session.adapter_model(), folder / REFERENCE_DIR)
        # The prompt set, so the checkpoint resumes on its own (and elsewhere).
        lines = "".join(json.dumps({"prompt": prompt}) + "\n" for prompt in self.prompts)
        (folder / PROMPTS_FILE).write_text(lines, encoding="utf-8")

    def _load_extras(self, folder: Path) -> None:
        with self.session.lock:
            if (folder / REFERENCE_DIR).is_dir():
                load_reference_adapter(self.session.adapter_model(), folder / REFERENCE_DIR)
                self.reference = "start"
            else:  # the run's reference was the base (or a checkpoint older than the choice)
                self.session.set_reference("base")
                self.reference = "base"

    def _trainer_state(self) -> dict[str, Any]:
        return {
            **self._common_state(),
            **self._extra_state(),
            "prompt_order": self.prompt_order.state_dict(),
            "shuffle_generator": self._shuffle.get_state(),
        }

    def _load_trainer_state(self, state: dict[str, Any]) -> None:
        self._load_common_state(state)
        self._load_extra_state(state)
        self.prompt_order.load_state_dict(state["prompt_order"])
        self._shuffle.set_state(state["shuffle_generator"])

    def _nan_error(self, what: str) -> TrainingError:
        return TrainingError(
            f"{what} at step {self._step + 1}; the run stopped. {self._checkpoint_note()} "
            f"Try a lower learning_rate, {self._kl_advice()}, or check the reward source."
        )

    def _kl_advice(self) -> str:
        return "a larger KL coefficient"


def _sampling_seed(seed: int, stream: int) -> int:
    """The generator seed of one sampling stream (a step number, or EVAL_STREAM) of a run."""
    return seed * 1_000_003 + stream


def _seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices) for a reproducible run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
