"""What the `dpo`, `kto` and `sft` commands share: their flags, the run-time checks made
before a run record exists, the training loop with --metrics-out and SIGTERM, and the
last line of stdout (the final adapter folder, for scripts)."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from core.cli import workspace_of
from core.cli.common import (
    add_model_arguments,
    add_run_output_arguments,
    attach_reporters,
    check_metrics_out,
    claim_own_run,
    follow_checkpoint_quantize,
    model_spec_from_args,
    note_unused_chat_template,
    open_metrics_out,
    print_report_folders,
    trained_prompt_format,
    write_metrics,
)
from core.errors import TrainingError
from core.settings import add_setting_flags, config_from_sources

if TYPE_CHECKING:
    from core.offline.data import DataReport
    from core.store import Store
    from core.train import TrainingRun

DataLoader = Callable[[argparse.Namespace, "Store", Any], tuple[Sequence[Any], "DataReport"]]
"""(args, store, config) -> (dataset, report of what was used and skipped)."""


@dataclass(frozen=True)
class OfflineCommand:
    """One offline training command: its algorithm kind, config class and data."""

    kind: str
    config_class: type
    load_data: DataLoader
    what: str
    """What the examples are called in messages ('pairs', 'answers', 'demonstrations')."""


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


def run_offline(args: argparse.Namespace, command: OfflineCommand) -> int:
    """Check everything, load the data and the model, train, print the adapter folder."""
    from core.cli.followers import SharedInputs, follow_offline, share_inputs, training_spec
    from core.models import ModelSession
    from core.offline.launch import ALGORITHMS, resume_offline_run, start_offline_run
    from core.progress import tqdm_progress
    from core.store import Store
    from core.train.checkpoints import resolve_checkpoint
    from core.train.distributed import current_world

    algorithm = ALGORITHMS[command.kind]
    world = current_world()  # several processes under torchrun / accelerate launch
    if not world.is_main:
        return follow_offline(args, algorithm, world)
    config = _checked_config(args, command)
    check_metrics_out(args.metrics_out)
    with Store.open(workspace_of(args)) as store:
        data, report = command.load_data(args, store, config)
        print(f"{command.kind}: {report.line(command.what)}", file=sys.stderr)
        _check_enough(data, config, command)  # before the model loads
        if args.resume is not None:
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
        metrics_out = open_metrics_out(args.metrics_out, append=args.resume is not None)
        with metrics_out or nullcontext():
            if args.resume is not None:
                run = resume_offline_run(store, algorithm, args.resume, session, data, args.steps)
            else:
                source = getattr(args, "source", None) or getattr(args, "data", None)
                run = start_offline_run(
                    store, algorithm, session, data, config, report, source=str(source)
                )
            attach_reporters(run, args)
            train_with_progress(run, metrics_out)
        print(f"run {run.run_id}: {run.status} after {run.step_count} steps")
        print_report_folders(run.trainer.checkpoint_dir, args.report_to)
        if run.last_checkpoint is None:
            raise TrainingError("The run saved no checkpoint; nothing to continue from.")
        print(Path(run.last_checkpoint) / "adapter")
    return 0


def _checked_config(args: argparse.Namespace, command: OfflineCommand) -> Any:
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


def _check_enough(data: Sequence[Any], config: Any, command: OfflineCommand) -> None:
    needed = 2 if config is None or config.eval_fraction > 0 else 1
    if len(data) < needed:
        raise TrainingError(
            f"Only {len(data)} usable {command.what}; {command.kind} needs at least {needed}. "
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
