"""PPOConfig: the LoRA PPO hyper-parameters, each declared once as a setting.

Each field's setting() gives its label, help, range and form group: the `ppo` flags, the
Train form and the range checks all come from it (core/config/settings.py). FOLLOWS lets a batch
or minibatch size the user left alone fit the one they set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from core.config.batch_rules import (
    MAX_BATCH,
    divides,
    largest_divisor_up_to,
    multiple_not_below,
    multiple_of,
)
from core.config.settings import Follow, hidden, setting

LR_SCHEDULES = ("constant", "linear", "cosine")
"""PPOConfig.lr_schedule choices: constant, or a linear / cosine decay after the warmup."""
KL_MODES = ("adaptive", "fixed")
REFERENCE_CHOICES = ("start", "base")
"""What the KL is measured to: the policy a run starts from, or the adapter-off base."""
"""PPOConfig.kl_mode choices."""


@dataclass(frozen=True)
class PPOConfig:
    """LoRA PPO hyper-parameters. Defaults work out of the box on the demo model."""

    FOLLOWS: ClassVar[tuple[Follow, ...]] = (
        Follow(
            "mini_batch_size",
            "batch_size",
            fits=divides,
            adjust=largest_divisor_up_to,
            how="the largest divisor of {leader_value} not above {old}",
            rule="{leader} ({leader_value}) must be a multiple of {follower} ({follower_value})",
        ),
        Follow(
            "batch_size",
            "mini_batch_size",
            fits=multiple_of,
            adjust=multiple_not_below,
            how="the smallest multiple of {leader_value} not below {old}",
            rule="{follower} ({follower_value}) must be a multiple of {leader} ({leader_value})",
        ),
    )
    """A batch size or minibatch size the user left alone fits the one they set."""

    steps: int = setting(
        40,
        label="Steps",
        help="PPO steps. Each step samples one batch of responses, scores them, then runs "
        "several passes (PPO epochs) of updates on that batch.",
        minimum=1,
        maximum=1_000_000,
        widget_name="trainStepsSpin",
    )
    batch_size: int = setting(
        32,
        label="Batch size",
        help="Responses sampled per step. Larger: steadier updates, more memory.",
        minimum=1,
        maximum=MAX_BATCH,
    )
    mini_batch_size: int = setting(
        16,
        label="Minibatch size",
        help="Responses per optimiser minibatch; the batch size must be a multiple of it. "
        "Left alone, it follows the batch size.",
        minimum=1,
        maximum=MAX_BATCH,
        widget_name="miniBatchSpin",
    )
    gradient_accumulation_steps: int = setting(
        1,
        label="Gradient accumulation",
        help="Minibatches whose gradients are averaged before one optimiser step.",
        group="advanced",
        minimum=1,
        maximum=1024,
    )
    ppo_epochs: int = setting(
        4,
        label="PPO epochs",
        help="Passes over each batch. More squeezes more out of each sample but drifts "
        "further from the sampling policy (watch the clip fraction).",
        minimum=1,
        maximum=64,
    )
    learning_rate: float = setting(
        5e-4,
        label="Learning rate",
        help="AdamW learning rate of the LoRA weights and the value head (5e-4 suits the "
        "demo model; 1e-5 to 1e-4 suit hub models).",
        minimum=1e-7,
        maximum=1.0,
        decimals=7,
        step=1e-4,
    )
    lr_schedule: str = setting(
        "constant",
        label="LR schedule",
        help="Learning rate over the run: constant, or a linear / cosine decay to 0 after "
        "the warmup.",
        group="advanced",
        choices=LR_SCHEDULES,
    )
    warmup_steps: int = setting(
        0,
        label="Warmup steps",
        help="PPO steps of linear learning-rate warmup.",
        group="advanced",
        minimum=0,
        maximum=100_000,
    )
    max_grad_norm: float = setting(
        1.0,
        label="Max gradient norm",
        help="Clip the gradient's global norm to this.",
        group="advanced",
        minimum=0.0,
        maximum=1000.0,
        decimals=2,
        step=0.1,
        min_text="no clipping",
    )
    gamma: float = setting(
        1.0,
        label="GAE gamma",
        help="GAE discount. 1 suits short responses scored at the end.",
        group="advanced",
        minimum=0.0,
        maximum=1.0,
        decimals=3,
        step=0.01,
    )
    lam: float = setting(
        0.95,
        label="GAE lambda",
        help="GAE lambda: lower trusts the value head more (less variance, more bias).",
        group="advanced",
        minimum=0.0,
        maximum=1.0,
        decimals=3,
        step=0.01,
    )
    cliprange: float = setting(
        0.2,
        label="Policy clip range",
        help="PPO ratio clip: how far one update may move a token's probability.",
        group="advanced",
        minimum=0.01,
        maximum=10.0,
        decimals=3,
        step=0.05,
    )
    cliprange_value: float = setting(
        0.2,
        label="Value clip range",
        help="How far one update may move a value prediction from its rollout-time value.",
        group="advanced",
        minimum=0.01,
        maximum=1000.0,
        decimals=3,
        step=0.05,
    )
    vf_coef: float = setting(
        0.1,
        label="Value loss weight",
        help="Weight of the value loss beside the policy loss.",
        group="advanced",
        minimum=0.0,
        maximum=100.0,
        decimals=3,
        step=0.05,
    )
    reference: str = setting(
        "start",
        label="KL reference",
        help="start: the policy the run starts from (a loaded adapter, e.g. an SFT one, is "
        "kept frozen as the reference, as InstructGPT anchors RL to the SFT model). base: "
        "the base model with the adapter off. Without a trained adapter both are the base.",
        choices=REFERENCE_CHOICES,
        widget_name="referenceCombo",
    )
    kl_mode: str = setting(
        "adaptive",
        label="KL mode",
        help="adaptive: the KL coefficient is steered so KL approaches the target (Ziegler "
        "et al. 2019). fixed: the coefficient stays at its initial value.",
        choices=KL_MODES,
    )
    init_kl_coef: float = setting(
        0.05,
        label="KL coefficient β",
        help="Starting (or fixed) weight of the per-token KL penalty to the reference "
        "(adapter-off) model. Higher keeps the policy closer to the original model.",
        minimum=0.0,
        maximum=10.0,
        decimals=4,
        step=0.01,
        widget_name="klCoefSpin",
    )
    target_kl: float = setting(
        6.0,
        label="KL target (nats)",
        help="Adaptive mode: the KL, in nats per response, the controller aims for. Drawn "
        "as a dashed line on the KL plot.",
        minimum=0.01,
        maximum=1000.0,
        decimals=2,
        widget_name="klTargetSpin",
        active_when=("kl_mode", "==", "adaptive"),
    )
    kl_horizon: int = setting(
        1000,
        label="KL horizon",
        help="Adaptive mode: rollouts over which the KL controller reacts; smaller reacts faster.",
        group="advanced",
        minimum=1,
        maximum=10_000_000,
        active_when=("kl_mode", "==", "adaptive"),
    )
    whiten_rewards: bool = setting(
        False,
        label="Whiten rewards",
        help="Whiten the scores across each batch before the KL penalty (steadier with "
        "rewards of a large or drifting scale).",
        group="advanced",
    )
    missing_eos_penalty: float | None = setting(
        None,
        label="Missing-EOS penalty",
        help="Subtracted from the score of responses cut off at the length limit. Stops the "
        "policy from gaming the reward by never ending.",
        group="advanced",
        minimum=0.0,
        maximum=100.0,
        decimals=2,
        step=0.1,
        min_text="off",
    )
    max_new_tokens: int = setting(
        24,
        label="Response length",
        help="Response length limit of rollouts, in tokens.",
        minimum=1,
        maximum=4096,
    )
    temperature: float = setting(
        1.0,
        label="Temperature",
        help="Sampling temperature of rollouts, also used for their log-probs (PPO needs a "
        "sampled, not greedy, policy).",
        why="training needs a sampled, not greedy, policy",
        minimum=0.01,
        maximum=10.0,
        decimals=2,
        step=0.1,
    )
    top_k: int = hidden(
        0, help="Rollout top-k (0 = off). Off is right for PPO: log-probs must match the sampler."
    )
    top_p: float = hidden(1.0, help="Rollout nucleus mass (1.0 = off), off for the same reason.")
    seed: int = setting(
        0,
        label="Seed",
        help="Seed of prompt order, sampling and initialisation: same seed, same run.",
        minimum=0,
        maximum=2**31 - 1,
    )
    checkpoint_every: int = setting(
        0,
        label="Checkpoint every",
        help="Save a checkpoint every N steps; a run always saves one at the end and on stop.",
        minimum=0,
        maximum=100_000,
        min_text="end only",
    )
    samples_per_step: int = setting(
        4,
        label="Samples shown per step",
        help="Rollouts per step kept with the metrics and shown in the Latest rollouts "
        "table beside the reference's response (each costs a little generation time).",
        group="advanced",
        minimum=0,
        maximum=1024,
        min_text="none",
    )
    eval_prompts: int = setting(
        0,
        label="Held-out prompts",
        help="Prompts kept out of training (picked by the seed) that the policy answers "
        "every few steps: the Reward plot's held-out curve shows whether what it learns "
        "carries over to prompts it never trained on.",
        group="advanced",
        minimum=0,
        maximum=100_000,
        min_text="off",
    )
    eval_every: int = setting(
        5,
        label="Evaluate every (steps)",
        help="Steps between held-out evaluations; the last step is always evaluated.",
        group="advanced",
        minimum=1,
        maximum=100_000,
    )
    gradient_checkpointing: bool = setting(
        False,
        label="Gradient checkpointing",
        help="Keep only each layer's input in the forward pass and recompute the rest in the "
        "backward pass: far less activation memory in training (long texts, large "
        "minibatches, real-size models) for roughly a third more update time. Off by "
        "default: the demo model fits easily. Generation and the reference pass are "
        "unaffected.",
        group="advanced",
    )
    logits_chunk_size: int = setting(
        0,
        label="Logits chunk (tokens)",
        help="Apply the output layer to this many response positions at a time, from the "
        "last hidden state, and recompute each chunk in the backward pass instead of "
        "keeping the whole batch x length x vocabulary logits: saves the largest "
        "activation of models with big vocabularies, for one more output-layer pass per "
        "update. 0 (off): the model returns all the logits at once, fastest on small "
        "models.",
        group="advanced",
        minimum=0,
        maximum=100_000,
        min_text="off",
    )
