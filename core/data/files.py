"""Read the rows of a data file the way the Hugging Face ecosystem writes them.

`read_rows(path)` returns every row of a JSONL, CSV or Parquet file, or of a folder saved
with `datasets.Dataset.save_to_disk`, as (where, row) pairs: `where` names the file and
the line (or row) for error messages, `row` is a plain dict. Reading is all-or-nothing:
the first unreadable line raises an InputFileError naming it and the fix.

- .jsonl: one JSON object per non-blank line (what `Dataset.to_json` writes).
- .csv: a header row, then one row per line (cells are text).
- .parquet: needs pyarrow (installed with `datasets`); cells keep their types.
- a folder: needs `datasets`; a DatasetDict needs `split` unless it holds one split.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import InputFileError

Row = tuple[str, dict[str, Any]]
"""(where, row): "FILE line N" (or "FILE row N"), and the row's columns."""

ROW_FILE_SUFFIXES = (".jsonl", ".csv", ".parquet")


def read_regular_file(path: Path) -> bytes:
    """The bytes of `path`, which must be a regular file (a symbolic link to one is fine):
    a FIFO would block the read forever and a device (/dev/zero) never ends, so anything
    else is refused before it is opened. InputFileError for a missing or unreadable file."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as error:
        raise InputFileError(f"{path}: no such file; check the path") from error
    except OSError as error:
        raise InputFileError(f"{path}: cannot read the file ({error.strerror})") from error
    if stat.S_ISDIR(mode):
        raise InputFileError(f"{path} is a folder; name a file")
    if not stat.S_ISREG(mode):
        from core.atomic import file_kind

        target = path.resolve() if path.is_symlink() else path
        raise InputFileError(
            f"{path} is not a regular file ({file_kind(target)}"
            f"{f' {target}' if target != path else ''}); save the data to a file and name that"
        )
    try:
        # O_NONBLOCK: should the path be swapped for a FIFO after the check, the open
        # still returns at once (and the read then finds no data) instead of hanging.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as file:
            return file.read()
    except OSError as error:
        raise InputFileError(f"{path}: cannot read the file ({error.strerror})") from error


def read_text_file(path: Path) -> str:
    """The file's text; InputFileError for a missing, unreadable or non-UTF-8 file."""
    data = read_regular_file(Path(path))
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _utf16(path, data)  # Windows tools' "Unicode": marked by its byte-order mark
    try:
        # utf-8-sig: tolerate the byte-order mark some editors (Excel, Notepad) add.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise InputFileError(
            f"{path} line {line}: not valid UTF-8 (byte 0x{data[error.start]:02x}); "
            "save the file with UTF-8 encoding"
        ) from error


def _utf16(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-16")
    except UnicodeDecodeError as error:
        raise InputFileError(
            f"{path}: starts with a UTF-16 byte-order mark but is not valid UTF-16 ({error.reason}); "
            "save the file with UTF-8 encoding"
        ) from error


def numbered_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) pairs; only \\n, \\r\\n and \\r end a line, as in editors."""
    return [
        (number, line.rstrip("\r\n"))
        for number, line in enumerate(io.StringIO(text, newline=None), start=1)
    ]


def read_rows(path: Path, split: str | None = None) -> list[Row]:
    """Every row of `path` (see the module doc); InputFileError on the first problem."""
    path = Path(path)
    if path.is_dir():
        return _read_dataset_folder(path, split)
    suffix = path.suffix.lower()
    if suffix not in ROW_FILE_SUFFIXES:
        raise InputFileError(
            f"{path}: unknown file type {path.suffix or '(no extension)'!r}; use "
            f"{', '.join(ROW_FILE_SUFFIXES)} or a folder saved with datasets' save_to_disk"
        )
    if split is not None:
        raise InputFileError(f"{path}: --split applies to dataset folders only; leave it out")
    if suffix == ".parquet":
        return _read_parquet(path)
    text = read_text_file(path)
    return jsonl_rows(path, text) if suffix == ".jsonl" else csv_rows(path, text)


def jsonl_rows(path: Path, text: str, example: str = "") -> list[Row]:
    """The JSON objects of a JSONL file's text; `example` shows in error messages what a
    line should hold (e.g. '{"prompt": "..."}')."""
    like = f" like {example}" if example else ""
    rows = []
    for number, line in numbered_lines(text):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputFileError(
                f"{where}: invalid JSON ({error.msg} at column {error.colno}); "
                f"each line must be one JSON object{like}"
            ) from error
        except RecursionError:  # thousands of nested [ or {: Python's parser gives up
            raise InputFileError(
                f"{where}: JSON nested too deeply to read; each line must be one JSON object{like}"
            ) from None
        if not isinstance(item, dict):
            raise InputFileError(
                f"{where}: expected a JSON object{like}, got {type(item).__name__}"
            )
        rows.append((where, item))
    return rows


HeaderCheck = Callable[[str, list[str], list[str]], None]
"""(where: "FILE line N", the header as written, its lower-cased columns): raises
InputFileError for a header the caller cannot use."""


def csv_rows(path: Path, text: str, check_header: HeaderCheck | None = None) -> list[Row]:
    """The rows of a CSV file's text, keyed by the lower-cased header; `check_header`
    refuses a header that lacks what the caller needs, before any row is read."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    while header is not None and not any(cell.strip() for cell in header):
        header = next(reader, None)  # blank lines above the header
    if header is None:
        return []
    columns = [name.strip().lower() for name in header]
    if check_header is not None:
        check_header(f"{path} line {reader.line_num}", header, columns)
    rows = []
    start = reader.line_num + 1
    for cells in reader:
        # line_num counts physical lines read: a quoted field may span several.
        where, start = f"{path} line {start}", reader.line_num + 1
        if not cells or not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            raise InputFileError(
                f"{where}: {len(cells)} fields but the header has {len(header)}; "
                "quote fields that contain commas"
            )
        rows.append((where, dict(zip(columns, cells, strict=True))))
    return rows


def _read_parquet(path: Path) -> list[Row]:
    try:
        import pyarrow.parquet as parquet
    except ImportError as error:
        raise InputFileError(
            f"{path}: reading Parquet needs pyarrow; install it (pip install pyarrow) or "
            "convert the file to JSONL (Dataset.to_json)"
        ) from error
    try:
        table = parquet.read_table(path)
    except FileNotFoundError as error:
        raise InputFileError(f"{path}: no such file; check the path") from error
    except Exception as error:  # pyarrow raises its own ArrowInvalid, OSError...
        raise InputFileError(f"{path}: not a readable Parquet file ({error})") from error
    return [(f"{path} row {index}", row) for index, row in enumerate(table.to_pylist(), 1)]


def _read_dataset_folder(path: Path, split: str | None) -> list[Row]:
    try:
        import datasets
    except ImportError as error:
        raise InputFileError(
            f"{path} is a folder; reading a saved dataset needs the datasets package "
            "(pip install datasets), or export it to JSONL with Dataset.to_json"
        ) from error
    try:
        loaded = datasets.load_from_disk(str(path))
    except FileNotFoundError as error:
        raise InputFileError(
            f"{path}: not a folder saved with datasets' save_to_disk ({error}); name a "
            "dataset folder or a .jsonl/.csv/.parquet file"
        ) from error
    except Exception as error:  # a damaged dataset_info.json, state.json or Arrow file
        raise _damaged_dataset(path, error) from error
    if isinstance(loaded, datasets.DatasetDict):
        loaded = _one_split(path, loaded, split)
    elif split is not None:
        raise InputFileError(f"{path} holds one dataset, no splits; leave --split out")
    try:
        return [(f"{path} row {index}", dict(row)) for index, row in enumerate(loaded, 1)]
    except Exception as error:  # Arrow data damaged past its header, read row by row
        raise _damaged_dataset(path, error) from error


def _damaged_dataset(path: Path, error: Exception) -> InputFileError:
    text = " ".join(str(error).split())[:200] or type(error).__name__
    return InputFileError(
        f"{path}: the saved dataset is damaged ({type(error).__name__}: {text}); save it "
        "again with save_to_disk, or export it to JSONL (Dataset.to_json)"
    )


def _one_split(path: Path, splits: Any, split: str | None) -> Any:
    names = sorted(splits)
    if split is None and len(names) == 1:
        return splits[names[0]]
    if split is None or split not in splits:
        asked = "" if split is None else f"no split {split!r}; "
        raise InputFileError(
            f"{path}: {asked}the dataset has splits {', '.join(names)}; choose one with --split"
        )
    return splits[split]
