"""The offline trainers' data: preference pairs, single-answer ratings and demonstrations,
from the store or a file, with a count of what was used and what was left out (and why).

- Pairs (DPO): the verdicts on a pair merged by core.data.conflicts' rule (each rater's latest,
  people over AI, label = the favoured answer's vote share, a judge's probability for AI
  pairs); conflicts are skipped, ties skipped or kept as label 0.5 (DPOConfig.ties);
  'both bad' says nothing about the order and is always skipped. AI labels less sure than
  the pairs export's --min-confidence (|2p - 1| < 0.2 by default) are skipped first and
  counted as "AI coin flips": a judge's coin flip must never train silently.
- Thumbs (KTO): a rating >= 0.5 is desirable, below it undesirable (thumbs up stores 1,
  down 0, as TRL's boolean KTO labels import; the `kto` export's default threshold). Pairs split too: the preferred side desirable, the other undesirable,
  both sides of 'both bad' undesirable; ties (and AI labels of exactly 0.5) skipped.
- Demonstrations (SFT): prompt/response rows of a .jsonl or .csv file, or the preferred
  sides of the stored comparisons (ties and 'both bad' skipped: nothing to imitate).
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from core.data.conflicts import BOTH_BAD, CONFLICT, TIE, resolved
from core.data.preference_export import COIN_FLIPS, DEFAULT_MIN_CONFIDENCE, drop_coin_flips
from core.errors import StudioError, TrainingError
from core.offline.config import FROM_CHOICES
from core.reward_model.pairs import PreferencePair

if TYPE_CHECKING:
    from core.store import Store
    from core.store.rows import ComparisonRow, RatingRow, ResolutionRow

DESIRABLE_FROM = 0.5
"""Ratings at or above this are desirable (1 = thumbs up / label true, 0 = down / false)."""
T = TypeVar("T")


@dataclass(frozen=True)
class Example:
    """One answer to learn from alone: a demonstration (SFT) or a thumbs rating (KTO)."""

    prompt: str
    response: str
    desirable: bool = True
    source: str = "human"


@dataclass
class DataReport:
    """What a dataset was built from: used, and left out by reason."""

    used: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    def line(self, what: str) -> str:
        """'120 pairs (skipped: 4 ties, 2 both bad)' for the CLI and the GUI."""
        if not self.skipped:
            return f"{self.used} {what}"
        parts = ", ".join(f"{count} {reason}" for reason, count in sorted(self.skipped.items()))
        return f"{self.used} {what} (skipped: {parts})"

    def metrics(self) -> dict[str, float]:
        """data/used and data/skipped_<reason> (spaces as underscores)."""
        values = {"data/used": float(self.used)}
        for reason, count in self.skipped.items():
            values[f"data/skipped_{reason.replace(' ', '_')}"] = float(count)
        return values


def dpo_pairs(
    rows: Sequence[ComparisonRow], ties: str = "skip",
    min_confidence: float = DEFAULT_MIN_CONFIDENCE, resolutions: Sequence[ResolutionRow] = (),
) -> tuple[list[PreferencePair], DataReport]:  # fmt: skip
    """Comparison rows as DPO pairs, one per pair of answers merged by core.data.conflicts' rule
    (exports and reward-model training use it too), label = P(chosen is better) >= 0.5.

    AI labels less sure than `min_confidence` (|2p - 1|) are skipped as coin flips first,
    as the pairs export does: DPO would train on them as if they meant something. Pairs a
    person resolved (`resolutions`, Store.resolutions) are settled as they picked."""
    pairs, report = [], DataReport()
    rows, flips = drop_coin_flips(rows, min_confidence)
    if flips:
        report.skip(COIN_FLIPS, flips)
    for resolution in resolved(rows, resolutions):
        if resolution.status in _DPO_SKIPS or (resolution.status == TIE and ties == "skip"):
            report.skip(_DPO_SKIPS.get(resolution.status, "ties"))
            continue
        pairs.append(PreferencePair.of(resolution))
    report.used = len(pairs)
    return pairs, report


_DPO_SKIPS = {BOTH_BAD: "both bad", CONFLICT: "conflicts"}


def kto_examples(
    ratings: Sequence[RatingRow],
    comparisons: Sequence[ComparisonRow] = (),
    desirable_from: float = DESIRABLE_FROM,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
) -> tuple[list[Example], DataReport]:
    """Thumbs ratings (and pairs split into their two sides) as KTO examples (what `kto`
    trains on, and what `export --format kto` writes); AI coin flips among the pairs are
    skipped as in dpo_pairs."""
    examples, report = [], DataReport()
    comparisons, flips = drop_coin_flips(comparisons, min_confidence)
    if flips:
        report.skip(COIN_FLIPS, flips)
    for rating in ratings:
        source = "ai" if rating.is_ai else "human"
        desirable = rating.value >= desirable_from
        examples.append(Example(rating.prompt, rating.response, desirable, source))
    for row in comparisons:
        source = "ai" if row.is_ai else "human"
        if row.verdict == "both_bad":
            examples.append(Example(row.prompt, row.left_text, False, source))
            examples.append(Example(row.prompt, row.right_text, False, source))
            continue
        p_left = row.soft_label if row.soft_label is not None else _hard(row.verdict)
        if p_left is None or p_left == 0.5:
            report.skip("ties")
            continue
        good, bad = (row.left_text, row.right_text) if p_left > 0.5 else (
            row.right_text, row.left_text)  # fmt: skip
        examples += [
            Example(row.prompt, good, True, source),
            Example(row.prompt, bad, False, source),
        ]
    report.used = len(examples)
    return examples, report


def _hard(verdict: str) -> float | None:
    return {"left": 1.0, "right": 0.0}.get(verdict)


def chosen_demonstrations(
    rows: Sequence[ComparisonRow], resolutions: Sequence[ResolutionRow] = ()
) -> tuple[list[Example], DataReport]:
    """The preferred side of each comparison, as demonstrations."""
    pairs, report = dpo_pairs(rows, ties="skip", resolutions=resolutions)
    return [Example(pair.prompt, pair.chosen, True, pair.source) for pair in pairs], report


def read_demonstrations(path: Path) -> tuple[list[Example], DataReport]:
    """prompt/response rows of a .jsonl (one object a line) or .csv (header row) file."""
    path = Path(path)
    if path.suffix.lower() not in (".jsonl", ".csv"):
        raise StudioError(
            f"{path}: demonstrations must be a .jsonl or .csv file with 'prompt' and "
            "'response' fields."
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise StudioError(f"Cannot read {path}: {error}; name a readable UTF-8 file.") from error
    rows = _jsonl_rows(path, text) if path.suffix.lower() == ".jsonl" else _csv_rows(path, text)
    examples, report = [], DataReport()
    for number, row in rows:
        prompt, response = row.get("prompt"), row.get("response")
        if not isinstance(prompt, str) or not isinstance(response, str):
            raise StudioError(
                f"{path}, row {number}: needs text fields 'prompt' and 'response'; fix or "
                "remove that row."
            )
        if not response.strip():
            report.skip("empty responses")
            continue
        examples.append(Example(prompt, response))
    report.used = len(examples)
    return examples, report


def _jsonl_rows(path: Path, text: str) -> list[tuple[int, dict]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise StudioError(f"{path}, line {number}: not JSON ({error.msg}); fix it.") from error
        rows.append((number, value if isinstance(value, dict) else {}))
    return rows


def _csv_rows(path: Path, text: str) -> list[tuple[int, dict]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or not {"prompt", "response"} <= set(reader.fieldnames):
        raise StudioError(f"{path}: the header row must name 'prompt' and 'response' columns.")
    return [(number, row) for number, row in enumerate(reader, start=2)]


def store_pairs(
    store: Store, source: str, ties: str = "skip", min_confidence: float = DEFAULT_MIN_CONFIDENCE
) -> tuple[list, DataReport]:
    """The store's comparisons by `source` (human | ai | all) as DPO pairs."""
    rows = store.comparisons(_checked_source(source))
    return dpo_pairs(rows, ties, min_confidence, store.resolutions())


def store_thumbs(
    store: Store, source: str, with_pairs: bool = True,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
) -> tuple[list, DataReport]:  # fmt: skip
    """The store's ratings (and, with_pairs, its comparisons) as KTO examples."""
    source = _checked_source(source)
    comparisons = store.comparisons(source) if with_pairs else []
    return kto_examples(store.ratings(source), comparisons, min_confidence=min_confidence)


def _checked_source(source: str) -> str:
    if source not in FROM_CHOICES:
        raise StudioError(f"--from {source!r}: choose one of {', '.join(FROM_CHOICES)}.")
    return source


def split_examples(items: Sequence[T], fraction: float, seed: int) -> tuple[list[T], list[T]]:
    """(train, held-out): a seeded shuffle; at least one held out when fraction > 0."""
    minimum = 2 if fraction > 0 else 1
    if len(items) < minimum:
        raise TrainingError(
            f"Only {len(items)} usable examples; training needs at least {minimum}. Rate more "
            "answers (Compare & Rate, or `label`)."
        )
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    held = 0 if fraction <= 0 else min(len(items) - 1, max(1, round(fraction * len(items))))
    return [items[i] for i in order[held:]], [items[i] for i in order[:held]]
