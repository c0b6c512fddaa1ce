"""PPO settings checks, torch-free: the GUI checks the form on its thread before a run.

core/train/optim.py re-exports them next to the optimiser and schedules they guard. The
rules are PPOConfig's declarations (ranges, choices, FOLLOWS, each setting's `why`):
nothing here restates them.
"""

from __future__ import annotations

from core.config import LR_SCHEDULES, PPOConfig  # noqa: F401 (LR_SCHEDULES: optim re-exports it)
from core.config.settings import setting_problems
from core.errors import TrainingError


def check_config(config: PPOConfig) -> None:
    """Reject settings PPO cannot run with, naming the setting and the fix."""
    problems = setting_problems(config)
    if problems:
        raise TrainingError("Invalid PPO settings: " + "; ".join(problems) + ".")
