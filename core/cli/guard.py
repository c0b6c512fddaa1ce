"""The training commands' guardrail options: `--guard` and the `--guard-<setting>` thresholds
(core.train.guardrails). A guardrail that fires stops a CLI run after that step, with a
checkpoint to continue from; nobody is there to resume a pause."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from core.config.settings import add_setting_flags, user_values_from_args
from core.train.guardrails import GuardrailConfig, Guardrails

if TYPE_CHECKING:
    from core.train.run import TrainingRun

PREFIX = "guard-"


def add_guard_arguments(parser: argparse.ArgumentParser) -> None:
    """--guard, and one --guard-<name> flag per threshold."""
    group = parser.add_argument_group("guardrails")
    group.add_argument(
        "--guard",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="stop the run with a checkpoint when it goes wrong: the trained reward rises "
        "while a --watch-reward falls, KL passes its target by a factor, response length "
        "drifts or hits the limit, or entropy collapses (default: off)",
    )
    add_setting_flags(group, GuardrailConfig, prefix=PREFIX)


def guardrail_config_from_args(args: argparse.Namespace) -> GuardrailConfig:
    """The thresholds given on the command line over the declared defaults."""
    return GuardrailConfig(**user_values_from_args(GuardrailConfig, args, prefix=PREFIX))


def attach_guardrails(run: TrainingRun, args: argparse.Namespace) -> None:
    """With --guard, the run stops when a guardrail fires."""
    if not args.guard:
        return
    run.guardrails = Guardrails.for_run(run.config, guardrail_config_from_args(args))
    run.stop_on_guard = True
