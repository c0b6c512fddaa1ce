"""Command-line options shared by the commands that load a model or read prompts."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.config import DEMO_MODEL, LoraSpec, ModelSpec
from core.prompt_format import PROMPT_FORMATS, has_chat_template
from core.settings import add_setting_flags, user_values_from_args
from core.store import Store

LORA_PREFIX = "lora-"
"""LoraSpec settings are --lora-r, --lora-alpha, --lora-targets."""


def add_model_arguments(parser: argparse.ArgumentParser, *, flag: str = "--model") -> None:
    """--model plus the options that say where and how to load it."""
    parser.add_argument(
        flag,
        dest="model",
        default=DEMO_MODEL,
        help="'demo' (the built-in demo model, default), a local model folder or a hub id",
    )
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    parser.add_argument(
        "--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16")
    )
    parser.add_argument(
        "--adapter", type=Path, default=None, help="a PEFT adapter folder (e.g. a checkpoint's)"
    )
    add_prompt_format_argument(parser)
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


def attach_reporters(run: Any, args: argparse.Namespace) -> None:
    """Give `run` (a TrainingRun) the --report-to trackers, writing under the run's folder;
    a resumed run marks its restart, so the trackers drop the steps it replaces."""
    from core.train.reporting import build_reporters

    resumed_at = run.step_count if args.resume is not None else None
    run.reporters = build_reporters(args.report_to or (), run.trainer.checkpoint_dir, resumed_at)


def print_report_folders(run_folder: Path, report_to: list[str] | None) -> None:
    """Say where the trackers of --report-to wrote, and how to look."""
    from core.train.reporting import TENSORBOARD_DIR

    if report_to and "tensorboard" in report_to:
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
    """The ModelSpec that the model options describe."""
    return ModelSpec(
        name_or_path=args.model,
        device=args.device,
        dtype=args.dtype,
        trust_remote_code=args.trust_remote_code,
        lora=lora_from_args(args),
        adapter_path=str(args.adapter) if args.adapter else None,
        prompt_format=args.prompt_format or ModelSpec.prompt_format,
    )


def prompts_for_run(store: Store, prompts_file: Path | None, fallback: list[str]) -> list[str]:
    """Import `prompts_file` into the store (if given) and return its prompts, else `fallback`."""
    if prompts_file is None:
        return list(fallback)
    from core.prompts_io import import_prompts, read_prompts

    report = import_prompts(store, prompts_file)
    wanted = [record.text for record in read_prompts(prompts_file)]
    stored = {row.text for row in store.prompts(report.set_name)}
    return [text for text in dict.fromkeys(wanted) if text in stored]
