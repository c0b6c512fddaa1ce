"""Export the store's data for other tools: preference pairs, ratings, run metrics.

- Pairs: JSONL of {"prompt", "chosen", "rejected"}, the explicit-prompt preference
  layout that TRL's RewardTrainer and DPOTrainer read. Ties and both-bad verdicts say
  nothing about which answer is better, so they are left out (and counted).
- Ratings: JSONL of {"prompt", "response", "rating", "rater", "note"}.
- Metrics: CSV with one row per step; columns are "step" and every metric key, sorted.
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
from core.errors import StudioError
from core.store import Store
from core.store.rows import ComparisonRow, RunRow


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


def export_pairs(store: Store, out: Path, source: str = "all", force: bool = False) -> ExportReport:
    """Write the decisive comparisons of `source` (human|ai|all) as chosen/rejected pairs."""
    comparisons = store.comparisons(source)
    if not comparisons:
        raise StudioError(
            f"no {_source_words(source)}comparisons in workspace {store.workspace}; "
            "label some pairs first (Compare & Rate, or the label command)"
            + ("" if source == "all" else " or use --source all")
        )
    pairs = [_pair(row) for row in comparisons if row.verdict in ("left", "right")]
    _write_jsonl(Path(out), pairs, force)
    return ExportReport(
        written=len(pairs),
        skipped_ties=sum(row.verdict == "tie" for row in comparisons),
        skipped_both_bad=sum(row.verdict == "both_bad" for row in comparisons),
        path=Path(out),
    )


def export_ratings(
    store: Store, out: Path, source: str = "all", force: bool = False
) -> ExportReport:
    """Write the ratings of `source` (human|ai|all) as JSONL."""
    ratings = store.ratings(source)
    if not ratings:
        raise StudioError(
            f"no {_source_words(source)}ratings in workspace {store.workspace}; "
            "rate some completions first (Compare & Rate)"
            + ("" if source == "all" else " or use --source all")
        )
    items = [
        {
            "prompt": row.prompt,
            "response": row.response,
            "rating": row.value,
            "rater": row.rater,
            "note": row.note,
        }
        for row in ratings
    ]
    _write_jsonl(Path(out), items, force)
    return ExportReport(written=len(items), path=Path(out))


def export_metrics(
    store: Store, out: Path, run_id: int | None = None, force: bool = False
) -> ExportReport:
    """Write one run's per-step metrics as CSV (default: the latest run that has metrics)."""
    run = _chosen_run(store, run_id, store.metrics, "metrics")
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


def _pair(row: ComparisonRow) -> dict[str, str]:
    chosen, rejected = (
        (row.left_text, row.right_text)
        if row.verdict == "left"
        else (row.right_text, row.left_text)
    )
    return {"prompt": row.prompt, "chosen": chosen, "rejected": rejected}


def _chosen_run(
    store: Store, run_id: int | None, records: Callable[[int], list], what: str
) -> RunRow:
    """Run `run_id`, or else the latest run for which `records(run_id)` finds any (`what`
    names them in the error)."""
    if run_id is not None:
        return store.run(run_id)
    for run in reversed(store.runs()):
        if records(run.id):
            return run
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
