"""`rloo`: critic-free LoRA RLOO (leave-one-out baseline) from the command line, with
the `ppo` command's model, reward, checkpoint, resume and metrics options
(core/cli/training.py) plus --group-size."""

from __future__ import annotations

import argparse

from core.cli.training import TrainingCommand, register_command
from core.critic_free_config import RLOOConfig

RLOO_COMMAND = TrainingCommand(
    name="rloo",
    help="train the model's LoRA adapter with RLOO: no value head, "
    "--group-size completions per prompt",
    description="LoRA RLOO (leave-one-out baseline). Defaults: the demo model, its "
    "built-in prompts and the sentiment reward. --batch-size counts completions: a step "
    "samples batch-size / group-size prompts. Checkpoints go to "
    "<workspace>/checkpoints/run-<id>/step-<N>/.",
    config_class=RLOOConfig,
    algorithm_path="core.grpo.launch:RLOO",
    check_path="core.grpo.trainer:check_config",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    register_command(subparsers, RLOO_COMMAND)
