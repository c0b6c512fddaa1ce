"""LoRA PPO: the trainer, its maths, KL control, value head, checkpoints, metrics and
health checks.

`from core.ppo import PPOTrainer, StepResult` is the entry point; see core/ppo/trainer.py.
The trainer (torch, transformers, peft) is imported on first use of those names, so the
package's torch-free modules (checks, metrics' key names, health checks) load without it:
the GUI imports them at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.ppo.trainer import PPOTrainer, StepResult

__all__ = ["PPOTrainer", "StepResult"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from core.ppo import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'core.ppo' has no attribute {name!r}")
