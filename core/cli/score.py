"""`score`: AI-score the workspace's stored generations with one or more reward sources."""

from __future__ import annotations

import argparse

from core.cli import add_workspace_argument, workspace_of
from core.progress import tqdm_progress


def register(subparsers: argparse._SubParsersAction) -> None:
    from core.rewards import REWARD_KINDS

    kinds = "; ".join(f"{kind}: {text}" for kind, text in REWARD_KINDS.items())
    parser = subparsers.add_parser(
        "score",
        help="score stored generations with reward sources (sentiment, rules, rm=DIR, judge=M...)",
        description="Score the workspace's generations with each --reward and store the scores "
        f"(one per source). Kinds: {kinds}",
    )
    parser.add_argument(
        "--reward",
        action="append",
        required=True,
        metavar="KIND[=ARG]",
        help="a reward source; repeat for several",
    )
    parser.add_argument("--set", dest="set_name", default=None, help="only this prompt set")
    parser.add_argument("--device", default="auto", help="device for model-based sources")
    add_workspace_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.errors import StudioError
    from core.rewards import RewardContext
    from core.rewards.scoring import references_of, score_generations
    from core.store import Store

    with Store.open(workspace_of(args)) as store:
        wanted = None if args.set_name is None else {p.id for p in store.prompts(args.set_name)}
        generations = [g for g in store.generations() if wanted is None or g.prompt_id in wanted]
        if not generations:
            raise StudioError(
                "No generations to score in this workspace; create some with "
                "`rlhf-studio-cli generate --prompts FILE` first."
            )
        context = RewardContext(references=references_of(store), device=args.device)
        with tqdm_progress("scoring", unit="score") as progress:
            summaries = score_generations(store, args.reward, generations, context, progress)
    for summary in summaries:
        print(f"{summary.source}: {summary.count} generations scored, mean {summary.mean:.4f}")
    return 0
