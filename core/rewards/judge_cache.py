"""A cache of judge verdicts keyed by (judge, rubric, prompt, response(s)).

Judging is a forward pass of a language model per item; PPO and bulk labelling ask the
same question many times (the same pair in both orders, the same response re-scored).
Entries live in an in-memory LRU and, when a file is given, in a small SQLite table
(`<workspace>/cache/judge.sqlite`) so they survive restarts. Values are short tuples of
floats. The SQLite connection is shared across threads behind a lock: the judge may be
called from a training worker while the GUI labels.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from core.paths import judge_cache_path

_SCHEMA = "CREATE TABLE IF NOT EXISTS judge_cache (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


def cache_key(*parts: str) -> str:
    """A stable key for the parts (unambiguous: parts are JSON-encoded before hashing)."""
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()


class JudgeCache:
    """LRU of judge results, optionally backed by an SQLite file."""

    def __init__(self, path: str | Path | None = None, max_items: int = 100_000) -> None:
        self.max_items = max_items
        self.hits = 0
        self.misses = 0
        self._memory: OrderedDict[str, tuple[float, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
            self._db.commit()

    @classmethod
    def for_workspace(cls, workspace: str | Path) -> JudgeCache:
        """The persistent cache of a workspace (`core.paths.judge_cache_path`)."""
        return cls(judge_cache_path(workspace))

    def get(self, key: str) -> tuple[float, ...] | None:
        """The cached value, or None (counted as a miss)."""
        with self._lock:
            value = self._memory.get(key)
            if value is None and self._db is not None:
                row = self._db.execute(
                    "SELECT value FROM judge_cache WHERE key = ?", (key,)
                ).fetchone()
                if row is not None:
                    value = tuple(json.loads(row[0]))
            if value is None:
                self.misses += 1
                return None
            self.hits += 1
            self._remember(key, value)
            return value

    def put_many(self, items: Sequence[tuple[str, Sequence[float]]]) -> None:
        """Store several results at once (one SQLite transaction)."""
        with self._lock:
            for key, value in items:
                self._remember(key, tuple(float(v) for v in value))
            if self._db is not None and items:
                self._db.executemany(
                    "INSERT OR REPLACE INTO judge_cache (key, value) VALUES (?, ?)",
                    [(key, json.dumps([float(v) for v in value])) for key, value in items],
                )
                self._db.commit()

    def _remember(self, key: str, value: tuple[float, ...]) -> None:
        self._memory[key] = value
        self._memory.move_to_end(key)
        while len(self._memory) > self.max_items:
            self._memory.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            if self._db is not None:
                return int(self._db.execute("SELECT COUNT(*) FROM judge_cache").fetchone()[0])
            return len(self._memory)

    def clear(self) -> None:
        """Forget every entry (memory and file)."""
        with self._lock:
            self._memory.clear()
            if self._db is not None:
                self._db.execute("DELETE FROM judge_cache")
                self._db.commit()

    def close(self) -> None:
        """Close the SQLite file, if any; the memory part stays usable."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
