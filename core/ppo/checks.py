"""PPO settings checks, torch-free: the GUI checks the form on its thread before a run.

core/ppo/optim.py re-exports them next to the optimiser and schedules they guard.
"""

from __future__ import annotations

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
