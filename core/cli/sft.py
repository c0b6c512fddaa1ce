"""`sft`: supervised fine-tuning (imitation) of the LoRA adapter on demonstrations."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli.offline_common import OfflineCommand, add_offline_arguments, run_offline
from core.offline.config import FROM_CHOICES, SFTConfig


def _load_demonstrations(args: argparse.Namespace, store, config):
    from core.offline.data import chosen_demonstrations, read_demonstrations

    if args.data is not None:
        return read_demonstrations(args.data)
    return chosen_demonstrations(store.comparisons(args.source))


COMMAND = OfflineCommand("sft", SFTConfig, _load_demonstrations, "demonstrations")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sft",
        help="fine-tune the LoRA adapter on demonstrations (a warm start for PPO/GRPO/DPO)",
        description="SFT on prompt/response demonstrations, loss on the response tokens "
        "only: a .jsonl or .csv file with 'prompt' and 'response' fields (--data), or the "
        "preferred sides of the stored comparisons. Continue from its adapter with "
        "--adapter <folder> in ppo, dpo or kto. The last line printed is that folder.",
    )
    parser.add_argument(
        "--data", type=Path, default=None, help=".jsonl or .csv demonstrations file"
    )
    parser.add_argument(
        "--from",
        dest="source",
        choices=FROM_CHOICES,
        default="all",
        help="without --data: whose comparisons give the chosen sides (default all)",
    )
    add_offline_arguments(parser, SFTConfig)
    parser.set_defaults(func=lambda args: run_offline(args, COMMAND))
