"""`export --format pairs|ratings|metrics --out FILE`: datasets and metrics for other tools."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli import add_workspace_argument, workspace_of
from core.errors import StudioError
from core.export import export_metrics, export_pairs, export_ratings
from core.store import SOURCES, Store


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the export subcommand."""
    parser = subparsers.add_parser(
        "export",
        help="export preference pairs, ratings or a run's metrics",
        description='pairs: JSONL of {"prompt", "chosen", "rejected"} (the layout TRL\'s reward '
        "and DPO trainers read; ties and both-bad verdicts are left out); ratings: JSONL of "
        "prompt, response, rating, rater, note; metrics: CSV with one row per step of a run.",
    )
    parser.add_argument("--format", required=True, choices=("pairs", "ratings", "metrics"))
    parser.add_argument("--out", required=True, type=Path, metavar="FILE", help="file to write")
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
        help="run whose metrics to export (metrics only; default: the latest run with metrics)",
    )
    add_workspace_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export and say what was written."""
    if args.run is not None and args.format != "metrics":
        raise StudioError("--run applies to --format metrics only; leave it out")
    if args.source is not None and args.format == "metrics":
        raise StudioError("--source applies to pairs and ratings only; leave it out")
    source = args.source or "all"
    with Store.open(workspace_of(args)) as store:
        if args.format == "pairs":
            report = export_pairs(store, args.out, source)
            print(
                f"wrote {report.written} pairs; left out "
                f"{report.skipped_ties} ties and {report.skipped_both_bad} both-bad ({args.out})"
            )
        elif args.format == "ratings":
            report = export_ratings(store, args.out, source)
            print(f"wrote {report.written} ratings to {args.out}")
        else:
            report = export_metrics(store, args.out, args.run)
            name = store.run(report.run_id).name
            print(f"wrote {report.written} steps of run {report.run_id} ({name}) to {args.out}")
    return 0
