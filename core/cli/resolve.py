"""`resolve [PAIR --pick A|B|tie]`: a person's final verdict on a pair raters disagree on."""

from __future__ import annotations

import argparse

from core.cli import add_workspace_argument, workspace_of


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the resolve subcommand."""
    parser = subparsers.add_parser(
        "resolve",
        help="settle a pair people disagree on with your final verdict",
        description="Without PAIR: list the pairs people disagree on, each with its PAIR "
        "(A:B, the two answers' generation ids) as `agreement` shows them. With PAIR and "
        "--pick: store your final verdict on it. The raters' verdicts stay stored; exports, "
        "reward-model training and DPO read the pair as you settled it (the pair's latest "
        "resolution counts; a tie leaves it out).",
    )
    parser.add_argument("pair", nargs="?", default=None, metavar="PAIR", help="A:B, e.g. 12:15")
    parser.add_argument(
        "--pick", choices=("A", "B", "tie", "a", "b"), default=None,
        help="the better answer (A or B), or tie for neither",
    )  # fmt: skip
    parser.add_argument("--rater", default=None, help="who settles it (default: your login)")
    parser.add_argument("--note", default=None, help="why (kept with the resolution)")
    add_workspace_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """List the conflicts, or settle one."""
    from core.errors import StudioError
    from core.store import Store

    if args.pair is None:
        if args.pick is not None:
            raise StudioError("--pick needs a PAIR (A:B); run `resolve` alone to list them")
        return _list(workspace_of(args))
    if args.pick is None:
        raise StudioError(f"resolve {args.pair}: say which answer wins with --pick A|B|tie")
    from core.rating.agreement import _short
    from core.rating.resolutions import parse_pair, settle

    first, second = parse_pair(args.pair)
    with Store.open(workspace_of(args)) as store:
        done = settle(store, first, second, args.pick, args.rater or _login(), args.note)
    print(
        f"resolved pair {args.pair} ({_short(done.prompt)}): {done.picked} "
        f"(settles {done.verdicts} verdicts; resolution {done.resolution_id})"
    )
    return 0


def _list(workspace) -> int:
    from core.rating.agreement import _short, conflicts
    from core.store import Store

    with Store.open_for_reading(workspace) as store:
        items = conflicts(store.comparisons("human"), store.resolutions())
    if not items:
        print("no pairs people disagree on")
        return 0
    for item in items:
        votes = ", ".join(f"{rater} {verdict}" for rater, verdict in item.votes.items())
        settled = f"; {item.resolver} picked {item.resolution}" if item.resolution else ""
        print(
            f"{item.pair}  [{item.outcome}] {_short(item.prompt)}: A={_short(item.answers[0])} "
            f"B={_short(item.answers[1])}  ({votes}{settled})"
        )
    return 0


def _login() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "rater"
