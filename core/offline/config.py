"""Settings of the offline trainers (DPO/IPO, KTO, SFT), each declared once as a setting.

The shared ones live in `OfflineConfig`; each algorithm adds its own. As with PPOConfig,
the CLI flags, the Train form and the range checks all come from these declarations.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import StudioError
from core.ppo_config import LR_SCHEDULES
from core.settings import setting, setting_problems

FROM_CHOICES = ("human", "ai", "all")
"""--from: whose feedback to learn from (people's, the AI judge's, or both)."""
DPO_LOSSES = ("sigmoid", "ipo")
"""DPOConfig.loss_type: the DPO log-sigmoid loss, or IPO's squared loss."""
TIE_MODES = ("skip", "soft")
"""What DPO does with tied comparisons: leave them out, or learn them as label 0.5."""


@dataclass(frozen=True)
class OfflineConfig:
    """What every trainer from stored data shares."""

    steps: int = setting(
        60,
        label="Steps",
        help="Optimiser steps. Each takes the next batch of examples (reshuffled each epoch).",
        minimum=1,
        maximum=1_000_000,
        widget_name="trainStepsSpin",
    )
    batch_size: int = setting(
        16,
        label="Batch size",
        help="Examples (pairs, ratings or demonstrations) per optimiser step.",
        minimum=1,
        maximum=4096,
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
    learning_rate: float = setting(
        5e-4,
        label="Learning rate",
        help="AdamW learning rate of the LoRA weights (5e-4 suits the demo model; 1e-5 to "
        "1e-4 suit hub models).",
        minimum=1e-7,
        maximum=1.0,
        decimals=7,
        step=1e-4,
    )
    lr_schedule: str = setting(
        "constant",
        label="LR schedule",
        help="Learning rate over the run: constant, or a linear / cosine decay to 0.",
        group="advanced",
        choices=LR_SCHEDULES,
    )
    warmup_steps: int = setting(
        0,
        label="Warmup steps",
        help="Steps of linear learning-rate warmup.",
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
    eval_every: int = setting(
        5,
        label="Evaluate every (steps)",
        help="Steps between held-out evaluations; the last step is always evaluated.",
        group="advanced",
        minimum=1,
        maximum=100_000,
    )
    seed: int = setting(
        0,
        label="Seed",
        help="Seed of the split, the data order and initialisation: same seed, same run.",
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
        label="Beta",
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
        label="Beta",
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


def check_config(config: OfflineConfig) -> None:
    """Refuse settings out of their ranges in one line (the Train page, before a run)."""
    problems = setting_problems(config)
    if problems:
        kind = type(config).__name__.removesuffix("Config")
        raise StudioError(f"Invalid {kind} settings: " + "; ".join(problems) + ".")
