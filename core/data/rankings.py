"""Rankings of several answers to one prompt, stored as the pairwise comparisons they imply.

`import-rankings FILE` reads JSONL (or .csv/.parquet/dataset folder) rows

    {"prompt": "...", "completions": ["a", "b", "c", "d"], "ranking": [2, [0, 3], 1]}

`ranking` lists indices into `completions`, best first; a nested list is a tie (here 2 is
best, 0 and 3 tie, 1 is worst). Every completion is ranked exactly once. A ranking of K
answers is stored as its K(K-1)/2 comparisons (the better answer on the left, verdict
"left"; tied answers verdict "tie"), each with `detail.ranking` (an id shared by the
ranking's comparisons), its place in the ranking and where it came from. So every reader
of pairs (exports, reward-model training, DPO, agreement) reads rankings with no change,
and a ranking's pairs can be told apart and grouped back by that id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.data.preference_import import FeedbackImportReport, import_parsed_rows
from core.data.trl_rows import read_answer, read_prompt
from core.errors import InputFileError
from core.store.imports import ranking_pairs

if TYPE_CHECKING:
    from core.store import Store

MAX_COMPLETIONS = 16
"""More answers than this in one ranking is refused: 16 answers are already 120 pairs."""


@dataclass(frozen=True)
class RankingToStore:
    """One ranking read from a file or given in Compare & Rate."""

    prompt: str
    completions: tuple[str, ...]
    groups: tuple[tuple[int, ...], ...]
    """Indices into `completions`, best group first; a group of several is a tie."""
    prompt_format: str
    where: str = ""

    def pairs(self) -> list[tuple[int, int, str]]:
        """(a, b, verdict) for every two answers: "left" when a ranks above b, "tie"."""
        return expand(self.groups)


expand = ranking_pairs
"""The K(K-1)/2 comparisons a ranking implies, better answer first (core.store.imports)."""


def ranking_from_row(where: str, row: dict[str, Any]) -> RankingToStore:
    """The ranking a row holds (see the module doc), or one error naming the problem."""
    missing = [key for key in ("prompt", "completions", "ranking") if key not in row]
    if missing:
        raise InputFileError(
            f'{where}: a ranking row needs "prompt", "completions" and "ranking" (missing: '
            f"{', '.join(missing)})"
        )
    prompt, prompt_format = read_prompt(where, row["prompt"])
    completions = row["completions"]
    if not isinstance(completions, list) or not 2 <= len(completions) <= MAX_COMPLETIONS:
        raise InputFileError(
            f'{where}: "completions" must be a list of 2 to {MAX_COMPLETIONS} answers'
        )
    texts = []
    for number, answer in enumerate(completions):
        text, answer_format = read_answer(where, answer, f"completions[{number}]")
        if answer_format != prompt_format:
            raise InputFileError(
                f"{where}: the row mixes text and message lists; write the prompt and the "
                "completions all as text or all as messages"
            )
        texts.append(text)
    if len(set(texts)) != len(texts):
        raise InputFileError(f"{where}: two completions are the same text; keep one of them")
    groups = _groups(where, row["ranking"], len(texts))
    return RankingToStore(prompt, tuple(texts), groups, prompt_format, where)


def _groups(where: str, ranking: Any, count: int) -> tuple[tuple[int, ...], ...]:
    """The ranking as groups of indices, checked to rank each completion once."""
    if not isinstance(ranking, list) or not ranking:
        raise InputFileError(f'{where}: "ranking" must be a list of indices, best first')
    groups = []
    for entry in ranking:
        members = entry if isinstance(entry, list) else [entry]
        if not members or not all(type(m) is int and 0 <= m < count for m in members):
            raise InputFileError(
                f'{where}: "ranking" holds {entry!r}; use indices 0 to {count - 1} into '
                '"completions", or a list of them for a tie'
            )
        groups.append(tuple(members))
    ranked = [m for group in groups for m in group]
    if sorted(ranked) != list(range(count)):
        raise InputFileError(
            f'{where}: "ranking" must name each of the {count} completions exactly once '
            f"(it names {sorted(ranked)})"
        )
    return tuple(groups)


def import_rankings(
    store: Store,
    path: Path,
    rater: str | None = None,
    set_name: str | None = None,
    split: str | None = None,
) -> FeedbackImportReport:
    """Read a rankings file and store each ranking as its comparisons (one transaction)."""
    return import_parsed_rows(
        Path(path), rater, set_name, split, ranking_from_row, store.import_rankings
    )
