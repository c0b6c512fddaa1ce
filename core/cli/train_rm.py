"""`train-rm --base M --from human|ai|all --out DIR`: a Bradley–Terry reward model."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

from core.cli import add_workspace_argument, workspace_of
from core.cli.common import (
    LORA_PREFIX,
    add_min_confidence_argument,
    add_report_to_argument,
    lora_from_args,
    print_report_folders,
)
from core.config import LoraSpec, RMConfig
from core.config.settings import (
    add_setting_flags,
    config_from_sources,
    flag_namer,
    setting_problems,
)
from core.errors import TrainingError
from core.paths import next_reward_model_dir

if TYPE_CHECKING:
    from core.reward_model.pairs import PreferencePair


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
        "--from", dest="source", default="all", choices=("human", "ai", "all"),
        help="whose comparisons to train on (default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path, default=None,
        help="folder to save the model (default: <workspace>/reward_models/rm-<N>)",
    )  # fmt: skip
    parser.add_argument(
        "--force", action="store_true",
        help="replace an earlier reward model at --out (never any other folder)",
    )  # fmt: skip
    parser.add_argument(
        "--config", type=Path, default=None,
        help="RMConfig file, JSON or YAML (.yaml/.yml); flags override it",
    )  # fmt: skip
    add_setting_flags(parser.add_argument_group("reward-model settings"), RMConfig)
    add_setting_flags(parser.add_argument_group("LoRA adapter"), LoraSpec, prefix=LORA_PREFIX)
    parser.add_argument("--include-ties", action="store_true", help="train ties as p = 0.5")
    add_min_confidence_argument(parser)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    add_report_to_argument(parser)
    add_workspace_argument(parser)
    parser.set_defaults(func=run)


def rm_config_from_args(args: argparse.Namespace) -> RMConfig:
    """RMConfig from --config (if given) overridden by the individual flags (--base, the
    settings, --lora-*). Raises TrainingError naming a setting out of range."""
    config, _notes = config_from_sources(RMConfig, args, args.config)  # RMConfig has no ties
    lora = lora_from_args(args, config.lora)
    problems = setting_problems(lora, flag_namer(LoraSpec, LORA_PREFIX))
    if problems:
        raise TrainingError(f"Invalid settings: {'; '.join(problems)}.")
    return replace(config, lora=lora)


def run(args: argparse.Namespace) -> int:
    """Train, printing one line per epoch, then where the model went."""
    from core.data.preference_export import coin_flip_note, drop_coin_flips, prompt_formats
    from core.progress import tqdm_progress
    from core.reward_model.training import pairs_from_comparisons, train_reward_model
    from core.store import Store
    from core.train.distributed import current_world

    config = rm_config_from_args(args)
    if args.out is not None:
        _check_out(args.out, args.force)
    world = current_world()  # several processes under torchrun / accelerate launch
    if not world.is_main:
        # What rank 0 read and sent, (pairs, out) as below; it alone writes.
        pairs, out = cast("tuple[list[PreferencePair], Path]", world.share(None))
        train_reward_model(pairs, config, out, device=args.device, source=args.source)
        return 0
    workspace = workspace_of(args)
    out = args.out or next_reward_model_dir(workspace)
    with Store.open(workspace) as store:
        rows, flips = drop_coin_flips(store.comparisons(args.source), args.min_confidence)
        pairs = pairs_from_comparisons(
            rows, args.include_ties, prompt_formats(store), store.resolutions()
        )
        world.share((pairs, out))
        print(f"{len(pairs)} usable {args.source} comparisons; backbone {config.base}")
        if flips:
            print(f"note: {coin_flip_note(flips, args.min_confidence)}")
        with tqdm_progress("training", unit="step") as progress:
            result = train_reward_model(
                pairs, config, out, device=args.device, store=store, source=args.source,
                on_epoch=_print_epoch, progress=progress, report_to=args.report_to or (),
            )  # fmt: skip
    best = result.best
    how = "early stop" if result.stopped_early else "stopped" if result.stopped else "done"
    print(
        f"{how}: best epoch {result.best_epoch}, held-out accuracy {_pct(best.eval_accuracy)} "
        f"on {result.n_eval} pairs ({_pct(best.eval_accuracy_human)} on human ones), "
        f"{result.seconds:.1f} s"
    )
    print(f"saved to {result.folder}  (use: ppo --reward rm={result.folder})")
    if result.run_id is not None:
        from core.paths import run_checkpoint_dir

        print_report_folders(run_checkpoint_dir(workspace, result.run_id), args.report_to)
    return 0


def _check_out(out: Path, force: bool) -> None:
    """--out follows every output's rule (core.atomic): an earlier reward model there is
    replaced only with --force, a link is never written through, any other folder never."""
    from core.atomic import check_folder_target
    from core.reward_model.folder import META_FILE

    check_folder_target(out, force, lambda folder: (folder / META_FILE).is_file())


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
