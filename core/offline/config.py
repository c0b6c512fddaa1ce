"""Settings of the offline trainers (DPO/IPO, KTO, SFT, SimPO, ORPO), each declared once as
a setting.

The shared ones live in `OfflineConfig` (those PPO has too are PPOConfig's declarations,
reused); each algorithm adds its own. As with PPOConfig, the CLI flags, the Train form and
the range checks all come from these declarations.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.config.ppo import PPOConfig
from core.config.settings import as_in, setting, setting_problems
from core.errors import StudioError

FROM_CHOICES = ("human", "ai", "all")
"""--from: whose feedback to learn from (people's, the AI judge's, or both)."""
DPO_LOSSES = ("sigmoid", "ipo")
"""DPOConfig.loss_type: the DPO log-sigmoid loss, or IPO's squared loss."""
TIE_MODES = ("skip", "soft")
"""What DPO does with tied comparisons: leave them out, or learn them as label 0.5."""


@dataclass(frozen=True)
class OfflineConfig:
    """What every trainer from stored data shares. Settings PPO has too reuse PPOConfig's
    declaration (core.config.settings.as_in): the same flag, label and range."""

    steps: int = as_in(
        PPOConfig,
        "steps",
        60,
        help="Optimiser steps. Each takes the next batch of examples (reshuffled each epoch).",
    )
    batch_size: int = as_in(
        PPOConfig,
        "batch_size",
        16,
        help="Examples (pairs, ratings or demonstrations) per optimiser step.",
    )
    micro_batch_size: int = setting(
        16,
        label="Micro-batch size",
        help="Examples per forward pass; gradients of a batch's micro-batches add up. "
        "Lower it to save memory.",
        group="advanced",
        minimum=1,
        maximum=4096,
    )
    learning_rate: float = as_in(
        PPOConfig,
        "learning_rate",
        help="AdamW learning rate of the LoRA weights (5e-4 suits the demo model; 1e-5 to "
        "1e-4 suit hub models).",
    )
    lr_schedule: str = as_in(
        PPOConfig,
        "lr_schedule",
        help="Learning rate over the run: constant, or a linear / cosine decay to 0.",
    )
    warmup_steps: int = as_in(
        PPOConfig, "warmup_steps", help="Steps of linear learning-rate warmup."
    )
    max_grad_norm: float = as_in(PPOConfig, "max_grad_norm")
    max_response_tokens: int = setting(
        48,
        label="Response length",
        help="Responses longer than this many tokens are cut (an EOS is always added).",
        minimum=1,
        maximum=4096,
    )
    eval_fraction: float = setting(
        0.1,
        label="Held-out share",
        help="Share of the examples kept out of training (picked by the seed) to measure "
        "what carries over.",
        minimum=0.0,
        maximum=0.9,
        decimals=2,
        step=0.05,
        min_text="off",
    )
    eval_every: int = as_in(PPOConfig, "eval_every")
    seed: int = as_in(
        PPOConfig,
        "seed",
        help="Seed of the split, the data order and initialisation: same seed, same run.",
    )
    checkpoint_every: int = as_in(PPOConfig, "checkpoint_every")
    gradient_checkpointing: bool = as_in(PPOConfig, "gradient_checkpointing")
    logits_chunk_size: int = as_in(PPOConfig, "logits_chunk_size")


@dataclass(frozen=True)
class DPOConfig(OfflineConfig):
    """DPO / IPO from preference pairs, against the adapter-off base."""

    loss_type: str = setting(
        "sigmoid",
        label="Loss",
        help="sigmoid: DPO (Rafailov et al. 2023); ipo: IPO's squared loss on length-"
        "averaged log-ratios (Azar et al. 2023), steadier on near-deterministic labels.",
        choices=DPO_LOSSES,
        flag="loss",
    )
    beta: float = setting(
        0.1,
        label="KL coefficient β",
        help="Strength of the pull towards the base model: higher keeps the policy closer "
        "(IPO: the target margin is 1 / (2 beta)).",
        minimum=0.001,
        maximum=100.0,
        decimals=3,
        step=0.05,
    )
    label_smoothing: float = setting(
        0.0,
        label="Label smoothing",
        help="Assumed chance that a hard (human) label is wrong. AI labels always use the "
        "judge's own probability.",
        group="advanced",
        minimum=0.0,
        maximum=0.49,
        decimals=2,
        step=0.05,
    )
    ties: str = setting(
        "skip",
        label="Ties",
        help="skip: tied comparisons are left out; soft: learned as 'equally good' "
        "(label 0.5, which pulls their margin to 0). 'Both bad' is always left out of DPO.",
        group="advanced",
        choices=TIE_MODES,
    )


@dataclass(frozen=True)
class KTOConfig(OfflineConfig):
    """KTO from single answers marked desirable (thumbs up) or undesirable (down)."""

    beta: float = setting(
        0.1,
        label="KL coefficient β",
        help="Strength of the pull towards the base model.",
        minimum=0.001,
        maximum=100.0,
        decimals=3,
        step=0.05,
    )
    desirable_weight: float = setting(
        1.0,
        label="Desirable weight",
        help="Weight of thumbs-up answers; raise it when they are rarer than thumbs-down.",
        group="advanced",
        minimum=0.01,
        maximum=100.0,
        decimals=2,
    )
    undesirable_weight: float = setting(
        1.0,
        label="Undesirable weight",
        help="Weight of thumbs-down answers.",
        group="advanced",
        minimum=0.01,
        maximum=100.0,
        decimals=2,
    )


@dataclass(frozen=True)
class SFTConfig(OfflineConfig):
    """Supervised fine-tuning (imitation) on demonstrations; loss on response tokens only."""


@dataclass(frozen=True)
class SimPOConfig(OfflineConfig):
    """SimPO from preference pairs (Meng et al. 2024): reference-free, length-normalised."""

    beta: float = as_in(
        DPOConfig,
        "beta",
        2.0,
        label="Reward scale β",
        help="Scale of the length-averaged log-prob margin (the paper uses 2 to 2.5); "
        "higher sharpens the preference.",
    )
    gamma: float = setting(
        0.5,
        label="Gamma (target margin)",
        help="The margin beta times the chosen answer's mean log-prob must beat the "
        "rejected one's by (the paper: gamma / beta about 0.25 to 0.5).",
        minimum=0.0,
        maximum=100.0,
        decimals=2,
        step=0.1,
    )
    label_smoothing: float = as_in(DPOConfig, "label_smoothing")
    ties: str = as_in(DPOConfig, "ties")


@dataclass(frozen=True)
class ORPOConfig(OfflineConfig):
    """ORPO from preference pairs (Hong et al. 2024): SFT on the chosen answers plus an
    odds-ratio term, reference-free."""

    odds_ratio_weight: float = setting(
        0.1,
        label="Lambda",
        help="Weight of the odds-ratio term beside the chosen answers' NLL (the paper's "
        "lambda, 0.1, for long answers of large models); higher pushes the rejected answers "
        "down harder. The demo model's short reviews need about 1 to 4.",
        minimum=0.0,
        maximum=100.0,
        decimals=3,
        step=0.05,
        flag="lambda",
    )
    label_smoothing: float = as_in(DPOConfig, "label_smoothing")
    ties: str = as_in(DPOConfig, "ties")


def check_config(config: OfflineConfig) -> None:
    """Refuse settings out of their ranges in one line (the Train page, before a run)."""
    problems = setting_problems(config)
    if problems:
        kind = type(config).__name__.removesuffix("Config")
        raise StudioError(f"Invalid {kind} settings: " + "; ".join(problems) + ".")
