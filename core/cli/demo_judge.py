"""`demo-judge`: build or locate the built-in demo judge; prints its folder last."""

from __future__ import annotations

import argparse

from core.cli import add_workspace_argument
from core.progress import tqdm_progress


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `demo-judge` subcommand."""
    parser = subparsers.add_parser(
        "demo-judge",
        help="build or locate the built-in demo judge",
        description="Build the built-in demo judge on first use (the demo model fine-tuned on "
        "synthetic judge tasks; a few minutes on 2 CPU cores, no download) or find the built "
        "copy. It follows the rubric presets positivity, concision and positive-concise "
        "(`label --judge "
        "demo-judge --rubric positivity`). The folder's path is the last line printed.",
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="build it again even if a built copy exists"
    )
    add_workspace_argument(parser)  # unused; every subcommand takes it for uniformity
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the demo judge if needed, print a one-line summary and then its folder."""
    from core.judge import demo_judge_info, ensure_demo_judge, is_demo_judge_built

    if args.rebuild or not is_demo_judge_built():
        with tqdm_progress("building demo judge", unit="step") as progress:
            folder = ensure_demo_judge(progress, rebuild=args.rebuild)
    else:
        folder = ensure_demo_judge()
    info = demo_judge_info(folder)
    accuracy = ", ".join(f"{k} {100 * v:.0f} %" for k, v in info["synthetic_accuracy"].items())
    print(
        f"demo judge: {info['parameters'] / 1e6:.1f}M parameters, trained on {info['tasks']} "
        f"judge tasks in {info['build_seconds']:.0f} s; held-out synthetic accuracy: {accuracy}"
    )
    print(folder)
    return 0
