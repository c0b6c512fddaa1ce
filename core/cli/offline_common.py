"""The commands of the trainers from stored feedback (one per offline spec of
core.algorithms): their flags, the run-time checks made before a run record exists, the
training loop with --metrics-out and SIGTERM, and the last line of stdout (the final
adapter folder, for scripts). The data comes from core.data_selection, as the GUI's."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from core.cli import workspace_of
from core.cli.common import (
    add_min_confidence_argument,
    add_model_arguments,
    add_run_output_arguments,
    attach_reporters,
    check_metrics_out,
    claim_own_run,
    follow_checkpoint_model,
    follow_checkpoint_quantize,
    model_spec_from_args,
    note_unused_chat_template,
    open_metrics_out,
    print_report_folders,
    trained_prompt_format,
    write_metrics,
)
from core.config.settings import add_setting_flags, config_from_sources
from core.data_selection import DataChoice, dataset_for, noun_of
from core.errors import TrainingError
from core.offline.config import FROM_CHOICES

if TYPE_CHECKING:
    from core.algorithms import AlgorithmSpec
    from core.train import TrainingRun

FROM_HELP = {
    "pairs": "whose comparisons: people's, the AI judge's or all (default)",
    "thumbs": "whose ratings: people's, the AI judge's or all (default)",
    "demonstrations": "without --data: whose comparisons give the chosen sides (default all)",
}


def register_offline(subparsers: argparse._SubParsersAction, spec: AlgorithmSpec) -> None:
    """The command of a trainer from stored feedback: the flags of the data it reads
    (--from; thumbs: --no-pairs; demonstrations: --data), then the shared ones."""
    parser = subparsers.add_parser(spec.kind, help=spec.help, description=spec.description)
    if spec.data == "demonstrations":
        parser.add_argument(
            "--data", type=Path, default=None, help=".jsonl or .csv demonstrations file"
        )
    parser.add_argument(
        "--from", dest="source", choices=FROM_CHOICES, default="all", help=FROM_HELP[spec.data]
    )
    if spec.data == "thumbs":
        parser.add_argument(
            "--no-pairs", action="store_true", help="use the ratings only, not the comparisons"
        )
    if spec.data in ("pairs", "thumbs"):
        add_min_confidence_argument(parser)
    add_offline_arguments(parser, spec.config_class)
    parser.set_defaults(func=lambda args: run_offline(args, spec))


def _data_choice(args: argparse.Namespace) -> DataChoice:
    return DataChoice(
        source=args.source,
        data_file=getattr(args, "data", None),
        with_pairs=not getattr(args, "no_pairs", False),
        min_confidence=getattr(args, "min_confidence", None),
    )


def add_offline_arguments(parser: argparse.ArgumentParser, config_class: type) -> None:
    """--model and friends, the config's settings, --config, --epochs, --resume,
    --metrics-out, --workspace."""
    add_model_arguments(parser)
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="settings JSON file; flags override it, and what it sets counts as set",
    )
    add_setting_flags(parser.add_argument_group("training settings"), config_class)
    parser.add_argument(
        "--epochs",
        type=float,
        default=None,
        help="passes over the training examples; sets --steps from the data's size",
    )
    add_run_output_arguments(
        parser, "checkpoint folder to continue (same run and data; --steps sets the new total)"
    )


def run_offline(args: argparse.Namespace, command: AlgorithmSpec) -> int:
    """Check everything, load the data and the model, train, print the adapter folder."""
    from core.cli.followers import SharedInputs, follow_offline, share_inputs, training_spec
    from core.model.session import ModelSession
    from core.offline.launch import resume_offline_run, start_offline_run
    from core.progress import tqdm_progress
    from core.store import Store
    from core.train.checkpoints import resolve_checkpoint
    from core.train.distributed import current_world

    algorithm = command.algorithm()
    world = current_world()  # several processes under torchrun / accelerate launch
    if not world.is_main:
        return follow_offline(args, algorithm, world)
    config = _checked_config(args, command)
    check_metrics_out(args.metrics_out, args.force, append=args.resume is not None)
    with Store.open(workspace_of(args)) as store:
        data, report = dataset_for(
            command.kind, store, _data_choice(args), config, resume_from=args.resume
        )
        print(f"{command.kind}: {report.line(noun_of(command.kind))}", file=sys.stderr)
        _check_enough(data, config, command)  # before the model loads
        if args.resume is not None:
            follow_checkpoint_model(args, args.resume)
            follow_checkpoint_quantize(args, args.resume)
            claim_own_run(store, args.resume)
            if args.prompt_format is None:
                args.prompt_format = trained_prompt_format(args.resume)
        else:
            config = _with_epochs(config, args.epochs, len(data))
        resume = str(resolve_checkpoint(args.resume)) if args.resume is not None else None
        share_inputs(SharedInputs(data, config, resume, args.steps, args.prompt_format))
        with tqdm_progress("loading model") as progress:
            spec = training_spec(model_spec_from_args(args))
            session = ModelSession.load(spec, progress=progress)
        note_unused_chat_template(session)
        metrics_out = open_metrics_out(args.metrics_out, args.resume is not None, args.force)
        with metrics_out or nullcontext():
            if args.resume is not None:
                run = resume_offline_run(store, algorithm, args.resume, session, data, args.steps)
            else:
                choice = _data_choice(args)  # recorded as the GUI records it
                source = str(choice.data_file or choice.source)
                run = start_offline_run(
                    store, algorithm, session, data, config, report, source=source
                )
            attach_reporters(run, args)
            train_with_progress(run, metrics_out)
        print(f"run {run.run_id}: {run.status} after {run.step_count} steps")
        print_report_folders(run.trainer.checkpoint_dir, args.report_to)
        if run.last_checkpoint is None:
            raise TrainingError("The run saved no checkpoint; nothing to continue from.")
        print(Path(run.last_checkpoint) / "adapter")
    return 0


def _checked_config(args: argparse.Namespace, command: AlgorithmSpec) -> Any:
    if args.resume is not None:
        if args.steps is not None and args.steps < 1:
            raise TrainingError(f"--steps is {args.steps}; it must be at least 1.")
        if args.epochs is not None:
            raise TrainingError("--epochs does not apply to --resume; give --steps instead.")
        from core.cli.resume_checks import check_resume_flags

        check_resume_flags(args, args.resume)
        return None
    if args.epochs is not None and not args.epochs > 0:
        raise TrainingError(f"--epochs is {args.epochs}; it must be above 0.")
    config: Any  # the kind's own config class
    config, notes = config_from_sources(command.config_class, args, args.config)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if (
        getattr(args, "micro_batch_size", None) is not None
        and config.micro_batch_size > config.batch_size
    ):
        raise TrainingError(
            f"--micro-batch-size {config.micro_batch_size} is larger than --batch-size "
            f"{config.batch_size}: a micro-batch is a slice of one batch; use at most "
            f"{config.batch_size}, or raise --batch-size."
        )
    return config


def _check_enough(data: Sequence[Any], config: Any, command: AlgorithmSpec) -> None:
    needed = 2 if config is None or config.eval_fraction > 0 else 1
    if len(data) < needed:
        raise TrainingError(
            f"Only {len(data)} usable {noun_of(command.kind)}; {command.kind} needs at least {needed}. "
            "Rate more answers on Compare & Rate (or with `label`), or check --from."
        )


def _with_epochs(config: Any, epochs: float | None, n_examples: int) -> Any:
    """--epochs as steps: passes over the training share of the examples."""
    if epochs is None:
        return config
    held = 0 if config.eval_fraction <= 0 else max(1, round(config.eval_fraction * n_examples))
    n_train = max(1, n_examples - held)
    return replace(config, steps=max(1, math.ceil(epochs * n_train / config.batch_size)))


def train_with_progress(run: TrainingRun, stream: TextIO | None) -> None:
    """Run with a progress bar (loss, held-out accuracy), metrics to `stream` as JSONL.
    SIGTERM/SIGHUP stop after the current step; Ctrl-C between steps stops with a
    checkpoint."""
    from tqdm import tqdm

    from core.train import StepDone
    from core.train.signals import stop_on_termination

    bar = tqdm(total=run.config.steps, initial=run.step_count, unit="step", disable=None)
    events = run.events()
    try:
        with stop_on_termination(run.control):
            for event in events:
                if not isinstance(event, StepDone):
                    continue
                bar.update(1)
                bar.set_postfix(loss=f"{event.metrics['loss']:.3f}")
                write_metrics(stream, event.metrics)
    finally:
        events.close()
        bar.close()
