"""GRPOConfig and RLOOConfig: the critic-free trainers' settings, each declared once.

Settings PPO has too (steps, batch, learning rate, clip range, sampling, checkpoints,
held-out evaluation...) reuse PPOConfig's declaration through `core.config.settings.as_in`, so their flag,
label, range and help are PPO's; only the defaults or words that differ are given here.
New settings: the group size, beta and where its KL goes, and GRPO's advantage scaling.
The batch counts completions: a step samples batch_size / group_size prompts, group_size
completions each.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from core.config.batch_rules import (
    MAX_BATCH,
    divides,
    largest_divisor_up_to,
    multiple_not_below,
    multiple_of,
)
from core.config.ppo import PPOConfig
from core.config.settings import Follow, as_in, hidden, setting

KL_PENALTIES = ("loss", "reward")
"""Where beta's KL to the reference goes: a k3 loss term, or a k1 penalty on the reward."""
SCALE_REWARDS = ("group", "batch", "none")
"""GRPOConfig.scale_rewards: divide by the group's std, the batch's, or not (Dr. GRPO)."""
LOSS_TYPES = ("dapo", "grpo", "bnpo", "dr_grpo")
"""How per-token losses become one number (TRL's loss_type):
dapo: every token of the whole batch weighs the same (sum / the batch's token count);
grpo: each completion's token mean, then the mean over completions (long completions'
tokens weigh less); bnpo: the token mean of each minibatch; dr_grpo: sum / (completions
x max_new_tokens), a constant that carries no length bias."""
IMPORTANCE_SAMPLING_LEVELS = ("token", "sequence")
"""token: one ratio per token (PPO, GRPO); sequence: one per completion, the exp of the
mean token log-ratio, on all its tokens (GSPO)."""
KL_ESTIMATORS = ("k1", "k2", "k3")
"""Per-token estimates of KL(policy || reference) from the policy's own samples (Schulman):
k1 = log p - log p_ref (unbiased, noisy, can be negative); k2 = (log p - log p_ref)^2 / 2
(biased, low variance, >= 0); k3 = r - 1 - log r with r = p_ref / p (unbiased, >= 0)."""


@dataclass(frozen=True)
class CriticFreeConfig:
    """What GRPO and RLOO share. Defaults work out of the box on the demo model."""

    FOLLOWS: ClassVar[tuple[Follow, ...]] = (
        Follow(
            "batch_size",
            "group_size",
            fits=multiple_of,
            adjust=multiple_not_below,
            how="the smallest multiple of {leader_value} not below {old}",
            rule="{follower} ({follower_value}) must be a multiple of {leader} ({leader_value}): "
            "the batch counts completions, {leader} per prompt",
        ),
        Follow(
            "mini_batch_size",
            "batch_size",
            fits=divides,
            adjust=largest_divisor_up_to,
            how="the largest divisor of {leader_value} not above {old}",
            rule="{leader} ({leader_value}) must be a multiple of {follower} ({follower_value})",
        ),
    )
    """A batch the user left alone fits the group size; a minibatch fits the batch."""

    steps: int = as_in(
        PPOConfig,
        "steps",
        help="Training steps. Each step samples groups of responses, scores them, then runs "
        "several passes (epochs) of updates on that batch.",
    )
    batch_size: int = as_in(
        PPOConfig,
        "batch_size",
        help="Completions sampled per step (batch size / group size prompts). Larger: "
        "steadier updates, more memory.",
    )
    group_size: int = setting(
        4,
        label="Group size",
        help="Completions sampled per prompt; each is judged against the others of its "
        "group, so at least 2. Larger: a better baseline, fewer prompts per step.",
        why="a group needs at least 2 answers to compare",
        minimum=2,
        maximum=MAX_BATCH,
    )
    mini_batch_size: int = as_in(PPOConfig, "mini_batch_size")
    gradient_accumulation_steps: int = as_in(PPOConfig, "gradient_accumulation_steps")
    ppo_epochs: int = as_in(
        PPOConfig,
        "ppo_epochs",
        2,
        label="Epochs per batch",
        help="Update passes over each batch (the importance ratio is clipped from the "
        "second on). More squeezes more out of each sample but drifts further from the "
        "sampling policy (watch the clip fraction).",
    )
    learning_rate: float = as_in(
        PPOConfig,
        "learning_rate",
        help="AdamW learning rate of the LoRA weights (5e-4 suits the demo model; 1e-5 to "
        "1e-4 suit hub models).",
    )
    lr_schedule: str = as_in(PPOConfig, "lr_schedule")
    warmup_steps: int = as_in(PPOConfig, "warmup_steps")
    max_grad_norm: float = as_in(PPOConfig, "max_grad_norm")
    cliprange: float = as_in(PPOConfig, "cliprange")
    beta: float = setting(
        0.04,
        label="KL coefficient β",
        help="Weight of the KL to the reference (adapter-off) model. 0 drops the KL and "
        "skips the reference pass: faster, but nothing holds the policy near the original.",
        minimum=0.0,
        maximum=10.0,
        decimals=4,
        step=0.01,
        widget_name="betaSpin",
    )
    reference: str = as_in(PPOConfig, "reference")
    kl_penalty: str = setting(
        "loss",
        label="KL goes into",
        help="loss: a k3 KL term beta * KL in the loss (GRPO's way). reward: beta * k1 KL "
        "subtracted from each response's reward before the baseline (RLOO's way).",
        choices=KL_PENALTIES,
        active_when=("beta", ">", 0),  # beta 0: no KL at all
    )
    kl_estimator: str = setting(
        "k3",
        label="KL estimator",
        help="How each token's KL to the reference is estimated, in the loss or reward and "
        "in the KL plot. k3 (r - 1 - log r): unbiased and never negative. k1 (log p - log "
        "p_ref): unbiased but noisy, and negative on single tokens, so its plot can dip "
        "below 0. k2 ((log p - log p_ref)^2 / 2): never negative, low variance, slightly "
        "biased.",
        group="advanced",
        choices=KL_ESTIMATORS,
    )
    use_bias_correction_kl: bool = setting(
        False,
        label="KL bias correction",
        help="Weight the KL term in the loss by the probability ratio to the sampling "
        "policy (TRL's use_bias_correction_kl, its default since 1.x). The value is "
        "unchanged, the gradient becomes the unbiased one of the KL we plot, which pulls "
        "harder on tokens far above the reference's probability: a lower KL at the same "
        "beta.",
        group="advanced",
        active_when=("kl_penalty", "==", "loss"),
    )
    loss_type: str = setting(
        "dapo",
        label="Loss aggregation",
        help="How token losses are averaged (TRL's loss_type). dapo: every token of the "
        "batch weighs the same. grpo: the mean per completion, then over completions "
        "(a long answer's tokens weigh less: a length bias). bnpo: the token mean of each "
        "minibatch. dr_grpo: the sum over a constant (completions x max new tokens), no "
        "length bias.",
        group="advanced",
        choices=LOSS_TYPES,
    )
    importance_sampling_level: str = setting(
        "token",
        label="Importance ratio per",
        help="token: each token's probability ratio to the sampling policy is clipped on "
        "its own (GRPO). sequence: one ratio per completion, the geometric mean of its "
        "tokens' (GSPO, steadier for long answers; use a much smaller clip range, e.g. "
        "0.0003-0.0004).",
        group="advanced",
        choices=IMPORTANCE_SAMPLING_LEVELS,
    )
    epsilon_high: float | None = setting(
        None,
        label="Clip range, upper",
        help="The ratio's upper clip bound is 1 + this (DAPO's clip-higher: e.g. 0.28 with a "
        "clip range of 0.2), so unlikely tokens with a positive advantage can grow, "
        "against entropy collapse. Off: the clip range on both sides.",
        group="advanced",
        minimum=0.0,
        maximum=10.0,
        decimals=3,
        step=0.02,
        min_text="= clip range",
    )
    mask_truncated_completions: bool = setting(
        False,
        label="Mask truncated completions",
        help="Leave completions cut off at the length limit (no EOS) out of the loss "
        "(DAPO): their reward judges an unfinished answer. They still count in the "
        "reward metrics.",
        group="advanced",
    )
    drop_zero_std_groups: bool = setting(
        False,
        label="Drop groups without spread",
        help="Leave groups whose completions all got the same reward out of the loss (DAPO's "
        "dynamic sampling, without resampling): their advantage is 0, so they would add "
        "only KL and dilute the other groups' tokens. group/frac_reward_zero_std shows "
        "their share.",
        group="advanced",
    )
    missing_eos_penalty: float | None = as_in(PPOConfig, "missing_eos_penalty")
    max_new_tokens: int = as_in(PPOConfig, "max_new_tokens")
    temperature: float = as_in(
        PPOConfig,
        "temperature",
        help="Sampling temperature of rollouts, also used for their log-probs (group "
        "baselines need varied, sampled responses).",
    )
    top_k: int = hidden(0, help="Rollout top-k (0 = off): log-probs must match the sampler.")
    top_p: float = hidden(1.0, help="Rollout nucleus mass (1.0 = off), off for the same reason.")
    seed: int = as_in(PPOConfig, "seed")
    checkpoint_every: int = as_in(PPOConfig, "checkpoint_every")
    samples_per_step: int = as_in(
        PPOConfig,
        "samples_per_step",
        help="Groups per step whose first rollout is kept with the metrics and shown in "
        "the Latest rollouts table beside the reference's response.",
    )
    eval_prompts: int = as_in(PPOConfig, "eval_prompts")
    eval_every: int = as_in(PPOConfig, "eval_every")
    gradient_checkpointing: bool = as_in(PPOConfig, "gradient_checkpointing")
    logits_chunk_size: int = as_in(PPOConfig, "logits_chunk_size")

    @property
    def prompts_per_step(self) -> int:
        """Prompts sampled per step: batch_size / group_size."""
        return self.batch_size // self.group_size

    @property
    def clip_high(self) -> float:
        """The upper clip bound's epsilon: epsilon_high, or the clip range when off."""
        return self.cliprange if self.epsilon_high is None else self.epsilon_high


@dataclass(frozen=True)
class GRPOConfig(CriticFreeConfig):
    """GRPO (Shao et al. 2024): advantage = (reward - group mean) / std."""

    scale_rewards: str = setting(
        "group",
        label="Scale advantages by",
        help="group: divide by the group's reward std (GRPO). batch: by the std of the "
        "whole batch (steadier when groups agree). none: no scaling (Dr. GRPO, Liu et al. "
        "2025; avoids over-weighting prompts whose rewards barely differ).",
        choices=SCALE_REWARDS,
    )


@dataclass(frozen=True)
class RLOOConfig(CriticFreeConfig):
    """RLOO (Ahmadian et al. 2024): advantage = reward - mean of the group's other rewards."""

    kl_penalty: str = dataclasses.field(
        default="reward", metadata=CriticFreeConfig.__dataclass_fields__["kl_penalty"].metadata
    )
    kl_estimator: str = dataclasses.field(
        default="k1", metadata=CriticFreeConfig.__dataclass_fields__["kl_estimator"].metadata
    )
    """RLOO's KL penalty on the reward is k1 by default (its paper's and TRL's)."""
