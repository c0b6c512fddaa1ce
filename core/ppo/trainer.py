"""The LoRA PPO trainer: a step-wise object the CLI loops over and the GUI runs in a thread.

One copy of the base weights serves three roles: the policy (base + LoRA adapter), the
reference (the same model with the adapter disabled) and the critic (a value head on the
policy's last hidden state, from the same forward pass). Each `step()` is one PPO
iteration, readable top to bottom in `_train_step`:

    rollout -> score -> KL penalty -> GAE -> epochs x minibatches -> losses -> log

What PPO shares with GRPO and RLOO (prompts, sampling seeds, the update loop, scoring,
evaluation, checkpoints, resume) is core.onpolicy.trainer.OnPolicyTrainer; this module is
what is PPO's own: the critic, the KL controller, GAE and the clipped value loss.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from core.config import PPOConfig
from core.onpolicy.maths import kl_k1
from core.onpolicy.metrics import component_means
from core.onpolicy.rollout import Rollout, computed, decode_responses, forward_response
from core.onpolicy.trainer import EVAL_STREAM, OnPolicyTrainer
from core.ppo.checks import check_config
from core.ppo.kl_control import make_kl_controller
from core.ppo.maths import compute_gae, policy_loss, token_rewards, value_loss
from core.ppo.metrics import rollout_metrics
from core.ppo.value_head import VALUE_HEAD_FILE, ValueHead
from core.train.events import StepResult
from core.train.metrics import perf_metrics

if TYPE_CHECKING:
    from core.model.session import ModelSession
    from core.rewards.base import RewardSource

__all__ = ["EVAL_STREAM", "PPOTrainer", "StepResult"]


class PPOTrainer(OnPolicyTrainer):
    """LoRA PPO on one ModelSession with one reward source over a list of prompts."""

    kind = "ppo"
    reads_unnamed_checkpoints = True
    """Checkpoints from before meta.json named the algorithm are PPO's, the only trainer then."""
    config_class = PPOConfig
    check_config = staticmethod(check_config)

    def __init__(
        self,
        session: ModelSession,
        reward: RewardSource,
        prompts: Sequence[str],
        config: PPOConfig,
        checkpoint_dir: Path | None = None,
    ) -> None:
        super().__init__(session, reward, prompts, config, checkpoint_dir)
        self.kl_controller = make_kl_controller(config)

    def _build_modules(self) -> list[torch.nn.Module]:
        self.value_head = ValueHead(self.session.hidden_size).to(self.session.device)
        return [self.value_head]

    # -------------------------------------------------------------------- step

    def _train_step(self) -> StepResult:
        config, session = self.config, self.session
        started = time.perf_counter()
        session.model.eval()  # dropout off: log-probs must be the same at rollout and update
        self.value_head.eval()

        # ---- rollout: sample responses, then log-probs, values and reference log-probs
        prompts, queries = self._next_prompts(config.batch_size)
        rollout = self._collect(queries, self.value_head, with_reference=True)
        mask = rollout.response_mask  # (B, Tr)
        lengths = mask.sum(dim=1).long()  # (B,)
        responses = decode_responses(session.tokenizer, rollout.response_ids, lengths)

        # ---- score: the reward source sees text only
        raw_scores = self._score(prompts, responses)  # (B,)
        scores = raw_scores.clone()
        if config.missing_eos_penalty is not None:
            scores[~rollout.finished] -= config.missing_eos_penalty
        if config.whiten_rewards:
            scores = self._whiten(scores, torch.ones_like(scores))

        # ---- KL penalty: per-token reward -coef * (log p - log p_ref), score on the last token
        kl_coef = self.kl_controller.value
        ref_logprobs = computed(rollout.ref_logprobs, "reference log-probs")
        kl = kl_k1(rollout.logprobs, ref_logprobs) * mask  # (B, Tr)
        rewards = token_rewards(kl, scores, lengths, kl_coef)  # (B, Tr)

        # ---- GAE over response tokens, then advantage whitening
        values = computed(rollout.values, "values")
        advantages, returns = compute_gae(rewards, values, mask, config.gamma, config.lam)
        advantages = self._whiten(advantages, mask) * mask

        # ---- PPO epochs x minibatches: clipped policy and value losses
        lr = self.optimizer.param_groups[0]["lr"]
        with torch.enable_grad():
            update_stats = self._update(
                rollout, lambda index, batch: self._loss(batch, advantages[index], returns[index])
            )
        self.scheduler.step()
        # The controller sees the global batch's KL: the same coefficient on every rank.
        self.kl_controller.update(self.world.mean(kl.sum(dim=1).mean().item()), config.batch_size)
        self._step += 1

        # ---- log
        samples = self._samples(prompts, queries, responses, raw_scores.tolist())
        metrics = {
            "step": float(self._step),
            **rollout_metrics(rollout, raw_scores, scores, kl, kl_coef, returns),
            **update_stats,
            **component_means(self.reward),
            "lr": lr,
            **perf_metrics(config.batch_size, time.perf_counter() - started, session.device),
        }
        metrics = self._over_ranks(metrics, raw_scores)
        eval_metrics, answers = self._evaluate(self.value_head)  # after perf: not training
        return StepResult(self._step, metrics | eval_metrics, samples, answers)

    def _loss(
        self, batch: Rollout, advantages: torch.Tensor, returns: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """PPO's loss on one minibatch: clipped policy loss + vf_coef * clipped value loss."""
        config, mask = self.config, batch.response_mask
        out = forward_response(
            self.session.model,
            self.value_head,
            batch,
            config.temperature,
            logits_chunk_size=config.logits_chunk_size,
        )
        pg_loss, clipfrac, approxkl = policy_loss(
            out.logprobs, batch.logprobs, advantages, mask, config.cliprange
        )
        vf_loss, vf_clipfrac = value_loss(
            computed(out.values, "values"),
            computed(batch.values, "values"),
            returns,
            mask,
            config.cliprange_value,
        )
        gauges = {
            "loss/policy": pg_loss.item(),
            "loss/value": vf_loss.item(),
            "policy/clipfrac": clipfrac.item(),
            "policy/approxkl": approxkl.item(),
            "val/clipfrac": vf_clipfrac.item(),
        }
        return pg_loss + config.vf_coef * vf_loss, gauges

    # ------------------------------------------------- what PPO adds to the state

    def _write_extras(self, folder: Path) -> None:
        super()._write_extras(folder)
        self.value_head.save(folder / VALUE_HEAD_FILE)

    def _load_extras(self, folder: Path) -> None:
        super()._load_extras(folder)
        self.value_head.load(folder / VALUE_HEAD_FILE)

    def _extra_state(self) -> dict[str, Any]:
        return {"kl_controller": self.kl_controller.state_dict()}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.kl_controller.load_state_dict(state["kl_controller"])

    def _kl_advice(self) -> str:
        return "a larger init_kl_coef"
