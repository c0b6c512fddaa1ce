"""`demo-model`: build or locate the built-in demo model; prints its folder last."""

from __future__ import annotations

import argparse

from core.cli import add_workspace_argument
from core.progress import tqdm_progress


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `demo-model` subcommand."""
    parser = subparsers.add_parser(
        "demo-model",
        help="build or locate the built-in demo model",
        description="Build the built-in demo model on first use (about 2 minutes on 2 CPU "
        "cores, no download) or find the built copy. The model folder's path is the last "
        "line printed, so scripts can use `$(rlhf-studio-cli demo-model | tail -n 1)`.",
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="build it again even if a built copy exists"
    )
    add_workspace_argument(parser)  # unused; every subcommand takes it for uniformity
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the demo model if needed, print a one-line summary and then its folder."""
    # Imported here so `--help` does not pay for importing torch and transformers.
    from core.demo import demo_model_info, ensure_demo_model, is_demo_model_built

    if args.rebuild or not is_demo_model_built():
        with tqdm_progress("building demo model", unit="step") as progress:
            folder = ensure_demo_model(progress, rebuild=args.rebuild)
    else:
        folder = ensure_demo_model()
    info = demo_model_info(folder)
    print(
        f"demo model: {info['parameters'] / 1e6:.1f}M parameters, vocabulary {info['vocab_size']}, "
        f"trained on {info['corpus_size']} reviews in {info['build_seconds']:.0f} s "
        f"(loss {info['final_train_loss']:.2f})"
    )
    print(folder)
    return 0
