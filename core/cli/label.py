"""`label --judge M --rubric PRESET|FILE [--pairs N] [--order ORDER]`: bulk AI comparisons by
an LLM judge."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli import add_workspace_argument, workspace_of
from core.cli.common import add_prompt_format_argument, add_quantize_argument
from core.config import DEMO_MODEL, GenerationConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the label subcommand."""
    parser = subparsers.add_parser(
        "label",
        help="have an LLM judge compare pairs of completions (AI feedback)",
        description="Judge pairs with a local causal LM: first pairs people compared (so the "
        "agreement report can compare judge and people), then unlabelled pairs of stored "
        "generations, then new pairs sampled from --model. Each verdict is stored as a "
        "comparison by rater ai:<judge>#<rubric> with the soft label P(left better), averaged over both "
        "presentation orders.",
    )
    parser.add_argument(
        "--judge",
        default=DEMO_MODEL,
        help="judge model: 'demo-judge' (the built-in judge that follows its rubric), 'demo', "
        "a folder or a hub id",
    )
    parser.add_argument(
        "--rubric",
        default=None,
        help="a preset (positivity, concision, positive-concise) or a pairwise template file with "
        "{prompt}, {response_a}, {response_b} (default: resources/rubrics/default.txt). "
        "The rubric is part of the judge: another rubric labels the pairs again",
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=None,
        metavar="N",
        help="pairs to label (default: all candidates, generating none)",
    )
    parser.add_argument(
        "--model", default=DEMO_MODEL, help="policy that samples new pairs when too few exist"
    )
    parser.add_argument("--adapter", type=Path, default=None, help="the policy's adapter folder")
    add_prompt_format_argument(parser)
    add_quantize_argument(parser)  # the policy's; the judge is loaded as it is
    parser.add_argument("--no-generate", action="store_true", help="only label stored generations")
    parser.add_argument("--prompt-set", default=None, help="prompts to sample new pairs for")
    parser.add_argument("--max-new-tokens", type=int, default=GenerationConfig.max_new_tokens)
    parser.add_argument("--temperature", type=float, default=GenerationConfig.temperature)
    parser.add_argument("--seed", type=int, default=0, help="sampling seed for new pairs")
    parser.add_argument(
        "--tie-margin",
        type=float,
        default=0.0,
        help="verdict 'tie' when |P(left better) - 0.5| is at most this (default 0)",
    )
    parser.add_argument(
        "--order",
        default="fixed",
        choices=("fixed", "random", "active", "disagreement"),
        help="which stored pairs to judge first: fixed (pairs people compared, then the "
        "others, as stored), random, active (where the reward model is least sure: a "
        "bootstrap ensemble of its head refitted on the labelled pairs), disagreement (where "
        "the reward model and earlier judges' verdicts differ most). active and disagreement "
        "need a reward model: --rm, or the workspace's newest",
    )
    parser.add_argument(
        "--rm", type=Path, default=None, help="reward model folder for --order active|disagreement"
    )
    parser.add_argument("--batch-size", type=int, default=8, help="judge forward batch size")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    add_workspace_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the judge (and the policy if pairs must be sampled), label, print a summary."""
    from core.errors import StudioError
    from core.rewards.judge import LLMJudge
    from core.rewards.judge_cache import JudgeCache
    from core.rewards.judge_templates import PAIRWISE, resolve_rubric
    from core.store import Store

    if args.pairs is not None and args.pairs < 1:
        raise StudioError(f"--pairs {args.pairs}: give a positive number of pairs")
    from core.model.generate import check_generation_config

    check_generation_config(  # a bad --temperature or --seed fails before the judge loads
        GenerationConfig(
            max_new_tokens=args.max_new_tokens, temperature=args.temperature, seed=args.seed
        )
    )
    workspace = workspace_of(args)
    _check_order(args, workspace)
    rubric = resolve_rubric(args.rubric, PAIRWISE)
    # The store opens first: a workspace that cannot be written (read-only, corrupt, busy)
    # fails in one line before minutes of judge loading.
    with Store.open(workspace) as store:
        judge = LLMJudge.load(
            args.judge,
            device=args.device,
            pairwise=rubric,
            batch_size=args.batch_size,
            cache=JudgeCache.for_workspace(workspace),
        )
        policy = None
        try:
            if args.pairs and not args.no_generate:
                policy = _policy(args, judge)
            generation = GenerationConfig(
                max_new_tokens=args.max_new_tokens, temperature=args.temperature, seed=args.seed
            )
            report = _label(store, judge, args, policy, generation)
        finally:
            if policy is not None and policy is not judge.session:
                policy.unload()
            judge.unload()
    _print_report(report, judge.rater)
    return 0


def _check_order(args: argparse.Namespace, workspace: Path) -> None:
    """An order that needs a reward model fails in one line before the judge loads."""
    from core.errors import StudioError
    from core.rating.label_order import (
        NEEDS_REWARD_MODEL,
        latest_reward_model,
        no_reward_model_message,
    )

    if args.order not in NEEDS_REWARD_MODEL:
        return
    if args.rm is not None and not (args.rm.expanduser() / "config.json").is_file():
        raise StudioError(f"--rm {args.rm}: no reward model there (no config.json); give a "
                          "folder `train-rm` wrote, or leave --rm out for the newest")  # fmt: skip
    if args.rm is None and latest_reward_model(workspace) is None:
        raise StudioError(no_reward_model_message(args.order).replace("the random order",
                                                                      "--order random"))  # fmt: skip


def _orderer(store, args: argparse.Namespace):
    """The `order` callable label_pairs takes (None for the fixed order); it prints what
    it did."""
    if args.order == "fixed":
        return None
    from core.rating.label_order import order_pairs

    def order(pairs):
        ordering = order_pairs(store, pairs, args.order, rm=args.rm, seed=args.seed,
                               device=args.device)  # fmt: skip
        print(f"order {args.order}: {ordering.message}")
        return ordering.pairs

    return order


def _policy(args: argparse.Namespace, judge):
    """The model that samples new pairs: the judge's own session when it is the same model."""
    from core.config import ModelSpec
    from core.model.session import ModelSession

    prompt_format = args.prompt_format or ModelSpec.prompt_format
    quantize = args.quantize or ModelSpec.quantize
    plain_policy = args.adapter is None and prompt_format == "plain" and quantize == "none"
    if args.model == args.judge and plain_policy:
        return judge.session
    spec = ModelSpec(
        name_or_path=args.model,
        device=args.device,
        lora=None,
        adapter_path=str(args.adapter) if args.adapter else None,
        prompt_format=prompt_format,
        quantize=quantize,
    )
    return ModelSession.load(spec)


def _label(store, judge, args, policy, generation):
    from core.progress import tqdm_progress
    from core.rlaif.labelling import label_pairs

    with tqdm_progress("labelling", unit="pair") as progress:
        return label_pairs(
            store,
            judge,
            args.pairs,
            policy=policy,
            generation=generation,
            prompt_set=args.prompt_set,
            tie_margin=args.tie_margin,
            progress=progress,
            order=_orderer(store, args),
        )


def _print_report(report, rater: str) -> None:
    print(
        f"{report.labelled} comparisons by {rater}: {report.from_human_pairs} on pairs people "
        f"compared, {report.from_existing} on stored pairs, {report.generated} on new pairs "
        f"({report.seconds:.1f} s)"
    )
    if report.labelled:
        print(
            f"mean confidence {report.mean_confidence:.2f}; same side in both orders "
            f"{100 * report.position_bias_rate:.1f} %; answer-token mass "
            f"{report.mean_answer_mass:.3f}"
        )
        if report.undecided:
            print(
                f"{report.undecided} of {report.labelled} verdicts are undecided (confidence "
                "|2p - 1| below 0.2): training and the pairs export leave them out"
            )
        if report.mean_answer_mass < 0.05:
            print(
                "note: the judge puts little probability on the answer letters; an "
                "instruction-tuned judge (--judge) or a rubric ending in 'Answer:' helps"
            )
    else:
        print("nothing to label: compare some pairs, generate completions, or pass --pairs N")
