"""`ppo`: LoRA PPO from the command line, with checkpoints, resume and a metrics stream
(the machinery every training command shares is core/cli/training.py)."""

from __future__ import annotations

import argparse

from core.cli.training import TrainingCommand, config_from_args, register_command
from core.config import PPOConfig
from core.settings import config_from_sources

PPO_COMMAND = TrainingCommand(
    name="ppo",
    help="train the model's LoRA adapter with PPO against one or more rewards",
    description="LoRA PPO. Defaults: the demo model, its built-in prompts and the "
    "sentiment reward. Checkpoints go to <workspace>/checkpoints/run-<id>/step-<N>/.",
    config_class=PPOConfig,
    algorithm_path="core.ppo.launch:PPO",
    check_path="core.ppo.optim:check_config",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    register_command(subparsers, PPO_COMMAND)


def ppo_config_from_args(args: argparse.Namespace) -> PPOConfig:
    """PPOConfig from --config (if given) overridden by the individual flags; settings set
    in neither follow those that were, each change said on stderr (ppo_config_and_notes)."""
    return config_from_args(args, PPOConfig)


def ppo_config_and_notes(args: argparse.Namespace) -> tuple[PPOConfig, list[str]]:
    """(PPOConfig, notes on the settings changed to fit the ones the user set).
    Raises TrainingError naming every setting out of range or contradicting another."""
    return config_from_sources(PPOConfig, args, args.config)
