"""`export --format pairs|ratings|metrics|samples|adapter|merged --out PATH`: data and
models for other tools."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli import add_workspace_argument, workspace_of
from core.errors import StudioError
from core.export import export_metrics, export_pairs, export_ratings, export_samples
from core.store import SOURCES, Store


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the export subcommand."""
    parser = subparsers.add_parser(
        "export",
        help="export preference pairs, ratings or a run's metrics",
        description='pairs: JSONL of {"prompt", "chosen", "rejected"} (the layout TRL\'s reward '
        "and DPO trainers read; ties and both-bad verdicts are left out); ratings: JSONL of "
        "prompt, response, rating, rater, note; metrics: CSV with one row per step of a run; "
        "samples: JSONL of a run's kept rollouts and held-out answers (step, prompt, "
        "response, reward, reference, split); "
        "adapter: a checkpoint's PEFT adapter folder; merged: the base model with the "
        "checkpoint's adapter merged in, as a plain Hugging Face model folder.",
    )
    parser.add_argument(
        "--format",
        required=True,
        choices=("pairs", "ratings", "metrics", "samples", "adapter", "merged"),
    )
    parser.add_argument("--out", required=True, type=Path, metavar="PATH", help="where to write")
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace PATH if it exists (default: refuse); the new export still replaces "
        "it whole, and only once it is complete",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="adapter and merged: a checkpoint step folder (or an adapter folder)",
    )
    parser.add_argument(
        "--model",
        default="demo",
        help="merged: the checkpoint's base model ('demo', a folder or a hub id)",
    )
    parser.add_argument(
        "--source",
        choices=SOURCES,
        default=None,
        help="whose feedback to export (pairs and ratings; default: all)",
    )
    parser.add_argument(
        "--run",
        type=int,
        default=None,
        metavar="ID",
        help="run to export (metrics and samples; default: the latest run that has them)",
    )
    add_workspace_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export and say what was written."""
    if args.format in ("adapter", "merged"):
        return _export_model(args)
    if args.checkpoint is not None:
        raise StudioError("--checkpoint applies to --format adapter and merged only")
    if args.run is not None and args.format not in ("metrics", "samples"):
        raise StudioError("--run applies to --format metrics and samples only; leave it out")
    if args.source is not None and args.format in ("metrics", "samples"):
        raise StudioError("--source applies to pairs and ratings only; leave it out")
    source = args.source or "all"
    force = args.force
    with Store.open_for_reading(workspace_of(args)) as store:  # read-only workspaces too
        if args.format == "pairs":
            report = export_pairs(store, args.out, source, force=force)
            print(
                f"wrote {report.written} pairs; left out "
                f"{report.skipped_ties} ties and {report.skipped_both_bad} both-bad ({args.out})"
            )
        elif args.format == "ratings":
            report = export_ratings(store, args.out, source, force=force)
            print(f"wrote {report.written} ratings to {args.out}")
        elif args.format == "samples":
            report = export_samples(store, args.out, args.run, force=force)
            name = store.run(report.run_id).name
            print(f"wrote {report.written} samples of run {report.run_id} ({name}) to {args.out}")
        else:
            report = export_metrics(store, args.out, args.run, force=force)
            name = store.run(report.run_id).name
            print(f"wrote {report.written} steps of run {report.run_id} ({name}) to {args.out}")
    return 0


def _export_model(args: argparse.Namespace) -> int:
    """A checkpoint's adapter, alone or merged into its base model."""
    from core.config import ModelSpec
    from core.export_models import export_adapter, export_merged_model

    if args.checkpoint is None:
        raise StudioError(
            f"--format {args.format} needs --checkpoint STEP_FOLDER "
            "(e.g. <workspace>/checkpoints/run-1/step-40)"
        )
    if args.format == "adapter":
        out = export_adapter(args.checkpoint, args.out, force=args.force)
        print(f"wrote the PEFT adapter to {out}")
    else:
        out = export_merged_model(
            ModelSpec(args.model), args.checkpoint, args.out, force=args.force
        )
        print(f"wrote the merged model to {out}")
    return 0
