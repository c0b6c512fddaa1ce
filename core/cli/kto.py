"""`kto`: KTO on thumbs-up/down ratings (and the stored pairs, split into their sides)."""

from __future__ import annotations

import argparse

from core.cli.common import add_min_confidence_argument
from core.cli.offline_common import OfflineCommand, add_offline_arguments, run_offline
from core.offline.config import FROM_CHOICES, KTOConfig


def _load_answers(args: argparse.Namespace, store, config):
    from core.offline.data import store_thumbs

    return store_thumbs(
        store, args.source, with_pairs=not args.no_pairs, min_confidence=args.min_confidence
    )


COMMAND = OfflineCommand("kto", KTOConfig, _load_answers, "answers")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "kto",
        help="train the LoRA adapter with KTO on thumbs-up/down ratings",
        description="KTO from single answers: ratings >= 0.5 (thumbs up: 1) are desirable, "
        "lower ones (thumbs down: 0) undesirable; comparisons add their preferred side as desirable and the "
        "other as undesirable ('both bad': both undesirable; ties skipped). The last line "
        "printed is the final adapter folder.",
    )
    parser.add_argument(
        "--from",
        dest="source",
        choices=FROM_CHOICES,
        default="all",
        help="whose ratings: people's, the AI judge's or all (default)",
    )
    parser.add_argument(
        "--no-pairs", action="store_true", help="use the ratings only, not the comparisons"
    )
    add_min_confidence_argument(parser)
    add_offline_arguments(parser, KTOConfig)
    parser.set_defaults(func=lambda args: run_offline(args, COMMAND))
