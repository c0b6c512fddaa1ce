"""`inspect`: one sample under a checkpoint, token by token (core.inspection).

    rlhf-studio-cli inspect --checkpoint RUN/step-N --prompt "The hotel" [--json]

prints per generated token its log-prob under the policy and the reference, the KL, and
for PPO the value, the reward credited there, the advantage and the return; for GRPO and
RLOO the completion's group advantage; for DPO and the other trainers from stored data
the implicit reward's share. `--json` prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace
from pathlib import Path

from core.cli import add_workspace_argument, workspace_of
from core.cli.common import add_model_arguments, model_spec_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="show one sample under a checkpoint token by token: log-probs, KL, value, "
        "reward, advantage",
        description="Sample (or take --completion) under a training checkpoint and print, "
        "per generated token, its log-prob under the policy and the reference, the per-token "
        "KL, and what the run's trainer credits it with (PPO: value, reward, GAE advantage, "
        "return; GRPO/RLOO: the group advantage; DPO: the implicit reward). The reward is "
        "the run's at that checkpoint (this workspace's runs) or --reward.",
    )
    parser.add_argument("--checkpoint", type=Path, required=True, help="a step-<N> folder")
    parser.add_argument("--prompt", required=True, help="the prompt to answer")
    parser.add_argument("--completion", default=None, help="inspect this text instead of a sample")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: the run's")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument(
        "--lam", type=float, default=None, help="PPO: GAE lambda to show (default: the run's)"
    )
    parser.add_argument(
        "--reward", action="append", metavar="KIND[=ARG]", help="reward source (default: the run's)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on the last line")
    add_model_arguments(parser)
    add_workspace_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.errors import StudioError
    from core.inspection import inspect_sample, is_on_policy, read_checkpoint_config
    from core.model.session import ModelSession
    from core.progress import tqdm_progress
    from core.rewards import RewardContext, build_reward
    from core.train.checkpoints import ADAPTER_DIR, resolve_checkpoint

    folder = resolve_checkpoint(args.checkpoint)
    kind, _, _ = read_checkpoint_config(folder)
    if args.max_new_tokens is not None and args.max_new_tokens < 1:
        raise StudioError(f"--max-new-tokens is {args.max_new_tokens}; it must be at least 1.")
    if args.lam is not None and not 0.0 <= args.lam <= 1.0:
        raise StudioError(f"--lam is {args.lam}; GAE's lambda lies between 0 and 1.")
    specs = _reward_specs(args, folder) if is_on_policy(kind) else []
    spec = replace(model_spec_from_args(args), adapter_path=str(folder / ADAPTER_DIR))
    with tqdm_progress("loading model") as progress:
        session = ModelSession.load(spec, progress=progress)
    reward = build_reward(specs, RewardContext(policy_session=session)) if specs else None
    try:
        with session.lock:
            result = inspect_sample(
                session, folder, args.prompt, reward, args.completion, args.max_new_tokens,
                args.seed,
            )  # fmt: skip
    finally:
        close = getattr(reward, "close", None)
        if close is not None:
            close()
    if args.lam is not None:
        result = result.with_lambda(args.lam)
    print_inspection(result)
    if args.json:
        print(result.to_json())
    return 0


def _reward_specs(args: argparse.Namespace, folder: Path) -> list[str]:
    """--reward, else the run's reward at the checkpoint (a run of this workspace)."""
    if args.reward:
        return [spec for spec in args.reward]
    from core.store import Store
    from core.train.launch import reward_specs_to_resume

    with Store.open(workspace_of(args)) as store:
        specs = reward_specs_to_resume(store, folder)
    return [spec for spec in specs if not spec.startswith("watch:")]


def print_inspection(result) -> None:
    """The table: one row per generated token, then the totals."""
    ppo = result.gamma is not None  # a critic: values, GAE
    head = f"{'#':>3} {'token':16} {'logp':>8} {'ref':>8} {'kl':>8}"
    if ppo:
        head += f" {'value':>8} {'reward':>8} {'adv':>8} {'return':>8}"
    elif result.advantage is None:
        head += f" {'implicit':>8}"
    print(
        f"{result.kind} checkpoint, step {result.step}: {result.prompt!r} -> {result.completion!r}"
    )
    print(head)
    for index, row in enumerate(result.tokens):
        line = f"{index:>3} {row.token!r:16.16} {row.logprob:8.3f} {row.ref_logprob:8.3f} {row.kl:8.4f}"
        if ppo:
            line += f" {row.value:8.3f} {row.reward:8.3f} {row.advantage:8.3f} {row.returns:8.3f}"
        elif result.advantage is None:
            line += f" {row.reward:8.4f}"
        print(line)
    totals = [f"kl {result.kl:.4f} (sum of the tokens' kl)"]
    if not math.isnan(result.reward):
        totals.append(f"reward {result.reward:.4f}")
    if result.advantage is not None:
        totals.append(f"group advantage {result.advantage:.4f} (on every token)")
    if ppo:
        totals.append(
            f"kl_coef {result.kl_coef:.4f}, gamma {result.gamma:g}, lambda {result.lam:g}"
        )
    if not result.finished:
        totals.append("cut off at the length limit (no EOS)")
    print("; ".join(totals))
