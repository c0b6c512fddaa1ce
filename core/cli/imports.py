"""`import-pairs FILE`, `import-ratings FILE` and `import-rankings FILE`: preference data in."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli import add_workspace_argument, workspace_of
from core.data.preference_import import FeedbackImportReport, import_pairs, import_ratings
from core.store import Store

_FILES = (
    "FILE is a .jsonl, .csv or .parquet file, or a folder saved with datasets' save_to_disk. "
    "Nothing is imported if any row is malformed (the error names it); rows this rater "
    "already gave are skipped and counted."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the import-pairs, import-ratings and import-rankings subcommands."""
    pairs = subparsers.add_parser(
        "import-pairs",
        help="import preference pairs (TRL's prompt/chosen/rejected) as comparisons",
        description="Import preference pairs as comparisons by --rater. Rows are TRL's "
        'explicit-prompt form {"prompt", "chosen", "rejected"}, as text or as '
        "conversational message lists (the prompt one user message, each answer one "
        "assistant message), or conversational with the prompt implicit. Optional "
        "margin, score_chosen and score_rejected are kept and exported again. " + _FILES,
    )
    _add_common(pairs)
    pairs.set_defaults(func=run_import_pairs)

    ratings = subparsers.add_parser(
        "import-ratings",
        help="import single-answer ratings (TRL's prompt/completion/label, or a score)",
        description="Import ratings of single answers by --rater. Rows have prompt, "
        "completion (or response) and either a boolean label (TRL's unpaired/KTO form, "
        "stored as 1 or 0) or a numeric score (or rating). " + _FILES,
    )
    _add_common(ratings)
    ratings.set_defaults(func=run_import_ratings)

    rankings = subparsers.add_parser(
        "import-rankings",
        help="import rankings of several answers, stored as the pairs they imply",
        description="Import rankings by --rater. Rows are "
        '{"prompt", "completions": [...], "ranking": [indices, best first]}; a nested list '
        "in ranking is a tie ([2, [0, 3], 1]: 2 best, 0 and 3 tie, 1 worst) and each "
        "completion is ranked exactly once. A ranking of K answers is stored as its "
        "K(K-1)/2 comparisons, read as pairs by training and exports. " + _FILES,
    )
    _add_common(rankings)
    rankings.set_defaults(func=run_import_rankings)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE", help="the data file or folder")
    parser.add_argument(
        "--rater",
        default=None,
        metavar="NAME",
        help="who gave this feedback: a person's or a dataset's name, or ai:<judge> for AI "
        "labels (default: the file's name without extension)",
    )
    parser.add_argument(
        "--set",
        dest="set_name",
        default=None,
        metavar="NAME",
        help="prompt set for the prompts (default: the file's name without extension)",
    )
    parser.add_argument(
        "--split",
        default=None,
        metavar="NAME",
        help="the split to read from a dataset folder with several (e.g. train)",
    )
    add_workspace_argument(parser)


def run_import_pairs(args: argparse.Namespace) -> int:
    """Import FILE's pairs and say what went in."""
    with Store.open(workspace_of(args)) as store:
        report = import_pairs(store, args.file, args.rater, args.set_name, args.split)
    _print_report(report, "pairs", args)
    return 0


def run_import_ratings(args: argparse.Namespace) -> int:
    """Import FILE's ratings and say what went in."""
    with Store.open(workspace_of(args)) as store:
        report = import_ratings(store, args.file, args.rater, args.set_name, args.split)
    _print_report(report, "ratings", args)
    return 0


def run_import_rankings(args: argparse.Namespace) -> int:
    """Import FILE's rankings and say what went in."""
    from core.data.rankings import import_rankings

    with Store.open(workspace_of(args)) as store:
        report = import_rankings(store, args.file, args.rater, args.set_name, args.split)
    _print_report(report, "rankings", args)
    return 0


def _print_report(report: FeedbackImportReport, what: str, args: argparse.Namespace) -> None:
    message = (
        f"imported {report.imported} {what} by {report.rater} into prompt set "
        f"{report.set_name} (workspace {workspace_of(args)})"
    )
    if report.conversational:
        message += f"; {report.conversational} conversational (their prompts are chat turns)"
    if report.duplicates:
        message += f"; skipped {report.duplicates} duplicates (already given by this rater)"
    if report.identical:
        message += f"; left out {report.identical} whose chosen and rejected are the same"
    print(message)
