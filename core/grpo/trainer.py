"""The critic-free LoRA trainers: GRPO and RLOO, which differ only in their advantage.

A step samples batch_size / group_size prompts, group_size completions each, and judges
every completion against the others of its group instead of against a value head:

    rollout (G per prompt) -> score -> KL (reward penalty, or loss term) -> group
    advantages -> epochs x minibatches of the clipped-ratio loss -> log

beta = 0 skips the reference pass entirely. Everything else (prompt order, seeds, the
update loop, scoring, held-out evaluation, samples, checkpoints, resume) is PPO's, from
core.onpolicy.trainer.OnPolicyTrainer.
"""

from __future__ import annotations

import time

import torch

from core.config.critic_free import CriticFreeConfig, GRPOConfig, RLOOConfig
from core.config.settings import setting_problems
from core.errors import TrainingError
from core.grpo.maths import (
    LossOptions,
    critic_free_loss,
    group_statistics,
    grpo_advantages,
    kl_estimate,
    rloo_advantages,
    zero_spread_rows,
)
from core.grpo.metrics import critic_free_metrics
from core.onpolicy.metrics import component_means
from core.onpolicy.rollout import Rollout, computed, decode_responses, forward_response
from core.onpolicy.trainer import OnPolicyTrainer
from core.train.events import StepResult
from core.train.metrics import perf_metrics


def check_config(config: CriticFreeConfig) -> None:
    """Reject settings GRPO or RLOO cannot run with, naming the setting and the fix."""
    name = type(config).__name__.removesuffix("Config")
    problems = setting_problems(config)  # the declarations: ranges, `why`, FOLLOWS
    if problems:
        raise TrainingError(f"Invalid {name} settings: " + "; ".join(problems) + ".")


ROLLOUT_CHUNK = 64
"""Rows per no-grad forward pass at rollout time (log-probs, reference): a few large
passes cost less than many small ones, and without gradients memory stays small."""


class CriticFreeTrainer(OnPolicyTrainer):
    """GRPO or RLOO on one ModelSession with one reward source over a list of prompts."""

    check_config = staticmethod(check_config)

    def _check_world(self, config: CriticFreeConfig) -> None:
        """Each rank takes whole groups: an equal share of the step's prompts."""
        super()._check_world(config)
        if config.prompts_per_step % self.world.size:
            raise TrainingError(
                f"batch_size / group_size ({config.prompts_per_step} prompts a step) must be "
                f"a multiple of the number of processes ({self.world.size}): each one "
                "samples whole groups of an equal share of the prompts."
            )

    def advantages(self, scores: torch.Tensor) -> torch.Tensor:
        """(B,) advantages of (B,) scores laid out group by group."""
        raise NotImplementedError

    def _train_step(self) -> StepResult:
        config, session = self.config, self.session
        started = time.perf_counter()
        session.model.eval()  # dropout off: log-probs must be the same at rollout and update
        with_reference = config.beta > 0

        # ---- rollout: group_size completions of each prompt, rows group by group
        prompts, queries = self._next_prompts(config.prompts_per_step)
        prompts = [p for p in prompts for _ in range(config.group_size)]
        queries = [q for q in queries for _ in range(config.group_size)]
        # No gradients and no critic here: the batch's no-grad passes are cheaper whole.
        rollout = self._collect(queries, None, with_reference, chunk_size=ROLLOUT_CHUNK)
        mask = rollout.response_mask  # (B, Tr)
        lengths = mask.sum(dim=1).long()  # (B,)
        responses = decode_responses(session.tokenizer, rollout.response_ids, lengths)

        # ---- score; the KL goes into the reward, or into the loss below
        raw_scores = self._score(prompts, responses)  # (B,)
        scores = raw_scores.clone()
        if config.missing_eos_penalty is not None:
            scores[~rollout.finished] -= config.missing_eos_penalty
        kl = None
        if with_reference:  # (B, Tr) per token, by the chosen estimator
            ref_logprobs = computed(rollout.ref_logprobs, "reference log-probs")
            kl = kl_estimate(rollout.logprobs, ref_logprobs, config.kl_estimator) * mask
        in_loss = with_reference and config.kl_penalty == "loss"
        if kl is not None and not in_loss:
            scores = scores - config.beta * kl.sum(dim=1)

        # ---- advantages: each completion against the others of its group
        advantages = self.advantages(scores)  # (B,)
        groups = group_statistics(raw_scores, config.group_size)
        in_loss_rows = self._rows_in_loss(rollout, raw_scores)  # (B,) bool
        options = self._loss_options(mask, in_loss_rows)

        # ---- epochs x minibatches of the clipped-ratio loss (+ beta * KL)
        lr = self.optimizer.param_groups[0]["lr"]
        with torch.enable_grad():
            update_stats = self._update(
                rollout,
                lambda index, batch: self._loss(
                    batch, advantages[index], in_loss_rows[index], in_loss, options
                ),
            )
        self.scheduler.step()
        self._step += 1

        # ---- log: one sample per group (its first completion)
        firsts = list(range(0, len(prompts), config.group_size))  # this rank's groups
        samples = self._samples(
            [prompts[i] for i in firsts],
            [queries[i] for i in firsts],
            [responses[i] for i in firsts],
            [raw_scores[i].item() for i in firsts],
        )
        metrics = {
            "step": float(self._step),
            **critic_free_metrics(rollout, raw_scores, scores, advantages, kl, config.beta, groups),
            "loss/rows_in_loss_frac": in_loss_rows.float().mean().item(),
            **update_stats,
            **component_means(self.reward),
            "lr": lr,
            **perf_metrics(config.batch_size, time.perf_counter() - started, session.device),
        }
        metrics = self._over_ranks(metrics, raw_scores)
        eval_metrics, answers = self._evaluate(None)  # after perf: evaluation is not training
        return StepResult(self._step, metrics | eval_metrics, samples, answers)

    def _rows_in_loss(self, rollout: Rollout, raw_scores: torch.Tensor) -> torch.Tensor:
        """(B,) which completions the loss sees: all, less the truncated ones and the groups
        without reward spread when those options are on (they still count in the metrics)."""
        config = self.config
        rows = torch.ones_like(rollout.finished, dtype=torch.bool)
        if config.mask_truncated_completions:
            rows &= rollout.finished
        if config.drop_zero_std_groups:
            rows &= ~zero_spread_rows(raw_scores, config.group_size).to(rows.device)
        return rows

    def _loss_options(self, mask: torch.Tensor, rows: torch.Tensor) -> LossOptions:
        """This step's loss options: the config's, and the batch's mean tokens per
        completion in the loss (dapo's normaliser)."""
        config = self.config
        kept = rows.sum().item()
        tokens = (mask * rows[:, None]).sum().item()
        return LossOptions(
            loss_type=config.loss_type,
            importance_sampling_level=config.importance_sampling_level,
            epsilon_low=config.cliprange,
            epsilon_high=config.clip_high,
            beta=config.beta,
            kl_estimator=config.kl_estimator,
            kl_bias_correction=config.use_bias_correction_kl,
            max_tokens=config.max_new_tokens,
            tokens_per_row=tokens / kept if kept else 1.0,
        )

    def _loss(
        self,
        batch: Rollout,
        advantages: torch.Tensor,
        rows: torch.Tensor,
        kl_in_loss: bool,
        options: LossOptions,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The clipped-ratio loss on one minibatch, with beta * KL when it goes there;
        `rows` (b,) leaves masked completions out."""
        config = self.config
        out = forward_response(
            self.session.model,
            None,
            batch,
            config.temperature,
            logits_chunk_size=config.logits_chunk_size,
        )
        loss, gauges = critic_free_loss(
            out.logprobs,
            batch.logprobs,
            batch.ref_logprobs if kl_in_loss else None,
            advantages,
            batch.response_mask * rows[:, None],
            options,
        )
        return loss, {key: value.item() for key, value in gauges.items()}

    def _kl_advice(self) -> str:
        return "a larger beta"


class GRPOTrainer(CriticFreeTrainer):
    """GRPO: advantage = (reward - group mean) / std (group's, batch's, or none: Dr. GRPO)."""

    kind = "grpo"
    config_class = GRPOConfig

    def advantages(self, scores: torch.Tensor) -> torch.Tensor:
        scale, batch_std = self.config.scale_rewards, None
        if scale == "batch" and self.world.is_distributed:
            batch_std = self.world.gather(scores).std()  # the whole batch's, over ranks
        return grpo_advantages(scores, self.config.group_size, scale, batch_std)


class RLOOTrainer(CriticFreeTrainer):
    """RLOO: advantage = reward - mean of the other rewards of its group."""

    kind = "rloo"
    config_class = RLOOConfig

    def advantages(self, scores: torch.Tensor) -> torch.Tensor:
        return rloo_advantages(scores, self.config.group_size)
