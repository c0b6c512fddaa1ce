"""Optimiser, learning-rate schedule and config checks of the PPO trainer."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn

from core.config import LR_SCHEDULES, PPOConfig
from core.errors import TrainingError
from core.settings import setting_problems


def check_config(config: PPOConfig) -> None:
    """Reject settings PPO cannot run with, naming the setting and the fix."""
    problems = []
    if config.steps < 1:
        problems.append(f"steps is {config.steps}; it must be at least 1")
    if config.batch_size < 1 or config.mini_batch_size < 1:
        problems.append("batch_size and mini_batch_size must be at least 1")
    elif config.batch_size % config.mini_batch_size:
        problems.append(
            f"batch_size ({config.batch_size}) must be a multiple of mini_batch_size "
            f"({config.mini_batch_size})"
        )
    if config.gradient_accumulation_steps < 1 or config.ppo_epochs < 1:
        problems.append("gradient_accumulation_steps and ppo_epochs must be at least 1")
    if config.lr_schedule not in LR_SCHEDULES:
        problems.append(f"lr_schedule is {config.lr_schedule!r}; use {', '.join(LR_SCHEDULES)}")
    if config.learning_rate <= 0 or config.warmup_steps < 0:
        problems.append("learning_rate must be > 0 and warmup_steps >= 0")
    if config.temperature <= 0:
        problems.append("temperature must be > 0 (PPO needs a sampled, not greedy, policy)")
    if config.max_new_tokens < 1:
        problems.append("max_new_tokens must be at least 1")
    if not 0 <= config.gamma <= 1 or not 0 <= config.lam <= 1:
        problems.append("gamma and lam must lie in [0, 1]")
    if config.cliprange <= 0 or config.cliprange_value <= 0:
        problems.append("cliprange and cliprange_value must be > 0")
    if config.eval_prompts < 0 or config.eval_every < 1:
        problems.append("eval_prompts must be >= 0 and eval_every at least 1")
    # The specific messages above first; the declared ranges and choices catch the rest.
    problems = problems or setting_problems(config)
    if problems:
        raise TrainingError("Invalid PPO settings: " + "; ".join(problems) + ".")


def build_optimizer(parameters: Iterable[nn.Parameter], config: PPOConfig) -> torch.optim.AdamW:
    """AdamW over the trainable parameters only (LoRA + value head); no weight decay.

    Weight decay would pull the LoRA update towards zero, i.e. towards the reference
    policy, a second KL-like force the KL controller does not know about.
    """
    parameters = list(parameters)
    if not parameters:
        raise TrainingError(
            "The model has no trainable weights: load it with a LoRA adapter (ModelSpec.lora)."
        )
    return torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=0.0)


def lr_factor(config: PPOConfig) -> Callable[[int], float]:
    """Multiplier of the base learning rate at PPO step s (0-based), for LambdaLR.

    Linear warmup over `warmup_steps` (the first step already learns), then constant,
    or a linear / cosine decay towards 0 over the remaining steps.
    """
    warmup, total = config.warmup_steps, config.steps

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if config.lr_schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        if config.lr_schedule == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: PPOConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    """The LR schedule, stepped once per PPO step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(config))


def sync_learning_rates(
    optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LambdaLR
) -> None:
    """Set each group's learning rate from the schedule at the scheduler's current step.

    After a checkpoint's scheduler state is loaded into a schedule for a different total
    of steps, the optimiser still holds the old schedule's rates; this recomputes them
    exactly as LambdaLR does (base_lr * factor(step)).
    """
    factors = scheduler.lr_lambdas
    for group, base_lr, factor in zip(
        optimizer.param_groups, scheduler.base_lrs, factors, strict=True
    ):
        group["lr"] = base_lr * factor(scheduler.last_epoch)
