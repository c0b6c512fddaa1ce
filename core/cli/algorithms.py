"""The training commands, one per algorithm of the registry (core.algorithms): the
on-policy ones take prompts and rewards (core/cli/training.py), the others the stored
feedback their spec reads (core/cli/offline_common.py)."""

from __future__ import annotations

import argparse

from core.algorithms import ALGORITHMS
from core.cli.offline_common import register_offline
from core.cli.training import register_command


def register(subparsers: argparse._SubParsersAction) -> None:
    for spec in ALGORITHMS.values():
        if spec.on_policy:
            register_command(subparsers, spec)
        else:
            register_offline(subparsers, spec)
