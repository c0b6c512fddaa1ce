"""The LoRA PPO trainer: a step-wise object the CLI loops over and the GUI runs in a thread.

One copy of the base weights serves three roles: the policy (base + LoRA adapter), the
reference (the same model with the adapter disabled) and the critic (a value head on the
policy's last hidden state, from the same forward pass). Each `step()` is one PPO
iteration, readable top to bottom in `_train_step`:

    rollout -> score -> KL penalty -> GAE -> epochs x minibatches -> losses -> log

Threads: `step()` and iteration must run in one thread (the "worker"); `pause()`,
`resume_training()` and `stop()` may be called from any other thread and take effect
between steps. A Store is per thread, so the worker opens its own Store and builds the
trainer there; the trainer touches the store only from inside `step()` and iteration.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.config import GenerationConfig, PPOConfig, to_dict
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

TERMINAL_STATES = ("stopped", "finished", "failed")
EVAL_STREAM = 999_999
"""The held-out evaluation's sampling stream: a number no training step reaches."""


@dataclass(frozen=True)
class StepResult:
    """What one PPO step reports: plain Python data, safe to hand to another thread."""

    step: int
    metrics: dict[str, float]
    samples: list[dict]  # prompt, response, reward, reference (the adapter-off response)
    held_out: list[dict] = field(default_factory=list)  # the same for held-out prompts


class PPOTrainer:
    """LoRA PPO on one ModelSession with one reward source over a list of prompts."""

    def __init__(
        self,
        session: Any,
        reward: Any,
        prompts: Sequence[str],
        config: PPOConfig,
        store: Any | None = None,
        run_id: int | None = None,
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
        self.store, self.run_id = store, run_id
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
        self._state = "idle"
        self.last_checkpoint: Path | None = None
        self._run_allowed = threading.Event()  # cleared while paused
        self._run_allowed.set()
        self._stop_requested = threading.Event()
        if store is not None and run_id is None:
            run_config = {"ppo": to_dict(config), "model": session.name, "reward": reward.name}
            self.run_id = store.create_run("ppo", run_config)

    # ------------------------------------------------------------------ resume

    @classmethod
    def resume(
        cls,
        checkpoint_dir: Path,
        session: Any,
        reward: Any,
        prompts: Sequence[str],
        store: Any | None = None,
        steps: int | None = None,
    ) -> PPOTrainer:
        """Continue the run saved in a checkpoint folder (or the latest one in a checkpoints folder).

        Restores adapter, value head, optimiser, schedule, KL coefficient, RNG states and
        prompt order, so the continued run equals one that never stopped. With a store, the
        run's records past the checkpoint's step are deleted and the run goes on under its id.
        `steps` sets a new total number of steps; the LR schedule is built for that total.
        """
        folder = ckpt.resolve_checkpoint(Path(checkpoint_dir))
        config, meta = ckpt.read_config(folder), ckpt.read_meta(folder)
        ckpt.check_prompt_format(folder, meta, session.prompt_format)
        if steps is not None:
            config = replace(config, steps=steps)
        state = ckpt.read_trainer_state(folder)
        # Load the adapter before the optimiser is built, in case loading replaces parameters.
        with session.lock:
            session.load_adapter(folder / ckpt.ADAPTER_DIR)
        run_id = meta.get("run_id") if store is not None else None
        if run_id is not None and not _run_exists(store, run_id):
            run_id = None  # a checkpoint from another workspace: record a new run here
        trainer = cls(session, reward, prompts, config, store, run_id, folder.parent)
        trainer.value_head.load(folder / ckpt.VALUE_HEAD_FILE)
        trainer._load_trainer_state(state)
        trainer.last_checkpoint = folder
        if store is not None and run_id is not None:
            store.delete_metrics_after(run_id, trainer._step)
        return trainer

    # ----------------------------------------------------------------- control

    @property
    def state(self) -> str:
        """idle | running | paused | stopped | finished | failed."""
        return self._state

    @property
    def step_count(self) -> int:
        """PPO steps completed so far (the step of the next checkpoint)."""
        return self._step

    def pause(self) -> None:
        """Ask the iteration to wait after the current step (any thread)."""
        self._run_allowed.clear()

    def resume_training(self) -> None:
        """Let a paused iteration continue (any thread)."""
        self._run_allowed.set()

    def stop(self) -> None:
        """Ask the iteration to end after the current step, saving a checkpoint (any thread)."""
        self._stop_requested.set()
        self._run_allowed.set()  # wake a paused iteration so it can end

    def __iter__(self) -> Iterator[StepResult]:
        """Steps until config.steps or stop(); blocks between steps while paused."""
        try:
            while self._step < self.config.steps and not self._stop_requested.is_set():
                if not self._run_allowed.is_set():
                    self._set_state("paused")
                    self._run_allowed.wait()
                    if self._stop_requested.is_set():
                        break
                yield self.step()
        finally:
            # Reached on the last step, on stop(), and when the consumer abandons the loop.
            if self._state not in TERMINAL_STATES:
                done = self._step >= self.config.steps
                self._end("finished" if done else "stopped")

    # -------------------------------------------------------------------- step

    def step(self) -> StepResult:
        """One PPO step. Raises TrainingError (and marks the run failed) on NaN or bad rewards."""
        if self._state == "failed":
            raise TrainingError("This run failed; resume from its last checkpoint to go on.")
        try:
            with self.session.lock:
                if self._state != "running":
                    self._set_state("running")
                result = self._train_step()
        except TrainingError as error:
            self._fail(str(error))
            raise
        except StudioError as error:  # e.g. a RewardError from the reward source
            message = f"Step {self._step + 1} failed: {error} {self._checkpoint_note()}"
            self._fail(message)
            raise TrainingError(message) from error
        except Exception as error:  # a bug: record it, keep the traceback
            self._fail(f"{type(error).__name__}: {error}")
            raise
        self._record(result)
        every = self.config.checkpoint_every
        if every and self.checkpoint_dir is not None and self._step % every == 0:
            self.save_checkpoint()
        return result

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

    # ------------------------------------------------------------- reporting

    def _record(self, result: StepResult) -> None:
        """Write a step's metrics and samples to the store (worker thread only)."""
        if self.store is None:
            return
        metrics = {key: value for key, value in result.metrics.items() if key != "step"}
        self.store.add_metrics(self.run_id, result.step, metrics)
        if result.samples:
            self.store.add_samples(self.run_id, result.step, result.samples)
        if result.held_out:
            self.store.add_samples(self.run_id, result.step, result.held_out, split="eval")

    # -------------------------------------------------------------- checkpoints

    def save_checkpoint(self) -> Path:
        """Write checkpoint_dir/step-<N> (atomically) and record it in the store."""
        if self.checkpoint_dir is None:
            raise TrainingError(
                "This trainer has no checkpoint folder; create it with checkpoint_dir=... "
                "to save checkpoints."
            )
        meta = {
            "run_id": self.run_id,
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
        if self.store is not None:
            self.store.add_checkpoint(self.run_id, self._step, str(path))
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

    # ------------------------------------------------------------ run status

    def _set_state(self, state: str, error: str | None = None) -> None:
        self._state = state
        if self.store is not None:
            self.store.set_run_status(self.run_id, state, error)

    def _end(self, state: str) -> None:
        """Finish or stop: save a final checkpoint (unless this step has one), record the state."""
        last = self.last_checkpoint
        already_saved = last is not None and ckpt.checkpoint_step(last) == self._step
        if self.checkpoint_dir is not None and self._step > 0 and not already_saved:
            self.save_checkpoint()
        self._set_state(state)

    def _fail(self, reason: str) -> None:
        self._state = "failed"
        if self.store is not None:
            self.store.set_run_status(self.run_id, "failed", reason)

    def _nan_error(self, what: str) -> TrainingError:
        return TrainingError(
            f"{what} at step {self._step + 1}; the run stopped. {self._checkpoint_note()} "
            "Try a lower learning_rate, a larger init_kl_coef, or check the reward source."
        )

    def _checkpoint_note(self) -> str:
        if self.last_checkpoint is not None:
            return f"The last good checkpoint is {self.last_checkpoint}: resume from it."
        return "No checkpoint was saved; set checkpoint_every to keep one."


def _sampling_seed(seed: int, stream: int) -> int:
    """The generator seed of one sampling stream (a step number, or EVAL_STREAM) of a run."""
    return seed * 1_000_003 + stream


def _seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices) for a reproducible run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _run_exists(store: Any, run_id: int) -> bool:
    try:
        store.run(run_id)
    except StudioError:
        return False
    return True
