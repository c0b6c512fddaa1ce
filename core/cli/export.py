"""`export --format pairs|kto|ratings|metrics|samples|adapter|merged --out PATH`: data and
models for other tools."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.cli import add_workspace_argument, workspace_of
from core.data.preference_export import (
    DEFAULT_LABEL_THRESHOLD,
    DEFAULT_MIN_CONFIDENCE,
    LAYOUTS,
    PairCounts,
)
from core.errors import StudioError
from core.export.ratings import (
    ExportReport,
    export_kto,
    export_metrics,
    export_pairs,
    export_ratings,
    export_samples,
)
from core.store import SOURCES, Store

_FEEDBACK_FORMATS = ("pairs", "kto", "ratings")
_MODEL_FORMATS = ("adapter", "merged", "gguf", "ollama")
GGUF_TYPES = ("f16", "bf16", "q8_0")  # core.export.gguf.GGUF_TYPES, without importing numpy


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the export subcommand."""
    parser = subparsers.add_parser(
        "export",
        help="export preference pairs, ratings or a run's metrics",
        description='pairs: JSONL of {"prompt", "chosen", "rejected", "margin", "source"} (the '
        "layout TRL's reward and DPO trainers read), one row per pair: people's verdicts "
        "outrank AI ones, a pair's verdicts are averaged, ties and both-bad are left out, "
        "and AI pairs below --min-confidence are dropped; kto: JSONL of TRL's unpaired "
        '{"prompt", "completion", "label"}, what `kto` trains on (the ratings, and the '
        "comparisons split into their sides unless --no-pairs); ratings: JSONL of "
        "prompt, response, rating, rater, note; metrics: CSV with one row per step of a run; "
        "samples: JSONL of a run's kept rollouts and held-out answers (step, prompt, "
        "response, reward, reference, split); "
        "adapter: a checkpoint's PEFT adapter folder; merged: the base model with the "
        "checkpoint's adapter merged in, as a plain Hugging Face model folder; gguf: that "
        "merged model as one GGUF file (llama.cpp, LM Studio; the gguf extra); ollama: a "
        "folder with the GGUF and a Modelfile (ollama create NAME -f PATH/Modelfile).",
    )
    parser.add_argument(
        "--format",
        required=True,
        choices=(
            "pairs", "kto", "ratings", "metrics", "samples", "adapter", "merged", "gguf",
            "ollama",
        ),
    )  # fmt: skip
    parser.add_argument("--out", required=True, type=Path, metavar="PATH", help="where to write")
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace PATH if it exists (default: refuse); the new export still replaces "
        "it whole, and only once it is complete",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="adapter and merged: a checkpoint step folder (or an adapter folder)",
    )
    parser.add_argument(
        "--model",
        default="demo",
        help="merged: the checkpoint's base model ('demo', a folder or a hub id)",
    )
    parser.add_argument(
        "--dtype",
        choices=("auto", "float32", "bfloat16", "float16"),
        default="auto",
        help="merged: the weights' dtype (default auto: the base model's own, e.g. bfloat16)",
    )
    parser.add_argument(
        "--gguf-type",
        choices=GGUF_TYPES,
        default="f16",
        help="gguf and ollama: the tensors' type (default f16, which llama.cpp and "
        "transformers both read; q8_0 is about half its size)",
    )
    _add_feedback_arguments(parser)
    parser.add_argument(
        "--run",
        type=int,
        default=None,
        metavar="ID",
        help="run to export (metrics and samples; default: the newest training run with step "
        "metrics, or with samples)",
    )
    add_workspace_argument(parser)
    parser.set_defaults(func=run)


def _add_feedback_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the pairs, kto and ratings formats."""
    parser.add_argument(
        "--source",
        choices=SOURCES,
        default=None,
        help="whose feedback to export (pairs, kto and ratings; default: all)",
    )
    parser.add_argument(
        "--min-confidence",
        type=float,
        default=None,
        metavar="C",
        help="pairs: drop AI pairs whose judge confidence |2p - 1| is below C (0 keeps coin "
        f"flips, 1 keeps only certain ones; default {DEFAULT_MIN_CONFIDENCE}: the judge gives "
        "its pick at least 60 %%)",
    )
    parser.add_argument(
        "--layout",
        choices=LAYOUTS,
        default=None,
        help="pairs and kto: standard (text) or conversational (message lists) rows; "
        "default auto: conversational when the answers were generated with the chat "
        "prompt format",
    )
    parser.add_argument(
        "--no-pairs",
        action="store_true",
        help="kto: the ratings only, as `kto --no-pairs` trains (default: also each "
        "comparison split into its preferred and other answer, as `kto` trains)",
    )
    parser.add_argument(
        "--anonymize",
        action="store_true",
        help="ratings and pairs: people's names become stable pseudonyms (rater-<hex>, the "
        "same person the same in every export of this workspace) and ratings' notes are left "
        "out; pairs rows name no one (source is human or the AI judge)",
    )
    parser.add_argument(
        "--label-threshold",
        type=float,
        default=None,
        metavar="T",
        help=f"kto: label an answer desirable when its mean rating is >= T (default "
        f"{DEFAULT_LABEL_THRESHOLD}; imported labels are 1 or 0)",
    )


def run(args: argparse.Namespace) -> int:
    """Export and say what was written."""
    if args.format in _MODEL_FORMATS:
        return _export_model(args)
    _check_flags(args)
    source = args.source or "all"
    force = args.force
    with Store.open_for_reading(workspace_of(args)) as store:  # read-only workspaces too
        if args.format == "pairs":
            confidence = (
                DEFAULT_MIN_CONFIDENCE if args.min_confidence is None else args.min_confidence
            )
            report = export_pairs(
                store, args.out, source, force=force, min_confidence=confidence,
                layout=args.layout or "auto",
            )  # fmt: skip
            _print_pairs(report, args.out, confidence)
        elif args.format == "kto":
            threshold = args.label_threshold
            report = export_kto(
                store, args.out, source, force=force, layout=args.layout or "auto",
                label_threshold=DEFAULT_LABEL_THRESHOLD if threshold is None else threshold,
                with_pairs=not args.no_pairs,
            )  # fmt: skip
            print(
                f"wrote {report.written} {_layout(report)}rows ({report.labels_true} "
                f"desirable, {report.written - report.labels_true} not) to {args.out}"
            )
        elif args.format == "ratings":
            report = export_ratings(store, args.out, source, force=force, anonymize=args.anonymize)
            print(f"wrote {report.written} ratings to {args.out}")
        elif args.format == "samples":
            report = export_samples(store, args.out, args.run, force=force)
            run_id = _exported_run(report)
            name = store.run(run_id).name
            print(f"wrote {report.written} samples of run {run_id} ({name}) to {args.out}")
        else:
            report = export_metrics(store, args.out, args.run, force=force)
            run = store.run(_exported_run(report))
            if args.run is None:
                print(
                    f"note: no --run given: exporting run {run.id} ({run.kind}, {run.name}), "
                    "the newest training run with step metrics",
                    file=sys.stderr,
                )
            print(f"wrote {report.written} steps of run {run.id} ({run.name}) to {args.out}")
    return 0


def _exported_run(report: ExportReport) -> int:
    """The run a metrics or samples export wrote (those exports always say which)."""
    if report.run_id is None:
        raise StudioError("the export named no run; this is a bug, please report it")
    return report.run_id


def _check_flags(args: argparse.Namespace) -> None:
    """Refuse flags that do not apply to the chosen format."""
    if args.checkpoint is not None:
        raise StudioError("--checkpoint applies to --format adapter, merged, gguf and ollama only")
    if args.run is not None and args.format not in ("metrics", "samples"):
        raise StudioError("--run applies to --format metrics and samples only; leave it out")
    if args.source is not None and args.format not in _FEEDBACK_FORMATS:
        raise StudioError("--source applies to pairs, kto and ratings only; leave it out")
    if args.min_confidence is not None and args.format != "pairs":
        raise StudioError("--min-confidence applies to --format pairs only; leave it out")
    if args.layout is not None and args.format not in ("pairs", "kto"):
        raise StudioError("--layout applies to --format pairs and kto only; leave it out")
    if args.no_pairs and args.format != "kto":
        raise StudioError("--no-pairs applies to --format kto only; leave it out")
    if args.anonymize and args.format not in ("ratings", "pairs"):
        raise StudioError("--anonymize applies to --format ratings and pairs only; leave it out")
    if args.label_threshold is not None and args.format != "kto":
        raise StudioError("--label-threshold applies to --format kto only; leave it out")


def _print_pairs(report: ExportReport, out: Path, min_confidence: float) -> None:
    """What was written on stdout; what was left out or set aside on stderr."""
    counts = report.counts or PairCounts()  # a pairs export always counts
    print(
        f"wrote {report.written} {_layout(report)}pairs; left out {counts.ties} ties, "
        f"{counts.both_bad} both-bad and {counts.conflicting} with verdicts that cancel "
        f"out ({out})"
    )
    if counts.low_confidence:
        print(
            f"note: dropped {counts.low_confidence} AI pairs with confidence below "
            f"{min_confidence:g} (coin flips); --min-confidence 0 keeps them",
            file=sys.stderr,
        )
    if counts.human_over_ai:
        print(
            f"note: {counts.human_over_ai} pairs had human and AI verdicts; the human one was "
            f"kept (the AI disagreed on {counts.ai_disagreed})",
            file=sys.stderr,
        )
    if counts.resolved:
        print(
            f"note: {counts.resolved} pairs people disagreed on were written as a person "
            "resolved them (resolve)",
            file=sys.stderr,
        )


def _note_quantised_base(checkpoint: Path) -> None:
    """Say that an adapter trained on a quantised base is merged into the unquantised one."""
    from core.export.models import trained_quantize

    quantize = trained_quantize(checkpoint)
    if quantize != "none":
        print(
            f"note: this run trained on a {quantize} base; the adapter is merged into the "
            "unquantised base (merging into a quantised one would round the weights again), "
            "so the merged model's outputs differ slightly from the run's",
            file=sys.stderr,
        )


def _layout(report: ExportReport) -> str:
    return "conversational " if report.conversational else ""


def _export_model(args: argparse.Namespace) -> int:
    """A checkpoint's adapter, alone or merged into its base model."""
    from core.config import ModelSpec
    from core.export.models import export_adapter, export_merged_model

    if args.checkpoint is None:
        raise StudioError(
            f"--format {args.format} needs --checkpoint STEP_FOLDER "
            "(e.g. <workspace>/checkpoints/run-1/step-40)"
        )
    if args.format == "adapter":
        out = export_adapter(args.checkpoint, args.out, force=args.force)
        print(f"wrote the PEFT adapter to {out}")
    elif args.format == "merged":
        _note_quantised_base(args.checkpoint)
        out = export_merged_model(
            ModelSpec(args.model), args.checkpoint, args.out, force=args.force, dtype=args.dtype
        )
        print(f"wrote the merged model to {out}")
    else:
        _export_gguf(args)
    return 0


def _export_gguf(args: argparse.Namespace) -> None:
    """--format gguf (one file) or ollama (a folder with the GGUF and a Modelfile)."""
    from core.config import ModelSpec
    from core.export.models import MODELFILE, export_gguf, export_ollama

    _note_quantised_base(args.checkpoint)
    spec = ModelSpec(args.model, device="cpu")
    if args.format == "gguf":
        out = export_gguf(spec, args.checkpoint, args.out, args.force, args.gguf_type)
        print(f"wrote the merged model as GGUF ({args.gguf_type}) to {out}")
        return
    out, converted = export_ollama(spec, args.checkpoint, args.out, args.force, args.gguf_type)
    if not converted:
        print(
            "note: the chat template could not be converted to Ollama's template syntax (or "
            "the model has none); the Modelfile passes prompts as they are",
            file=sys.stderr,
        )
    print(f"wrote an Ollama folder to {out}: ollama create NAME -f {out / MODELFILE}")
