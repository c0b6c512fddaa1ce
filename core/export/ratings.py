"""Export the store's data for other tools: preference pairs, ratings, run metrics.

- Pairs: JSONL of {"prompt", "chosen", "rejected", "margin", "source"}, the explicit-prompt
  preference layout that TRL's RewardTrainer and DPOTrainer read, one row per pair
  (core.data.preference_export has the rule that merges verdicts, and drops AI coin flips).
  Ties and both-bad verdicts say nothing about which answer is better, so they are left
  out (and counted).
- KTO: JSONL of {"prompt", "completion", "label"}, TRL's unpaired form, from the ratings.
- Ratings: JSONL of {"prompt", "response", "rating", "rater", "note"}.
- Metrics: CSV with one row per step; columns are "step" and every metric key, sorted.
  Without a run id: the newest training run with step metrics (reward-model runs record
  epochs, so they are taken only when named).
- Samples: JSONL of {"step", "prompt", "response", "reward", "reference", "split"}: the
  rollouts a run kept each step ("train") and its answers to held-out prompts ("eval"),
  each beside the reference model's answer (to read or score elsewhere).

Every file is written to a temporary file beside the target and renamed into place
(core.atomic), so a crash never leaves a half-written export; an existing file is
replaced only with force=True (the CLI's --force).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from core.atomic import write_file_atomically
from core.data.preference_export import (
    DEFAULT_LABEL_THRESHOLD,
    DEFAULT_MIN_CONFIDENCE,
    ExportRow,
    PairCounts,
    merged_pairs,
    prompt_formats,
    trl_rows,
)
from core.errors import StudioError
from core.rating.pseudonyms import pseudonym
from core.store import Store
from core.store.rows import RunRow

EPOCH_METRIC_RUN_KINDS = ("reward_model",)
"""Run kinds whose metrics are per epoch, not per step: an export without --run skips them."""


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote and what it left out."""

    written: int
    """Rows written (pairs, ratings or steps)."""
    skipped_ties: int = 0
    skipped_both_bad: int = 0
    path: Path | None = None
    run_id: int | None = None
    """The run whose metrics were exported (metrics exports only)."""
    counts: PairCounts | None = None
    """Pairs exports: what merging verdicts into pairs left out or set aside."""
    conversational: bool = False
    """Pairs and KTO exports: rows are message lists (TRL's conversational form)."""
    labels_true: int = 0
    """KTO exports: rows labelled desirable."""


def export_pairs(
    store: Store,
    out: Path,
    source: str = "all",
    force: bool = False,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    layout: str = "auto",
) -> ExportReport:
    """Write the decided pairs of `source` (human|ai|all), one row per pair."""
    comparisons = store.comparisons(source)
    if not comparisons:
        raise StudioError(
            f"no {_source_words(source)}comparisons in workspace {store.workspace}; "
            "label some pairs first (Compare & Rate, the label command, or import-pairs FILE)"
            + ("" if source == "all" else " or use --source all")
        )
    if not 0.0 <= min_confidence <= 1.0:
        raise StudioError(
            f"--min-confidence {min_confidence} is not between 0 (keep coin flips) and 1"
        )
    rows, counts = merged_pairs(
        comparisons, prompt_formats(store), min_confidence, store.resolutions()
    )
    items = trl_rows(rows, layout, answers=("chosen", "rejected"))
    _write_jsonl(Path(out), items, force)
    return ExportReport(
        written=len(items),
        skipped_ties=counts.ties,
        skipped_both_bad=counts.both_bad,
        path=Path(out),
        counts=counts,
        conversational=bool(items) and isinstance(items[0]["prompt"], list),
    )


def export_kto(
    store: Store,
    out: Path,
    source: str = "all",
    force: bool = False,
    label_threshold: float = DEFAULT_LABEL_THRESHOLD,
    layout: str = "auto",
    with_pairs: bool = True,
) -> ExportReport:
    """Write what `kto` trains on as TRL's unpaired {"prompt", "completion", "label"}: each
    rating (desirable from `label_threshold`) and, with_pairs (kto's default, off with
    --no-pairs on both), each comparison split into its preferred and other side."""
    from core.offline.data import kto_examples

    ratings = store.ratings(source)
    comparisons = store.comparisons(source) if with_pairs else []
    if not ratings and not comparisons:
        _ratings_or_error(store, source)  # the usual one-line "nothing to export"
    examples, _ = kto_examples(ratings, comparisons, desirable_from=label_threshold)
    formats = _prompt_formats_by_text(store, ratings, comparisons)
    rows = [
        ExportRow(
            {"prompt": e.prompt, "completion": e.response, "label": e.desirable},
            formats.get(e.prompt, "plain"),
        )
        for e in examples
    ]
    items = trl_rows(rows, layout, answers=("completion",))
    _write_jsonl(Path(out), items, force)
    return ExportReport(
        written=len(items),
        path=Path(out),
        conversational=bool(items) and isinstance(items[0]["prompt"], list),
        labels_true=sum(item["label"] for item in items),
    )


def _prompt_formats_by_text(store: Store, ratings, comparisons) -> dict[str, str]:
    """Each rated or compared prompt's format (chat or plain), from its generations."""
    by_generation = prompt_formats(store)
    formats = {r.prompt: by_generation.get(r.generation_id, "plain") for r in ratings}
    formats.update({c.prompt: by_generation.get(c.left_id, "plain") for c in comparisons})
    return formats


def export_ratings(
    store: Store, out: Path, source: str = "all", force: bool = False, anonymize: bool = False
) -> ExportReport:
    """Write the ratings of `source` (human|ai|all) as JSONL. `anonymize`: people's names
    become stable pseudonyms (core.rating.pseudonyms) and free-text notes, which may name
    someone, are left out."""
    ratings = _ratings_or_error(store, source)
    workspace_id = store.workspace_id if anonymize else ""
    items = [
        {
            "prompt": row.prompt,
            "response": row.response,
            "rating": row.value,
            "rater": pseudonym(workspace_id, row.rater) if anonymize else row.rater,
            "note": None if anonymize else row.note,
        }
        for row in ratings
    ]
    _write_jsonl(Path(out), items, force)
    return ExportReport(written=len(items), path=Path(out))


def _ratings_or_error(store: Store, source: str) -> list:
    ratings = store.ratings(source)
    if not ratings:
        raise StudioError(
            f"no {_source_words(source)}ratings in workspace {store.workspace}; import some "
            "first: rlhf-studio-cli import-ratings FILE (prompt, completion, label or score)"
            + ("" if source == "all" else " or use --source all")
        )
    return ratings


def export_metrics(
    store: Store, out: Path, run_id: int | None = None, force: bool = False
) -> ExportReport:
    """Write one run's per-step metrics as CSV (default: the newest training run with step
    metrics; EPOCH_METRIC_RUN_KINDS are left to --run)."""
    run = _chosen_run(store, run_id, store.metrics, "metrics", EPOCH_METRIC_RUN_KINDS)
    rows = store.metrics(run.id)
    if not rows:
        raise StudioError(
            f"run {run.id} ({run.name}) has no metrics recorded; choose another run with --run"
        )
    keys = sorted({key for row in rows for key in row} - {"step"})
    columns = ["step", *keys]

    def write(file: IO[str]) -> None:
        writer = csv.DictWriter(file, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)

    write_file_atomically(Path(out), write, force)
    return ExportReport(written=len(rows), path=Path(out), run_id=run.id)


def export_samples(
    store: Store, out: Path, run_id: int | None = None, force: bool = False
) -> ExportReport:
    """Write one run's stored samples as JSONL (default: the latest run that has samples)."""

    def all_samples(run_id: int) -> list[dict[str, Any]]:
        return store.samples(run_id, split=None)  # training rollouts and held-out answers

    run = _chosen_run(store, run_id, all_samples, "samples")
    rows = all_samples(run.id)
    if not rows:
        raise StudioError(
            f"run {run.id} ({run.name}) kept no samples (samples_per_step was 0, no held-out "
            "prompts); choose another run with --run"
        )
    _write_jsonl(Path(out), rows, force)
    return ExportReport(written=len(rows), path=Path(out), run_id=run.id)


def _chosen_run(
    store: Store,
    run_id: int | None,
    records: Callable[[int], list],
    what: str,
    skip_kinds: tuple[str, ...] = (),
) -> RunRow:
    """Run `run_id`, or else the latest run not of `skip_kinds` for which `records(run_id)`
    finds any (`what` names them in the error)."""
    if run_id is not None:
        return store.run(run_id)
    for run in reversed(store.runs()):
        if run.kind not in skip_kinds and records(run.id):
            return run
    skipped = [run for run in store.runs() if run.kind in skip_kinds and records(run.id)]
    if skipped:
        raise StudioError(
            f"no training run in workspace {store.workspace} has step {what}; run "
            f"{skipped[-1].id} ({skipped[-1].kind}) has per-epoch metrics: name it with "
            f"--run {skipped[-1].id}"
        )
    raise StudioError(
        f"no run in workspace {store.workspace} has {what} yet; "
        "train first (the ppo command) or choose another workspace with --workspace"
    )


def _source_words(source: str) -> str:
    return {"human": "human ", "ai": "AI ", "all": ""}.get(source, "")


def _write_jsonl(out: Path, items: Iterable[dict[str, Any]], force: bool) -> None:
    def write(file: IO[str]) -> None:
        for item in items:
            # ensure_ascii=False keeps non-English text readable in the file.
            file.write(json.dumps(item, ensure_ascii=False) + "\n")

    write_file_atomically(out, write, force)
