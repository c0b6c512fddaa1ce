"""`agreement`: AI judge vs human labels, position bias, and the reward model's accuracy."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.cli import add_workspace_argument, workspace_of


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the agreement subcommand."""
    parser = subparsers.add_parser(
        "agreement",
        help="how well AI labels agree with people, and the reward model's accuracy",
        description="For each AI judge: agreement % and Cohen's kappa with people on the pairs "
        "both labelled, and the position-bias rate (same side chosen in both orders). For the "
        "reward model (--rm, default: the newest trained in this workspace): accuracy on the "
        "human comparisons it was not trained on. Between people: Cohen's kappa for every two "
        "raters with shared pairs, Krippendorff's alpha over all, the pairs they disagree on; "
        "each person's self-agreement on repeated pairs, side bias, length preference and "
        "labelling pace.",
    )
    parser.add_argument("--rm", type=Path, default=None, help="reward-model folder to measure")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    add_workspace_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the report."""
    from core.rating.agreement import people_report
    from core.rlaif.agreement import agreement_report
    from core.store import Store

    with Store.open_for_reading(workspace_of(args)) as store:  # read-only workspaces too
        report = agreement_report(store, rm_folder=args.rm, device=args.device)
        people = people_report(store)
    if args.json:
        print(json.dumps({**report.to_dict(), "people": people.to_dict()}, indent=2))
    else:
        print(report.format() + "\n" + people.format())
    return 0
