"""`dpo`: DPO or IPO (--loss ipo) on the store's comparisons, LoRA, adapter-off reference."""

from __future__ import annotations

import argparse

from core.cli.common import add_min_confidence_argument
from core.cli.offline_common import OfflineCommand, add_offline_arguments, run_offline
from core.offline.config import FROM_CHOICES, DPOConfig


def _load_pairs(args: argparse.Namespace, store, config):
    from core.offline.data import store_pairs

    if config is None:  # --resume: the checkpoint's own setting, so the data is the same
        from core.config_io import load_json
        from core.train.checkpoints import resolve_checkpoint

        config = load_json(DPOConfig, resolve_checkpoint(args.resume) / "dpo_config.json")
    return store_pairs(store, args.source, config.ties, args.min_confidence)


COMMAND = OfflineCommand("dpo", DPOConfig, _load_pairs, "pairs")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dpo",
        help="train the LoRA adapter with DPO/IPO on the stored comparisons",
        description="DPO (or IPO) from the workspace's comparisons: human verdicts as hard "
        "labels, AI verdicts with the judge's probability. Ties are skipped (--ties soft "
        "learns them as equally good), 'both bad' always. The last line printed is the "
        "final adapter folder.",
    )
    parser.add_argument(
        "--from",
        dest="source",
        choices=FROM_CHOICES,
        default="all",
        help="whose comparisons: people's, the AI judge's or all (default)",
    )
    add_min_confidence_argument(parser)
    add_offline_arguments(parser, DPOConfig)
    parser.set_defaults(func=lambda args: run_offline(args, COMMAND))
