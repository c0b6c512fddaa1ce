"""`train-rm --base M --from human|ai|all --out DIR`: a Bradley–Terry reward model."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from core.cli import add_workspace_argument, workspace_of
from core.config import DEMO_MODEL, RMConfig, load_json
from core.paths import next_reward_model_dir

# Flags that map one-to-one onto RMConfig fields: flag -> (field, type, help).
_CONFIG_FLAGS = {
    "--epochs": ("epochs", int, "most passes over the training pairs"),
    "--batch-size": ("batch_size", int, "pairs per optimiser step"),
    "--learning-rate": ("learning_rate", float, "Adam learning rate"),
    "--eval-fraction": ("eval_fraction", float, "share of pairs held out for accuracy"),
    "--patience": ("patience", int, "epochs without held-out improvement before stopping"),
    "--max-length": ("max_length", int, "tokens per prompt + response (cut from the left)"),
    "--seed": ("seed", int, "seed of the split, shuffling and head initialisation"),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the train-rm subcommand."""
    parser = subparsers.add_parser(
        "train-rm",
        help="train a reward model (LoRA + scalar head) on the stored comparisons",
        description="Bradley–Terry reward model on human and/or AI comparisons (AI soft "
        "labels kept soft; ties and both-bad left out unless --include-ties). Saves a "
        "Hugging Face sequence classifier usable as `ppo --reward rm=DIR`, with rm_meta.json.",
    )
    parser.add_argument(
        "--base",
        default=None,
        help=f"backbone: {DEMO_MODEL!r} (default), a folder, a hub id, or an earlier reward "
        "model to fine-tune",
    )
    parser.add_argument(
        "--from", dest="source", default="all", choices=("human", "ai", "all"),
        help="whose comparisons to train on (default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path, default=None,
        help="folder to save the model (default: <workspace>/reward_models/rm-<N>)",
    )  # fmt: skip
    parser.add_argument("--config", type=Path, default=None, help="RMConfig JSON file")
    for flag, (field, kind, text) in _CONFIG_FLAGS.items():
        parser.add_argument(flag, dest=field, type=kind, default=None, help=text)
    parser.add_argument("--lora-r", type=int, default=None, help="LoRA rank")
    parser.add_argument("--lora-alpha", type=int, default=None, help="LoRA alpha")
    parser.add_argument("--lora-targets", default=None, help="comma-separated module names")
    parser.add_argument("--include-ties", action="store_true", help="train ties as p = 0.5")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    add_workspace_argument(parser)
    parser.set_defaults(func=run)


def rm_config_from_args(args: argparse.Namespace) -> RMConfig:
    """RMConfig from --config (if given) overridden by --base and the individual flags."""
    config = load_json(RMConfig, args.config) if args.config else RMConfig()
    overrides = {
        f: getattr(args, f) for f, _, _ in _CONFIG_FLAGS.values() if getattr(args, f) is not None
    }
    lora = config.lora
    if args.lora_r is not None:
        lora = replace(lora, r=args.lora_r)
    if args.lora_alpha is not None:
        lora = replace(lora, alpha=args.lora_alpha)
    if args.lora_targets:
        lora = replace(lora, target_modules=tuple(t.strip() for t in args.lora_targets.split(",")))
    return replace(config, base=args.base or config.base, lora=lora, **overrides)


def run(args: argparse.Namespace) -> int:
    """Train, printing one line per epoch, then where the model went."""
    from core.progress import tqdm_progress
    from core.reward_model import pairs_from_comparisons, train_reward_model
    from core.store import Store

    config = rm_config_from_args(args)
    workspace = workspace_of(args)
    out = args.out or next_reward_model_dir(workspace)
    with Store.open(workspace) as store:
        pairs = pairs_from_comparisons(store.comparisons(args.source), args.include_ties)
        print(f"{len(pairs)} usable {args.source} comparisons; backbone {config.base}")
        with tqdm_progress("training", unit="step") as progress:
            result = train_reward_model(
                pairs, config, out, device=args.device, store=store, source=args.source,
                on_epoch=_print_epoch, progress=progress,
            )  # fmt: skip
    best = result.best
    how = "early stop" if result.stopped_early else "stopped" if result.stopped else "done"
    print(
        f"{how}: best epoch {result.best_epoch}, held-out accuracy {_pct(best.eval_accuracy)} "
        f"on {result.n_eval} pairs ({_pct(best.eval_accuracy_human)} on human ones), "
        f"{result.seconds:.1f} s"
    )
    print(f"saved to {result.folder}  (use: ppo --reward rm={result.folder})")
    return 0


def _print_epoch(report) -> None:
    margin = "n/a" if report.eval_margin is None else f"{report.eval_margin:.3f}"
    loss = "n/a" if report.eval_loss is None else f"{report.eval_loss:.4f}"
    print(
        f"epoch {report.epoch}: train loss {report.train_loss:.4f} acc "
        f"{_pct(report.train_accuracy)} | held-out loss {loss} acc "
        f"{_pct(report.eval_accuracy)} margin {margin}"
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"
