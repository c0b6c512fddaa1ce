"""The feedback store: one SQLite file per workspace (<workspace>/studio.db).

`from core.store import Store` is the entry point; the row types come from here too.
"""

from core.store.faults import (
    StoreBusyError,
    StoreDamagedError,
    StoreError,
    StoreFullError,
    StoreReadOnlyError,
)
from core.store.rows import (
    AI_RATER_PREFIX,
    RUN_STATUSES,
    SOURCES,
    VERDICTS,
    CheckpointRow,
    ComparisonRow,
    GenerationRow,
    PromptRow,
    RatingRow,
    ResolutionRow,
    RunRow,
    ScoreRow,
    is_ai_rater,
)
from core.store.store import STORE_FILENAME, Store

__all__ = [
    "AI_RATER_PREFIX",
    "RUN_STATUSES",
    "SOURCES",
    "STORE_FILENAME",
    "VERDICTS",
    "CheckpointRow",
    "ComparisonRow",
    "GenerationRow",
    "PromptRow",
    "RatingRow",
    "ResolutionRow",
    "RunRow",
    "ScoreRow",
    "Store",
    "StoreBusyError",
    "StoreDamagedError",
    "StoreError",
    "StoreFullError",
    "StoreReadOnlyError",
    "is_ai_rater",
]
