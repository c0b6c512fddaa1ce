"""The Prompts page's background import of preference pairs and ratings (no Qt here).

A big dataset takes seconds to import, so the page runs this in a worker thread, which
opens its own store connection (a Store belongs to the thread that opened it).
"""

from __future__ import annotations

from pathlib import Path

from core.data.preference_import import FeedbackImportReport, import_pairs, import_ratings
from core.store import Store


def import_feedback(workspace: Path, path: Path, kind: str) -> FeedbackImportReport:
    """Import a preference-pairs (`kind` "pairs") or ratings ("ratings") file into the
    workspace's store, with this thread's own connection."""
    importer = import_pairs if kind == "pairs" else import_ratings
    with Store.open(workspace) as store:
        return importer(store, path)
