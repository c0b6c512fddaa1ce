"""PPO's settings from the command line (--config and the flags), for the callers that
read them outside a run; the `ppo` command itself is made from the registry
(core/cli/algorithms.py)."""

from __future__ import annotations

import argparse

from core.cli.training import config_from_args
from core.config import PPOConfig
from core.config.settings import config_from_sources


def ppo_config_from_args(args: argparse.Namespace) -> PPOConfig:
    """PPOConfig from --config (if given) overridden by the individual flags; settings set
    in neither follow those that were, each change said on stderr (ppo_config_and_notes)."""
    return config_from_args(args, PPOConfig)


def ppo_config_and_notes(args: argparse.Namespace) -> tuple[PPOConfig, list[str]]:
    """(PPOConfig, notes on the settings changed to fit the ones the user set).
    Raises TrainingError naming every setting out of range or contradicting another."""
    return config_from_sources(PPOConfig, args, args.config)
