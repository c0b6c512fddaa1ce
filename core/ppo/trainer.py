"""The LoRA PPO trainer: a step-wise object the CLI loops over and the GUI runs in a thread.

One copy of the base weights serves three roles: the policy (base + LoRA adapter), the
reference (the same model with the adapter disabled) and the critic (a value head on the
policy's last hidden state, from the same forward pass). Each `step()` is one PPO
iteration, readable top to bottom in `_train_step`:

    rollout -> score -> KL penalty -> GAE -> epochs x minibatches -> losses -> log

The trainer knows nothing of stores, run records, pause or stop: a TrainingRun
(core.train.run) owns those for every trainer, and core.ppo.launch builds one. Iterating
a bare trainer runs all its steps (tests, benchmarks). `step()` must run in one thread.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.config import GenerationConfig, PPOConfig
from core.errors import StudioError, TrainingError
from core.generate import encode_prompts
from core.ppo import checkpoint as ckpt
from core.ppo.evaluation import HeldOutEval, split_prompts
from core.ppo.kl_control import make_kl_controller
from core.ppo.maths import compute_gae, kl_k1, masked_whiten, policy_loss, value_loss
from core.ppo.metrics import component_means, perf_metrics, rollout_metrics
from core.ppo.optim import build_optimizer, build_scheduler, check_config, sync_learning_rates
from core.ppo.rollout import (
    PromptOrder,
    Rollout,
    collect_rollout,
    decode_responses,
    forward_response,
    side_by_side_samples,
)
from core.ppo.value_head import ValueHead
from core.train.events import StepResult

EVAL_STREAM = 999_999
"""The held-out evaluation's sampling stream: a number no training step reaches."""


class PPOTrainer:
    """LoRA PPO on one ModelSession with one reward source over a list of prompts."""

    def __init__(
        self,
        session: Any,
        reward: Any,
        prompts: Sequence[str],
        config: PPOConfig,
        checkpoint_dir: Path | None = None,
    ) -> None:
        check_config(config)
        if not session.has_adapter:
            raise TrainingError(
                "PPO trains a LoRA adapter, but the model was loaded without one; "
                "load it with a LoRA setting (ModelSpec.lora)."
            )
        self.session, self.reward, self.config = session, reward, config
        self.prompts = list(prompts)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
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
        self.value_head = ValueHead(session.hidden_size).to(session.device)
        self._parameters = [p for p in session.model.parameters() if p.requires_grad]
        self._parameters += list(self.value_head.parameters())
        self.optimizer = build_optimizer(self._parameters, config)
        self.scheduler = build_scheduler(self.optimizer, config)
        self.kl_controller = make_kl_controller(config)
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
        self._failed = False
        self.last_checkpoint: Path | None = None

    # ------------------------------------------------------------------ resume

    @classmethod
    def resume(
        cls,
        checkpoint: Path,
        session: Any,
        reward: Any,
        prompts: Sequence[str],
        steps: int | None = None,
        save_to: Path | None = None,
    ) -> PPOTrainer:
        """Continue the run saved in a checkpoint folder (or the latest one in a checkpoints folder).

        Restores adapter, value head, optimiser, schedule, KL coefficient, RNG states and
        prompt order, so the continued run equals one that never stopped. `steps` sets a
        new total number of steps; the LR schedule is built for that total. New checkpoints
        go to `save_to` (default: beside the one resumed).
        """
        folder = ckpt.resolve_checkpoint(Path(checkpoint))
        config, meta = ckpt.read_config(folder), ckpt.read_meta(folder)
        ckpt.check_prompt_format(folder, meta, session.prompt_format)
        if steps is not None:
            config = replace(config, steps=steps)
        state = ckpt.read_trainer_state(folder)
        # Load the adapter before the optimiser is built, in case loading replaces parameters.
        with session.lock:
            session.load_adapter(folder / ckpt.ADAPTER_DIR)
        trainer = cls(session, reward, prompts, config, save_to or folder.parent)
        trainer.value_head.load(folder / ckpt.VALUE_HEAD_FILE)
        trainer._load_trainer_state(state)
        trainer.last_checkpoint = folder
        return trainer

    @property
    def step_count(self) -> int:
        """PPO steps completed so far (the step of the next checkpoint)."""
        return self._step

    def __iter__(self) -> Iterator[StepResult]:
        """All remaining steps, one after another (no store, no pause: see TrainingRun)."""
        while self._step < self.config.steps:
            yield self.step()

    # -------------------------------------------------------------------- step

    def step(self) -> StepResult:
        """One PPO step. Raises TrainingError on NaN or bad rewards; the trainer then
        refuses further steps (its weights may be half-updated)."""
        if self._failed:
            raise TrainingError("This run failed; resume from its last checkpoint to go on.")
        try:
            with self.session.lock:
                return self._train_step()
        except TrainingError:
            self._failed = True
            raise
        except StudioError as error:  # e.g. a RewardError from the reward source
            self._failed = True
            message = f"Step {self._step + 1} failed: {error} {self._checkpoint_note()}"
            raise TrainingError(message) from error
        except Exception:
            self._failed = True
            raise

    def _train_step(self) -> StepResult:
        config, session = self.config, self.session
        started = time.perf_counter()
        session.model.eval()  # dropout off: log-probs must be the same at rollout and update
        self.value_head.eval()

        # ---- rollout: sample responses, then log-probs, values and reference log-probs
        indices = [self._train_indices[i] for i in self.prompt_order.take(config.batch_size)]
        prompts = [self.prompts[i] for i in indices]
        queries = [self._query_ids[i] for i in indices]
        rollout = self._rollout(queries)
        mask = rollout.response_mask  # (B, Tr)
        lengths = mask.sum(dim=1).long()  # (B,)
        responses = decode_responses(session.tokenizer, rollout.response_ids, lengths)

        # ---- score: the reward source sees text only
        raw_scores = self._score(prompts, responses)  # (B,)
        scores = raw_scores.clone()
        if config.missing_eos_penalty is not None:
            scores[~rollout.finished] -= config.missing_eos_penalty
        if config.whiten_rewards:
            scores = masked_whiten(scores, torch.ones_like(scores))

        # ---- KL penalty: per-token reward -coef * (log p - log p_ref), score on the last token
        kl_coef = self.kl_controller.value
        kl = kl_k1(rollout.logprobs, rollout.ref_logprobs) * mask  # (B, Tr)
        rewards = -kl_coef * kl  # (B, Tr)
        rewards[torch.arange(len(lengths)), lengths - 1] += scores

        # ---- GAE over response tokens, then advantage whitening
        advantages, returns = compute_gae(rewards, rollout.values, mask, config.gamma, config.lam)
        advantages = masked_whiten(advantages, mask) * mask

        # ---- PPO epochs x minibatches: clipped policy and value losses
        lr = self.optimizer.param_groups[0]["lr"]
        with torch.enable_grad():
            update_stats = self._optimise(rollout, advantages, returns)
        self.scheduler.step()
        self.kl_controller.update(kl.sum(dim=1).mean().item(), config.batch_size)
        self._step += 1

        # ---- log
        samples = side_by_side_samples(
            session,
            self._generation,
            prompts[: config.samples_per_step],
            queries,
            responses,
            raw_scores.tolist(),
            seed=self._step_seed(),  # the next step's: a draw independent of this rollout
        )
        metrics = {
            "step": float(self._step),
            **rollout_metrics(rollout, raw_scores, scores, kl, kl_coef, returns),
            **update_stats,
            **component_means(self.reward),
            "lr": lr,
            **perf_metrics(config.batch_size, time.perf_counter() - started, session.device),
        }
        answers: list[dict] = []
        if self.held_out.due(self._step, config.steps):  # after perf: eval is not training
            eval_metrics, answers = self.held_out.run(
                session, self.value_head, self._generation, self._score, config.mini_batch_size
            )
            metrics |= eval_metrics
        return StepResult(self._step, metrics, samples, answers)

    # ----------------------------------------------------------------- rollout

    def _rollout(self, queries: list[list[int]]) -> Rollout:
        """Sample one batch, then score it with the policy, the critic and the reference."""
        return collect_rollout(
            self.session,
            self.value_head,
            queries,
            self._generation,
            seed=self._step_seed(),
            chunk_size=self.config.mini_batch_size,
        )

    def _step_seed(self) -> int:
        """The sampling seed of the coming step: fixed by config.seed and the step number."""
        return _sampling_seed(self.config.seed, self._step)

    def _score(self, prompts: list[str], responses: list[str]) -> torch.Tensor:
        scores = self.reward.score(prompts, responses)
        scores = torch.tensor([float(s) for s in scores], dtype=torch.float32)
        if len(scores) != len(responses):
            raise TrainingError(
                f"The reward '{self.reward.name}' returned {len(scores)} scores for "
                f"{len(responses)} responses; it must return one per response."
            )
        if not torch.isfinite(scores).all():
            raise self._nan_error(f"The reward '{self.reward.name}' returned NaN or infinity")
        return scores.to(self.session.device)

    # ------------------------------------------------------------------ update

    def _optimise(
        self, rollout: Rollout, advantages: torch.Tensor, returns: torch.Tensor
    ) -> dict[str, float]:
        """ppo_epochs passes over shuffled minibatches; returns the mean losses and gauges."""
        config = self.config
        size, count = config.mini_batch_size, config.batch_size // config.mini_batch_size
        accumulate = config.gradient_accumulation_steps
        totals: dict[str, list[float]] = {}
        self.optimizer.zero_grad(set_to_none=True)
        for _ in range(config.ppo_epochs):
            order = torch.randperm(config.batch_size, generator=self._shuffle)
            order = order.to(rollout.response_ids.device)
            for position in range(count):
                index = order[position * size : (position + 1) * size]
                batch, mask = rollout.select(index), rollout.response_mask[index]
                out = forward_response(
                    self.session.model, self.value_head, batch, config.temperature
                )
                pg_loss, clipfrac, approxkl = policy_loss(
                    out.logprobs, batch.logprobs, advantages[index], mask, config.cliprange
                )
                vf_loss, vf_clipfrac = value_loss(
                    out.values, batch.values, returns[index], mask, config.cliprange_value
                )
                loss = pg_loss + config.vf_coef * vf_loss
                if not torch.isfinite(loss):
                    raise self._nan_error("The PPO loss became NaN or infinity")
                # Average (not sum) gradients over the minibatches of one optimiser step.
                group = position // accumulate
                group_size = min(accumulate, count - group * accumulate)
                (loss / group_size).backward()
                gauges = {
                    "loss/policy": pg_loss.item(),
                    "loss/value": vf_loss.item(),
                    "policy/clipfrac": clipfrac.item(),
                    "policy/approxkl": approxkl.item(),
                    "val/clipfrac": vf_clipfrac.item(),
                }
                if (position + 1) % accumulate == 0 or position == count - 1:
                    gauges["optim/grad_norm"] = self._optimizer_step()
                for key, value in gauges.items():
                    totals.setdefault(key, []).append(value)
        return {key: float(np.mean(values)) for key, values in totals.items()}

    def _optimizer_step(self) -> float:
        """Clip, check and apply the accumulated gradients; never step on NaN gradients."""
        max_norm = self.config.max_grad_norm if self.config.max_grad_norm > 0 else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(self._parameters, max_norm)
        if not torch.isfinite(norm):
            self.optimizer.zero_grad(set_to_none=True)
            raise self._nan_error("The gradients became NaN or infinity")
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return norm.item()

    # -------------------------------------------------------------- checkpoints

    def save_checkpoint(self, meta: Mapping[str, Any] | None = None) -> Path:
        """Write checkpoint_dir/step-<N> (atomically); `meta` adds to its meta.json (the
        run and workspace ids, from the TrainingRun that owns this trainer)."""
        if self.checkpoint_dir is None:
            raise TrainingError(
                "This trainer has no checkpoint folder; create it with checkpoint_dir=... "
                "to save checkpoints."
            )
        meta = {
            **(meta or {}),
            "model": self.session.name,
            "prompt_format": self.session.prompt_format,
            "reward": self.reward.name,
            "prompts": len(self.prompts),
        }
        with self.session.lock:
            path = ckpt.write_checkpoint(
                self.checkpoint_dir,
                self._step,
                save_adapter=self.session.save_adapter,
                value_head=self.value_head,
                trainer_state=self._trainer_state(),
                config=self.config,
                meta=meta,
            )
        self.last_checkpoint = path
        return path

    def _trainer_state(self) -> dict[str, Any]:
        return {
            "step": self._step,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "kl_controller": self.kl_controller.state_dict(),
            "prompt_order": self.prompt_order.state_dict(),
            "shuffle_generator": self._shuffle.get_state(),
            "rng": ckpt.capture_rng_state(),
        }

    def _load_trainer_state(self, state: dict[str, Any]) -> None:
        self._step = int(state["step"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.kl_controller.load_state_dict(state["kl_controller"])
        self.prompt_order.load_state_dict(state["prompt_order"])
        self._shuffle.set_state(state["shuffle_generator"])
        ckpt.restore_rng_state(state["rng"])
        # The saved learning rates follow the saved total of steps; a resume may change it.
        sync_learning_rates(self.optimizer, self.scheduler)

    def _nan_error(self, what: str) -> TrainingError:
        return TrainingError(
            f"{what} at step {self._step + 1}; the run stopped. {self._checkpoint_note()} "
            "Try a lower learning_rate, a larger init_kl_coef, or check the reward source."
        )

    def _checkpoint_note(self) -> str:
        if self.last_checkpoint is not None:
            return f"The last good checkpoint is {self.last_checkpoint}: resume from it."
        every = self.config.checkpoint_every
        if every and self._step < every:
            return f"No checkpoint yet (the first was due at step {every}): start the run again."
        if every:
            return "No checkpoint was saved: start the run again."
        return "No checkpoint was saved; set checkpoint_every to keep one."


def _sampling_seed(seed: int, stream: int) -> int:
    """The generator seed of one sampling stream (a step number, or EVAL_STREAM) of a run."""
    return seed * 1_000_003 + stream


def _seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices) for a reproducible run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
