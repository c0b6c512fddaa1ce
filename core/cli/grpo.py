"""`grpo`: critic-free LoRA GRPO (group-relative advantages) from the command line, with
the `ppo` command's model, reward, checkpoint, resume and metrics options
(core/cli/training.py) plus --group-size."""

from __future__ import annotations

import argparse

from core.cli.training import TrainingCommand, register_command
from core.critic_free_config import GRPOConfig

GRPO_COMMAND = TrainingCommand(
    name="grpo",
    help="train the model's LoRA adapter with GRPO: no value head, "
    "--group-size completions per prompt",
    description="LoRA GRPO (group-relative advantages). Defaults: the demo model, its "
    "built-in prompts and the sentiment reward. --batch-size counts completions: a step "
    "samples batch-size / group-size prompts. Checkpoints go to "
    "<workspace>/checkpoints/run-<id>/step-<N>/.",
    config_class=GRPOConfig,
    algorithm_path="core.grpo.launch:GRPO",
    check_path="core.grpo.trainer:check_config",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    register_command(subparsers, GRPO_COMMAND)
