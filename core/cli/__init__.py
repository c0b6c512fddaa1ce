"""`rlhf-studio-cli`: every GUI action, headless, on the same code path.

Each subcommand lives in its own module under core/cli/ and exposes
`register(subparsers)`, which adds its parser and sets `func(args) -> int`.
Errors meant for users (StudioError) print as one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from core import __version__
from core.errors import StudioError
from core.paths import default_workspace
from core.quiet_libraries import quiet_libraries

# Modules of core/cli/ that define subcommands, in the order --help lists them.
COMMAND_MODULES = (
    "demo_model",
    "demo_judge",
    "prompts",
    "imports",
    "generate",
    "score",
    "label",
    "train_rm",
    "algorithms",  # one training command per algorithm (core.algorithms)
    "plan",
    "agreement",
    "resolve",
    "inspect",
    "export",
    "run_transfer",
)


def add_workspace_argument(parser: argparse.ArgumentParser) -> None:
    """The --workspace option every subcommand takes."""
    parser.add_argument(
        "--workspace",
        type=Path,
        default=None,
        help="workspace folder holding the store (default: a workspace in the user data folder)",
    )


def workspace_of(args: argparse.Namespace) -> Path:
    """The workspace folder named on the command line, or the default one."""
    return args.workspace if args.workspace is not None else default_workspace()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlhf-studio-cli",
        description="RLHF Studio, headless: demo model, prompts, generation, scoring, "
        "AI labelling, reward models, PPO, GRPO, RLOO and export.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"core.cli.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"core.cli.{name}":
                raise
            continue  # a command not built yet
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Our own progress bars report loading; keep the libraries' bars out of the output.
    # Read by huggingface_hub/transformers at import, which commands do lazily, after this.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    quiet_libraries()  # a one-line error stays one line, whatever a library prints
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except StudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        from core.train.distributed import leave_process_group

        leave_process_group()  # a command run by torchrun / accelerate launch


if __name__ == "__main__":
    sys.exit(main())
