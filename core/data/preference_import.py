"""Bring preference data in: TRL-format pairs and single-answer ratings, into the store.

Pairs (`import-pairs`): rows with "chosen" and "rejected", either with an explicit
"prompt" (text, or TRL's conversational message lists) or, conversational only, with the
prompt implicit as the messages both conversations share (a "prompt" column beside
such whole conversations, as some hub datasets have, must match their user message). Optional numbers "margin",
"score_chosen" and "score_rejected" are kept with the comparison and written back by the
pairs export. Rows whose chosen and rejected answers are the same text say nothing and
are counted, not stored.

Ratings (`import-ratings`): rows with "prompt", "completion" (or "response", as the
ratings export writes) and either a boolean "label" (TRL's unpaired/KTO form, stored as
1.0 or 0.0) or a numeric "score" (or "rating").

Files are read whole before anything is stored (core.data.files): the first bad row
raises an InputFileError naming its line and the fix, and nothing is imported. Rows the
rater already gave are counted as duplicates (core.store.imports).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.data.files import read_rows
from core.data.trl_rows import CHAT, is_messages, read_answer, read_prompt, split_conversation
from core.errors import InputFileError
from core.store.imports import PairToStore, RatingToStore

if TYPE_CHECKING:
    from core.store import Store

IMPORT_MODEL_PREFIX = "import:"
"""Imported answers are stored as generations of model `import:<file name>`."""

_PAIR_NUMBERS = ("margin", "score_chosen", "score_rejected")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


@dataclass(frozen=True)
class FeedbackImportReport:
    """What an import stored and what it left out."""

    imported: int
    duplicates: int
    """Rows the rater already gave, in the workspace or earlier in the file."""
    set_name: str
    rater: str
    conversational: int
    """Rows in TRL's conversational form (their prompts go to the model as chat)."""
    identical: int = 0
    """Pairs whose chosen and rejected answers are the same text (left out)."""


def import_pairs(
    store: Store,
    path: Path,
    rater: str | None = None,
    set_name: str | None = None,
    split: str | None = None,
) -> FeedbackImportReport:
    """Read a TRL preference file (see the module doc) and store its pairs as comparisons."""
    path = Path(path)
    rater, set_name = _rater_and_set(path, rater, set_name)
    rows = _rows(path, split)
    pairs = [pair_from_row(where, row) for where, row in rows]
    usable = [pair for pair in pairs if pair is not None]
    stored, duplicates = store.import_pairs(usable, set_name, rater, _model(path))
    return FeedbackImportReport(
        imported=stored,
        duplicates=duplicates,
        set_name=set_name,
        rater=rater,
        conversational=sum(pair.prompt_format == CHAT for pair in usable),
        identical=len(pairs) - len(usable),
    )


def import_ratings(
    store: Store,
    path: Path,
    rater: str | None = None,
    set_name: str | None = None,
    split: str | None = None,
) -> FeedbackImportReport:
    """Read a ratings file (see the module doc) and store its ratings."""
    return import_parsed_rows(
        Path(path), rater, set_name, split, rating_from_row, store.import_ratings
    )


def import_parsed_rows(
    path: Path,
    rater: str | None,
    set_name: str | None,
    split: str | None,
    parse_row: Callable[[str, dict[str, Any]], Any],
    store_rows: Callable[[list, str, str, str], tuple[int, int]],
) -> FeedbackImportReport:
    """Parse every row of `path` (all of them before anything is stored), store them in one
    call and report; ratings and rankings are imported this way."""
    rater, set_name = _rater_and_set(path, rater, set_name)
    parsed = [parse_row(where, row) for where, row in _rows(path, split)]
    stored, duplicates = store_rows(parsed, set_name, rater, _model(path))
    return FeedbackImportReport(
        imported=stored,
        duplicates=duplicates,
        set_name=set_name,
        rater=rater,
        conversational=sum(item.prompt_format == CHAT for item in parsed),
    )


def pair_from_row(where: str, row: dict[str, Any]) -> PairToStore | None:
    """The pair a row holds, or None when its two answers are the same text."""
    if "chosen" not in row or "rejected" not in row:
        hint = (
            "; it looks like unpaired (KTO) data: use import-ratings"
            if {"completion", "label"} <= set(row)
            else ""
        )
        raise InputFileError(
            f'{where}: a preference row needs "chosen" and "rejected" (found: '
            f"{', '.join(sorted(row)) or 'none'}){hint}"
        )
    if row.get("prompt") is None:
        prompt, chosen, rejected = split_conversation(where, row["chosen"], row["rejected"])
        prompt_format = CHAT
    elif _whole_conversations(row):
        # HuggingFaceH4/ultrafeedback_binarized style: a prompt, and answers that repeat it.
        prompt, chosen, rejected = split_conversation(where, row["chosen"], row["rejected"])
        stated, _ = read_prompt(where, row["prompt"])
        if stated != prompt:
            raise InputFileError(
                f'{where}: "prompt" differs from the user message that "chosen" and '
                '"rejected" start with; make them the same, or drop the "prompt" column'
            )
        prompt_format = CHAT
    else:
        prompt, prompt_format = read_prompt(where, row["prompt"])
        chosen, chosen_format = read_answer(where, row["chosen"], "chosen")
        rejected, rejected_format = read_answer(where, row["rejected"], "rejected")
        if len({prompt_format, chosen_format, rejected_format}) > 1:
            raise InputFileError(
                f"{where}: the row mixes text and message lists; TRL reads a row as all "
                "text (standard) or all messages (conversational): write it one way"
            )
    if chosen == rejected:
        return None
    detail: dict[str, Any] = {"imported_from": where}
    for key in _PAIR_NUMBERS:
        if row.get(key) not in (None, ""):
            detail[key] = _number(where, key, row[key])
    return PairToStore(prompt, chosen, rejected, prompt_format, detail)


def _whole_conversations(row: dict[str, Any]) -> bool:
    """Whether "chosen" and "rejected" are whole conversations (the prompt, then the answer)."""
    return all(is_messages(row[key]) and len(row[key]) > 1 for key in ("chosen", "rejected"))


def rating_from_row(where: str, row: dict[str, Any]) -> RatingToStore:
    """The rating a row holds: prompt, completion and a label or score."""
    answer_column = "completion" if "completion" in row else "response"
    if "prompt" not in row or answer_column not in row:
        hint = "; it looks like preference pairs: use import-pairs" if "chosen" in row else ""
        raise InputFileError(
            f'{where}: a rating row needs "prompt" and "completion" (found: '
            f"{', '.join(sorted(row)) or 'none'}){hint}"
        )
    prompt, prompt_format = read_prompt(where, row["prompt"])
    completion, completion_format = read_answer(where, row[answer_column], answer_column)
    if prompt_format != completion_format:
        raise InputFileError(
            f"{where}: the row mixes text and message lists; write prompt and "
            f"{answer_column} both as text or both as messages"
        )
    note = row.get("note") if isinstance(row.get("note"), str) else None
    return RatingToStore(prompt, completion, _rating_value(where, row), prompt_format, note)


def _rating_value(where: str, row: dict[str, Any]) -> float:
    if row.get("label") not in (None, ""):
        return 1.0 if _boolean(where, row["label"]) else 0.0
    for key in ("score", "rating"):
        if row.get(key) not in (None, ""):
            return _number(where, key, row[key])
    raise InputFileError(
        f'{where}: a rating row needs a "label" (true/false) or a numeric "score"; add one'
    )


def _boolean(where: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise InputFileError(f'{where}: "label" must be true or false, got {value!r}')


def _number(where: str, key: str, value: Any) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise InputFileError(f'{where}: "{key}" must be a number, got {value!r}') from None
    if not math.isfinite(number):
        raise InputFileError(f'{where}: "{key}" must be a finite number, got {value!r}')
    return number


def _rows(path: Path, split: str | None) -> list[tuple[str, dict[str, Any]]]:
    rows = read_rows(path, split)
    if not rows:
        raise InputFileError(f"{path}: the file holds no rows; add at least one")
    return rows


def _rater_and_set(path: Path, rater: str | None, set_name: str | None) -> tuple[str, str]:
    """The rater (default: the file's name) and the prompt set (default: the same)."""
    rater = (rater if rater is not None else path.stem).strip()
    if not rater or rater == "ai:":
        raise InputFileError(
            "--rater needs a name: a person's or a dataset's, or ai:<judge> for AI labels"
        )
    set_name = (set_name if set_name is not None else path.stem).strip()
    if not set_name:
        raise InputFileError("the prompt set needs a name; give one with --set NAME")
    return rater, set_name


def _model(path: Path) -> str:
    return f"{IMPORT_MODEL_PREFIX}{path.name}"
