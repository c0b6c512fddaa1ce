"""`import-prompts FILE [--set NAME]` and `prompts [--set NAME]`: fill and list prompt sets."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from core.cli import add_workspace_argument, workspace_of
from core.data.prompts_io import SUPPORTED_SUFFIXES, import_prompts
from core.errors import StudioError
from core.store import Store


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the import-prompts and prompts subcommands."""
    importer = subparsers.add_parser(
        "import-prompts",
        help="import prompts from a .txt, .jsonl or .csv file",
        description="Import prompts into a prompt set. "
        f"Formats ({', '.join(SUPPORTED_SUFFIXES)}): .txt has one prompt per line; .jsonl "
        'has one {"prompt": ..., "reference": ...} object per line; .csv has a header with '
        "a 'prompt' column and an optional 'reference' column. Nothing is imported if any "
        "line is malformed; prompts already in the set are skipped.",
    )
    importer.add_argument("file", type=Path, metavar="FILE", help="the prompt file")
    importer.add_argument(
        "--set",
        dest="set_name",
        metavar="NAME",
        default=None,
        help="prompt set to add to (default: the file name without extension)",
    )
    add_workspace_argument(importer)
    importer.set_defaults(func=run_import)

    lister = subparsers.add_parser(
        "prompts",
        help="list prompt sets, or the prompts of one set",
        description="Without --set, list the prompt sets and their sizes; "
        "with --set, list that set's prompts with their ids.",
    )
    lister.add_argument("--set", dest="set_name", metavar="NAME", default=None)
    add_workspace_argument(lister)
    lister.set_defaults(func=run_list)


def run_import(args: argparse.Namespace) -> int:
    """Import FILE into the set and say how many prompts went in."""
    workspace = workspace_of(args)
    with Store.open(workspace) as store:
        report = import_prompts(store, args.file, args.set_name)
    message = (
        f"imported {report.imported} prompts into set {report.set_name} (workspace {workspace})"
    )
    if report.skipped_duplicates:
        message += f"; skipped {report.skipped_duplicates} already in the set"
    print(message)
    if report.feedback_columns:
        columns = ", ".join(report.feedback_columns)
        command = "import-pairs" if "chosen" in report.feedback_columns else "import-ratings"
        print(
            f"note: {args.file} also holds feedback ({columns}), which import-prompts leaves "
            f"out; to import it, run: rlhf-studio-cli {command} {args.file}",
            file=sys.stderr,
        )
    return 0


def run_list(args: argparse.Namespace) -> int:
    """Print the sets with their sizes, or one set's prompts."""
    workspace = workspace_of(args)
    with Store.open_for_reading(workspace) as store:  # works on a read-only workspace too
        prompts = store.prompts(args.set_name)
        sets = store.prompt_sets()
    if args.set_name is None:
        if not sets:
            raise StudioError(
                f"no prompts in workspace {workspace}; add some with: "
                "rlhf-studio-cli import-prompts FILE"
            )
        sizes = Counter(row.set_name for row in prompts)
        for name in sets:
            print(f"{name}\t{sizes[name]} prompts")
        return 0
    if not prompts:
        raise StudioError(
            f"no prompt set {args.set_name!r} in workspace {workspace}; "
            f"sets here: {', '.join(sets) or 'none'}"
        )
    for row in prompts:
        # One prompt per output line, whatever line breaks it holds.
        print(f"{row.id}\t{' '.join(row.text.split())}")
    return 0
