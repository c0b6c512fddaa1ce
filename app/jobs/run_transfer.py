"""The Runs page's cluster jobs: export a run as a folder to train elsewhere, and import
the runs trained from one (plain Python over core.runs.export / core.runs.import_run, no Qt).

Each job opens its own Store in the worker thread (a Store belongs to its thread) and
returns plain data for the page to show.
"""

from __future__ import annotations

from pathlib import Path

from core.runs.export import RunExport, export_run
from core.runs.import_run import RunImport, import_run
from core.store import Store


def export_run_job(workspace: Path, run_id: int, out: Path, force: bool = False) -> RunExport:
    """Write run `run_id`'s export folder at `out` (`rlhf-studio-cli export-run`)."""
    with Store.open_for_reading(workspace) as store:
        return export_run(store, run_id, out, force=force)


def import_run_job(workspace: Path, folder: Path) -> RunImport:
    """Bring back the runs trained from `folder` (`rlhf-studio-cli import-run`)."""
    with Store.open(workspace) as store:
        return import_run(store, folder)


def export_folder(parent: Path, run_id: int, kind: str) -> Path:
    """The folder an export goes to inside the folder the user chose: `<kind>-run<id>-
    cluster`, numbered on when an earlier export (perhaps with results) is there."""
    name = f"{kind}-run{run_id}-cluster"
    folder, number = Path(parent) / name, 1
    while folder.exists():
        number += 1
        folder = Path(parent) / f"{name}-{number}"
    return folder
