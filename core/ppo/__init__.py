"""LoRA PPO: the trainer, its maths, KL control, value head and checkpoints.

`from core.ppo import PPOTrainer, StepResult` is the entry point; see core/ppo/trainer.py.
"""

from core.ppo.trainer import PPOTrainer, StepResult

__all__ = ["PPOTrainer", "StepResult"]
