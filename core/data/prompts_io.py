"""Read prompt files (.txt, .jsonl, .csv) and import them into a store.

Files that hold feedback too (TRL's "chosen"/"rejected" pairs, "completion"/"label"
ratings) import their prompts only; the report names those columns so the caller can
point at import-pairs / import-ratings. Reading is all-or-nothing: the whole file is parsed before anything is stored, and the
first problem raises an InputFileError naming the file, the line and the fix.

- .txt: one prompt per non-blank line.
- .jsonl: one JSON object per non-blank line with a "prompt" string (or TRL's
  conversational prompt: a list holding one user message) and an optional "reference"
  string (a reference answer for reference-based rewards).
- .csv: a header row with a "prompt" column and an optional "reference" column.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.data.files import csv_rows, jsonl_rows, numbered_lines, read_text_file
from core.data.trl_rows import is_messages, read_prompt
from core.errors import InputFileError

if TYPE_CHECKING:
    from core.store import Store

SUPPORTED_SUFFIXES = (".txt", ".jsonl", ".csv")


@dataclass(frozen=True)
class PromptRecord:
    """One prompt read from a file."""

    text: str
    reference: str | None = None


@dataclass(frozen=True)
class ImportReport:
    """What `import_prompts` did."""

    imported: int
    skipped_duplicates: int
    """Prompts left out because the set (or the file) already holds the same text."""
    set_name: str
    feedback_columns: tuple[str, ...] = ()
    """Feedback columns the file holds beside its prompts (chosen, rejected, completion,
    label...): left out here, imported by import-pairs or import-ratings."""


FEEDBACK_COLUMNS = ("chosen", "rejected", "completion", "label", "score")


def read_prompts(path: Path) -> list[PromptRecord]:
    """Every prompt in `path`; InputFileError (with the line) on the first problem."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InputFileError(
            f"{path}: unknown prompt file type {path.suffix or '(no extension)'!r}; "
            f"use one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    text = read_text_file(path)
    _refuse_nul(path, text.find("\x00"), text)
    reader = {".txt": _read_txt, ".jsonl": _read_jsonl, ".csv": _read_csv}[suffix]
    records = reader(path, text)
    if not records:
        raise InputFileError(f"{path}: the file holds no prompts; add at least one")
    for number, record in enumerate(records, 1):  # a JSON "\u0000" escape
        if "\x00" in record.text or "\x00" in (record.reference or ""):
            raise InputFileError(
                f"{path}: prompt {number} holds a NUL character (\\u0000), which tokenizers "
                "drop or mangle; remove it"
            )
    return records


def _refuse_nul(path: Path, index: int, text: str) -> None:
    """A NUL byte in a prompts file: a binary file, or text no model should be fed."""
    if index >= 0:
        line = text.count("\n", 0, index) + 1
        raise InputFileError(
            f"{path}, line {line}: a NUL byte (\\x00) in the text; is it a binary file? "
            "Remove the byte, or name the right file"
        )


def import_prompts(store: Store, path: Path, set_name: str | None = None) -> ImportReport:
    """Read `path` and add its prompts to a set (default: the file's name without extension).

    Prompts whose text the set already holds (or that repeat within the file) are
    skipped, so importing a file twice does not duplicate it.
    """
    set_name = (set_name if set_name is not None else Path(path).stem).strip()
    if not set_name:
        raise InputFileError("the prompt set needs a name; give one with --set NAME")
    records = read_prompts(path)
    seen = {row.text for row in store.prompts(set_name)}
    fresh: list[PromptRecord] = []
    for record in records:
        if record.text not in seen:
            seen.add(record.text)
            fresh.append(record)
    if fresh:
        store.add_prompts(
            [record.text for record in fresh],
            set_name=set_name,
            references=[record.reference for record in fresh],
        )
    return ImportReport(len(fresh), len(records) - len(fresh), set_name, feedback_columns_of(path))


def feedback_columns_of(path: Path) -> tuple[str, ...]:
    """The feedback columns (FEEDBACK_COLUMNS) of a .jsonl file's first row or a .csv
    file's header; () for other files or none."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        return ()
    first = next((line for _, line in numbered_lines(read_text_file(path)) if line.strip()), "")
    if suffix == ".csv":
        columns = {cell.strip().lower() for cell in next(csv.reader([first]), [])}
    else:
        try:
            item = json.loads(first)
        except json.JSONDecodeError:
            return ()
        columns = set(item) if isinstance(item, dict) else set()
    return tuple(column for column in FEEDBACK_COLUMNS if column in columns)


def _read_txt(path: Path, text: str) -> list[PromptRecord]:
    return [PromptRecord(line.strip()) for _, line in numbered_lines(text) if line.strip()]


def _read_jsonl(path: Path, text: str) -> list[PromptRecord]:
    records = []
    for where, item in jsonl_rows(path, text, example='{"prompt": "..."}'):
        if "prompt" not in item:
            found = ", ".join(sorted(item)) or "none"
            raise InputFileError(
                f'{where}: missing "prompt" field (found keys: {found}); '
                'add "prompt" with the prompt text'
            )
        records.append(_record(where, item["prompt"], item.get("reference")))
    return records


def _read_csv(path: Path, text: str) -> list[PromptRecord]:
    rows = csv_rows(path, text, check_header=_has_prompt_column)
    return [_record(where, row["prompt"], row.get("reference") or None) for where, row in rows]


def _has_prompt_column(where: str, header: list[str], columns: list[str]) -> None:
    if "prompt" not in columns:
        found = ", ".join(repr(name) for name in header) or "none"
        raise InputFileError(
            f"{where}: no 'prompt' column in the header (found columns: {found}); "
            "name the column of prompts 'prompt'"
        )


def _record(where: str, prompt: Any, reference: Any) -> PromptRecord:
    """A checked PromptRecord; `where` is "<file> line <n>" for the error message."""
    if is_messages(prompt):
        prompt, _ = read_prompt(where, prompt)  # TRL's conversational prompt: one user turn
    if not isinstance(prompt, str):
        raise InputFileError(
            f'{where}: "prompt" must be text, got {type(prompt).__name__}; put it in quotes'
        )
    if not prompt.strip():
        raise InputFileError(f"{where}: empty prompt; write the prompt text or remove the line")
    if reference is not None and not isinstance(reference, str):
        raise InputFileError(
            f'{where}: "reference" must be text or null, got {type(reference).__name__}'
        )
    return PromptRecord(prompt.strip(), reference)
