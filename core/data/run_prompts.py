"""The prompts an on-policy run trains on, kept in its workspace.

The store records how many prompts a run had, not which: `<workspace>/run_prompts/
run-<id>.jsonl` (one `{"prompt": ...}` per line, the format `--prompts` reads) keeps the
list, so the run can be exported and trained again elsewhere on the same prompts
(core.runs.export). Runs trained on stored feedback (DPO, KTO, SFT) get none: their data
are not prompts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.atomic import temporary_sibling
from core.paths import run_prompts_file


def record_run_prompts(workspace: Path, run_id: int, prompts: Sequence[Any]) -> Path | None:
    """Write run `run_id`'s `prompts` when they are prompt texts; return the file, or None
    for data that are not (pairs, demonstrations)."""
    if not prompts or not all(isinstance(prompt, str) for prompt in prompts):
        return None
    path = run_prompts_file(workspace, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps({"prompt": prompt}) + "\n" for prompt in prompts)
    temporary = temporary_sibling(path)  # a reader never sees half the list
    temporary.write_text(lines, encoding="utf-8")
    os.replace(temporary, path)
    return path


def read_run_prompts(workspace: Path, run_id: int) -> list[str] | None:
    """The prompts recorded for run `run_id`, or None when it recorded none."""
    path = run_prompts_file(workspace, run_id)
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["prompt"] for line in lines if line.strip()]
