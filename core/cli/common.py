"""Command-line options shared by the commands that load a model or read prompts."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from core.cli import add_workspace_argument
from core.config import DEMO_MODEL, LoraSpec, ModelSpec
from core.config.settings import add_setting_flags, user_values_from_args
from core.data.prompt_format import PROMPT_FORMATS, has_chat_template
from core.errors import StudioError
from core.model.quantize import QUANTIZE_MODES
from core.store import Store

if TYPE_CHECKING:
    from core.train.run import TrainingRun

LORA_PREFIX = "lora-"
"""LoraSpec settings are --lora-r, --lora-alpha, --lora-targets."""


def add_model_arguments(parser: argparse.ArgumentParser, *, flag: str = "--model") -> None:
    """--model plus the options that say where and how to load it."""
    parser.add_argument(
        flag,
        dest="model",
        default=None,  # None: demo, or on --resume the checkpoint's own model
        help="'demo' (the built-in demo model, default), a local model folder or a hub id; "
        "on --resume the default is the checkpoint's model",
    )
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    parser.add_argument(
        "--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16")
    )
    parser.add_argument(
        "--adapter", type=Path, default=None, help="a PEFT adapter folder (e.g. a checkpoint's)"
    )
    add_prompt_format_argument(parser)
    add_quantize_argument(parser)
    parser.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="run model code shipped with the checkpoint (only for sources you trust)",
    )
    add_setting_flags(parser.add_argument_group("LoRA adapter"), LoraSpec, prefix=LORA_PREFIX)


def lora_from_args(args: argparse.Namespace, base: LoraSpec | None = None) -> LoraSpec:
    """`base` (default: LoraSpec()) with the --lora-* flags given."""
    values = user_values_from_args(LoraSpec, args, prefix=LORA_PREFIX)
    return replace(base or LoraSpec(), **values)


def lora_of_config_file(path: Path) -> LoraSpec | None:
    """The LoRA settings a --config file carries: its "lora" mapping, or for a run's
    recorded config its model_spec's; None when it has none."""
    from core.config.io import from_dict, read_config_file

    data = read_config_file(LoraSpec, path)
    if not isinstance(data, dict):
        return None
    lora = data.get("lora")
    if lora is None and isinstance(data.get("model_spec"), dict):
        lora = data["model_spec"].get("lora")
    return from_dict(LoraSpec, lora) if isinstance(lora, dict) else None


def follow_checkpoint_model(args: argparse.Namespace, checkpoint: Path) -> None:
    """On --resume without --model (or --dtype), load the model the run trained, as its
    checkpoint records it (path or hub id, dtype), and say so."""
    from core.train.checkpoints import read_meta, resolve_checkpoint

    recorded = read_meta(resolve_checkpoint(checkpoint)).get("model_spec") or {}
    if args.model is None and recorded.get("name_or_path"):
        args.model = str(recorded["name_or_path"])
        if args.model != DEMO_MODEL:
            print(f"resuming with the run's model: --model {args.model}")
    if args.dtype == "auto" and recorded.get("dtype", "auto") != "auto":
        args.dtype = str(recorded["dtype"])
        print(f"resuming with the run's dtype: --dtype {args.dtype}")
    if not args.trust_remote_code and recorded.get("trust_remote_code"):
        print(
            "note: the run loaded its model with --trust-remote-code; pass it again if you "
            "trust that code",
            file=sys.stderr,
        )


def add_run_output_arguments(parser: argparse.ArgumentParser, resume_help: str) -> None:
    """What every training command takes besides its settings: --resume, --metrics-out,
    --report-to and --workspace."""
    parser.add_argument("--resume", type=Path, default=None, help=resume_help)
    parser.add_argument(
        "--metrics-out", type=Path, default=None, help="write one JSON object per step here"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace an existing --metrics-out file (--resume appends to it instead)",
    )
    add_report_to_argument(parser)
    add_workspace_argument(parser)


def add_report_to_argument(parser: argparse.ArgumentParser) -> None:
    """--report-to: trackers that receive each step's metrics besides the store."""
    from core.train.reporting import REPORT_TO_CHOICES

    parser.add_argument(
        "--report-to",
        action="append",
        choices=REPORT_TO_CHOICES,
        default=None,
        metavar="TRACKER",
        help="also log every step's metrics to a tracker (repeatable): tensorboard writes "
        "event files to <workspace>/checkpoints/run-<id>/tensorboard/ (view them with "
        "`tensorboard --logdir <workspace>/checkpoints`, from the tensorboard extra); "
        "none (default) logs to the store only",
    )


def attach_reporters(run: TrainingRun, args: argparse.Namespace) -> None:
    """Give `run` (a TrainingRun) the --report-to trackers, writing under the run's folder;
    a resumed run marks its restart, so the trackers drop the steps it replaces."""
    from core.train.reporting import build_reporters

    resumed_at = run.step_count if args.resume is not None else None
    folder = run.trainer.checkpoint_dir
    if folder is None:  # start_run and resume_run always give the trainer its run's folder
        raise StudioError("This run has no checkpoint folder for --report-to to write in.")
    run.reporters = build_reporters(args.report_to or (), folder, resumed_at)


def print_report_folders(run_folder: Path | None, report_to: list[str] | None) -> None:
    """Say where the trackers of --report-to wrote, and how to look."""
    from core.train.reporting import TENSORBOARD_DIR

    if run_folder is not None and report_to and "tensorboard" in report_to:
        print(f"tensorboard: tensorboard --logdir {Path(run_folder) / TENSORBOARD_DIR}")


def add_prompt_format_argument(parser: argparse.ArgumentParser) -> None:
    """--prompt-format: how prompts reach the policy (plain text, or chat messages)."""
    parser.add_argument(
        "--prompt-format",
        default=None,  # None: plain, or on `ppo --resume` the checkpoint's own format
        choices=PROMPT_FORMATS,
        help="plain (default): the prompt text as it is; chat: each prompt as a user message "
        "in the tokenizer's chat template (for instruction-tuned models)",
    )


def add_quantize_argument(parser: argparse.ArgumentParser) -> None:
    """--quantize: store the frozen base weights in 8 or 4 bits (bitsandbytes, QLoRA)."""
    parser.add_argument(
        "--quantize",
        default=None,  # None: none, or on --resume the checkpoint's own mode
        choices=QUANTIZE_MODES,
        help="none (default): the base in --dtype; 4bit: NF4 with double quantisation "
        "(QLoRA), about a quarter of the 16-bit memory; 8bit: LLM.int8. The adapter stays "
        'float32. Needs bitsandbytes: pip install "rlhf-studio[quant]". On --resume the '
        "default is the checkpoint's mode",
    )


def note_unused_chat_template(session) -> None:
    """Say on stderr when plain prompts go to a model whose tokenizer has a chat template:
    an instruction-tuned model answers far better when prompts come as chat messages."""
    if session.prompt_format == "plain" and has_chat_template(session.tokenizer):
        print(
            "note: this model's tokenizer has a chat template; if the model is "
            "instruction-tuned, pass --prompt-format chat",
            file=sys.stderr,
        )


def model_spec_from_args(args: argparse.Namespace) -> ModelSpec:
    """The ModelSpec that the model options describe (LoRA: the --config file's, then the
    --lora-* flags)."""
    config_file = getattr(args, "config", None)
    return ModelSpec(
        name_or_path=args.model or DEMO_MODEL,
        device=args.device,
        dtype=args.dtype,
        trust_remote_code=args.trust_remote_code,
        lora=lora_from_args(args, lora_of_config_file(config_file) if config_file else None),
        adapter_path=str(args.adapter) if args.adapter else None,
        prompt_format=args.prompt_format or ModelSpec.prompt_format,
        quantize=getattr(args, "quantize", None) or ModelSpec.quantize,
    )


def prompts_for_run(store: Store, prompts_file: Path | None, fallback: list[str]) -> list[str]:
    """Import `prompts_file` into the store (if given) and return its prompts, else `fallback`."""
    return prompt_set_for_run(store, prompts_file, fallback)[0]


def prompt_set_for_run(
    store: Store, prompts_file: Path | None, fallback: list[str]
) -> tuple[list[str], dict[str, int]]:
    """(prompts, {text: prompt id}) as prompts_for_run; the ids are those of the set the
    file went into (the same text in another set is another prompt)."""
    if prompts_file is None:
        return list(fallback), {row.text: row.id for row in store.prompts()}
    from core.data.prompts_io import import_prompts, read_prompts

    report = import_prompts(store, prompts_file)
    wanted = [record.text for record in read_prompts(prompts_file)]
    stored = {row.text: row.id for row in store.prompts(report.set_name)}
    return [text for text in dict.fromkeys(wanted) if text in stored], stored


# --------------------------------------------------- what every training command shares


def check_metrics_out(path: Path | None, force: bool = False, append: bool = False) -> None:
    """Refuse a --metrics-out that cannot be written, or would replace a file unasked,
    before the model loads (core.atomic's output rule: an existing file needs --force,
    or --resume, which appends; a symbolic link or a device is never written)."""
    from core.atomic import check_file_target

    if path is None:
        return
    check_file_target(path, force, flag="--metrics-out", append=append)
    if not path.parent.is_dir():
        raise StudioError(
            f"--metrics-out {path}: the folder {path.parent} does not exist; create it or "
            "name a file in an existing folder."
        )
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        raise StudioError(f"--metrics-out {path} cannot be written; choose a writable place.")


def open_metrics_out(path: Path | None, append: bool, force: bool = False) -> TextIO | None:
    """The --metrics-out stream (appended to on --resume), or None. Opened without
    following a symbolic link, and without replacing a file that appeared since the check
    unless `force`."""
    if path is None:
        return None
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    flags |= os.O_APPEND if append else os.O_TRUNC if force else os.O_EXCL
    try:
        return os.fdopen(os.open(path, flags, 0o644), "w", encoding="utf-8")
    except FileExistsError as error:
        from core.atomic import exists_error

        raise exists_error(path, "--metrics-out") from error
    except OSError as error:
        raise StudioError(
            f"Cannot write --metrics-out {path}: {error.strerror}; choose a writable place."
        ) from error


def write_metrics(stream: TextIO | None, metrics: dict[str, float]) -> None:
    """One JSON line per step; JSON has no NaN, so non-finite values are written as null."""
    if stream is None:
        return
    row = {k: (v if isinstance(v, int) or math.isfinite(v) else None) for k, v in metrics.items()}
    step = row.get("step")
    if isinstance(step, float):
        row["step"] = int(step)  # a step count, as the store and trackers key it
    stream.write(json.dumps(row) + "\n")
    stream.flush()


def claim_own_run(store: Store, checkpoint: Path) -> None:
    """Lock the run `checkpoint` continues, if it is one of this workspace's: a run busy in
    another process is refused before the model loads."""
    from core.train.checkpoints import resolve_checkpoint
    from core.train.launch import own_run_of

    run_id = own_run_of(store, resolve_checkpoint(checkpoint))
    if run_id is not None:
        store.claim_run(run_id)


def trained_prompt_format(checkpoint: Path) -> str:
    """The prompt format the checkpoint's policy was trained with."""
    from core.train.checkpoints import prompt_format_of, read_meta, resolve_checkpoint

    return prompt_format_of(read_meta(resolve_checkpoint(checkpoint)))


def follow_checkpoint_quantize(args: argparse.Namespace, checkpoint: Path) -> None:
    """On --resume without --quantize, load the base as the checkpoint's run did (said when
    quantised); a --quantize that differs is refused before the model loads."""
    from core.model.quantize import NO_QUANTIZE, check_resume_quantize, quantize_of
    from core.train.checkpoints import read_meta, resolve_checkpoint

    folder = resolve_checkpoint(checkpoint)
    meta = read_meta(folder)
    if args.quantize is not None:
        check_resume_quantize(folder, meta, args.quantize)
        return
    args.quantize = quantize_of(meta)
    if args.quantize != NO_QUANTIZE:
        print(f"resuming with the run's quantised base: --quantize {args.quantize}")


def add_min_confidence_argument(parser: argparse.ArgumentParser) -> None:
    """--min-confidence: AI labels less sure than this never train (the pairs export's filter)."""
    from core.data.preference_export import DEFAULT_MIN_CONFIDENCE

    def confidence(text: str) -> float:
        value = float(text)
        if not 0.0 <= value <= 1.0:
            raise argparse.ArgumentTypeError(f"{text} is not between 0 (keep coin flips) and 1")
        return value

    parser.add_argument(
        "--min-confidence",
        type=confidence,
        default=DEFAULT_MIN_CONFIDENCE,
        metavar="C",
        help="leave out AI labels whose confidence |2p - 1| is below C, as the pairs export "
        f"does (default {DEFAULT_MIN_CONFIDENCE:g}: the judge gave its pick under 60 %%); "
        "0 trains on coin flips too",
    )
