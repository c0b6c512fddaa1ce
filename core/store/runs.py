"""Training runs in the store: status, per-step metrics, samples and checkpoints."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from core.errors import StudioError, TrainingError
from core.store.base import StoreBase, dumps, inserted_id, loads, now
from core.store.rows import ACTIVE_RUN_STATUSES, RUN_STATUSES, CheckpointRow, RunRow
from core.store.run_locks import RunLock, holder_pid, run_lock_path

_RUN_SELECT = "SELECT id, kind, name, config, status, error, created, updated FROM runs"


class RunRecords(StoreBase):
    """The run half of the Store (see core.store.store.Store).

    A run being worked on is locked by the Store that created or claimed it (see
    core.store.run_locks): the lock goes when the run reaches a final status, when the
    Store closes, or when the process dies. Opening a store marks the runs left `running`
    or `paused` without a lock as `interrupted`.
    """

    def __init__(
        self, workspace: Path, path: Path, conn: sqlite3.Connection, read_only: bool = False
    ) -> None:
        super().__init__(workspace, path, conn, read_only)
        self._run_locks: dict[int, RunLock] = {}
        if not read_only:
            self.mark_interrupted_runs()

    def close(self) -> None:
        for lock in self._run_locks.values():
            lock.release()
        self._run_locks.clear()
        super().close()

    @property
    def workspace_id(self) -> str:
        """The random id of this workspace (checkpoints record it)."""
        row = self._conn.execute("SELECT value FROM workspace WHERE key = 'id'").fetchone()
        return str(row[0])

    def create_run(self, kind: str, config: Mapping[str, Any], name: str | None = None) -> int:
        """Start a run record with status "running", locked by this Store; return its id.

        Without a name the run is called "<kind>-<id>".
        """
        if not kind:
            raise ValueError("a run needs a kind (ppo, reward_model...)")
        created = now()
        with self._transaction() as conn:
            run_id = inserted_id(
                conn.execute(
                    "INSERT INTO runs (kind, name, config, status, created, updated)"
                    " VALUES (?, ?, ?, 'running', ?, ?)",
                    (kind, name or "", dumps(dict(config)), created, created),
                )
            )
            if not name:
                conn.execute("UPDATE runs SET name = ? WHERE id = ?", (f"{kind}-{run_id}", run_id))
            # Locked before the row commits: no other Store ever sees it running unlocked.
            self._lock_run(run_id)
            return run_id

    def claim_run(self, run_id: int) -> None:
        """Lock an existing run for this Store (to resume it); refuse if another holds it."""
        self._require(self._conn, "runs", run_id, "run")
        if run_id not in self._run_locks:
            self._lock_run(run_id)

    def _lock_run(self, run_id: int) -> None:
        path = run_lock_path(self.workspace, run_id)
        try:
            lock = RunLock.try_acquire(path)
        except OSError as error:
            raise StudioError(
                f"cannot create the lock file {path}: {error}; check that the workspace "
                "folder is writable"
            ) from error
        if lock is None:
            pid = holder_pid(path)
            who = f"process {pid}" if pid is not None else "another process"
            raise TrainingError(
                f"Run {run_id} is being trained by {who} right now; wait for it to end or "
                "stop it, then resume (one process at a time per run)."
            )
        self._run_locks[run_id] = lock

    def release_run(self, run_id: int) -> None:
        """Give up this Store's lock on a run (it stays in its current status)."""
        lock = self._run_locks.pop(run_id, None)
        if lock is not None:
            lock.release()

    def mark_interrupted_runs(self) -> list[int]:
        """Mark `interrupted` the runs left running or paused by a process that is gone.

        Returns their ids. A store that cannot be written (read-only) is left as it is.
        """
        marks = ", ".join("?" * len(ACTIVE_RUN_STATUSES))
        rows = self._conn.execute(
            f"SELECT id FROM runs WHERE status IN ({marks})", ACTIVE_RUN_STATUSES
        ).fetchall()
        orphans = []
        for (run_id,) in rows:
            if run_id in self._run_locks:
                continue
            try:
                # Held while marking, so a process claiming the run meanwhile is refused.
                lock = RunLock.try_acquire(run_lock_path(self.workspace, run_id))
            except OSError:
                return []  # read-only workspace: report the runs as they are
            if lock is None:
                continue
            try:
                self._mark_interrupted(run_id)
            except (sqlite3.Error, StudioError):
                return []  # read-only or busy: fix them on a later open
            finally:
                lock.release()
            orphans.append(run_id)
        return orphans

    def _mark_interrupted(self, run_id: int) -> None:
        with self._transaction() as conn:
            marks = ", ".join("?" * len(ACTIVE_RUN_STATUSES))
            # Test again under the write lock: the run may have ended or been claimed since.
            conn.execute(
                f"UPDATE runs SET status = 'interrupted', error = ?, updated = ?"
                f" WHERE id = ? AND status IN ({marks})",
                (
                    "The process running it ended without finishing (killed, crashed or "
                    "shut down); resume it from its last checkpoint.",
                    now(),
                    run_id,
                    *ACTIVE_RUN_STATUSES,
                ),
            )

    def set_run_status(self, run_id: int, status: str, error: str | None = None) -> None:
        """Move a run to `status` (one of RUN_STATUSES), with any error.

        A final status (anything but running and paused) releases this Store's lock.
        """
        if status not in RUN_STATUSES:
            raise ValueError(f"run status {status!r} is not one of {', '.join(RUN_STATUSES)}")
        with self._transaction() as conn:
            self._require(conn, "runs", run_id, "run")
            conn.execute(
                "UPDATE runs SET status = ?, error = ?, updated = ? WHERE id = ?",
                (status, error, now(), run_id),
            )
        if status not in ACTIVE_RUN_STATUSES:
            self.release_run(run_id)

    def update_run_config(self, run_id: int, config: Mapping[str, Any]) -> None:
        """Replace a run's configuration (e.g. to note a change of reward mid-run)."""
        with self._transaction() as conn:
            self._require(conn, "runs", run_id, "run")
            conn.execute(
                "UPDATE runs SET config = ?, updated = ? WHERE id = ?",
                (dumps(dict(config)), now(), run_id),
            )

    def runs(self, kind: str | None = None) -> list[RunRow]:
        """All runs (or those of one kind), oldest first."""
        if kind is None:
            rows = self._conn.execute(_RUN_SELECT + " ORDER BY id")
        else:
            rows = self._conn.execute(_RUN_SELECT + " WHERE kind = ? ORDER BY id", (kind,))
        return [_run_row(row) for row in rows]

    def run(self, run_id: int) -> RunRow:
        """One run by id."""
        row = self._conn.execute(_RUN_SELECT + " WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise self._missing("run", run_id)
        return _run_row(row)

    def latest_run(self, kind: str | None = None) -> RunRow | None:
        """The most recently created run (of one kind), or None if there is none."""
        runs = self.runs(kind)
        return runs[-1] if runs else None

    def delete_run(self, run_id: int) -> None:
        """Delete a run with its metrics, samples and checkpoint records (not the files)."""
        with self._transaction() as conn:
            self._require(conn, "runs", run_id, "run")
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    # ----------------------------------------------------------------- metrics

    def add_metrics(self, run_id: int, step: int, metrics: Mapping[str, float]) -> None:
        """Record the metrics of one step; adding a step again replaces it."""
        if "step" in metrics:
            raise ValueError('"step" is the row key; leave it out of the metrics dict')
        # json.dumps keeps NaN/inf (as NaN/Infinity): a diverged step stays visible.
        data = dumps({str(key): float(value) for key, value in metrics.items()})
        with self._transaction() as conn:
            self._require(conn, "runs", run_id, "run")
            conn.execute(
                "INSERT OR REPLACE INTO metrics (run_id, step, data, created) VALUES (?, ?, ?, ?)",
                (run_id, int(step), data, now()),
            )

    def metrics(self, run_id: int) -> list[dict[str, float]]:
        """One dict per recorded step, by step, each with its "step"."""
        rows = self._conn.execute(
            "SELECT step, data FROM metrics WHERE run_id = ? ORDER BY step", (run_id,)
        )
        return [{"step": step, **loads(data)} for step, data in rows]

    def delete_metrics_after(self, run_id: int, step: int) -> None:
        """Forget everything recorded past `step`: metrics, samples and checkpoint records.

        Used when a run resumes from the checkpoint of `step`: the later history is
        replaced by the resumed one.
        """
        with self._transaction() as conn:
            self._require(conn, "runs", run_id, "run")
            for table in ("metrics", "samples", "checkpoints"):
                conn.execute(f"DELETE FROM {table} WHERE run_id = ? AND step > ?", (run_id, step))

    # ----------------------------------------------------------------- samples

    def add_samples(
        self,
        run_id: int,
        step: int,
        samples: Sequence[Mapping[str, Any]],
        split: str = "train",
    ) -> None:
        """Record sample completions of a step (keys: prompt, response, reward, reference);
        split "train" for training rollouts, "eval" for answers to held-out prompts."""
        created = now()
        values = [_sample_values(run_id, int(step), s, created) + (split,) for s in samples]
        with self._transaction() as conn:
            self._require(conn, "runs", run_id, "run")
            conn.executemany(
                "INSERT INTO samples (run_id, step, prompt, response, reward, reference,"
                " created, split) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )

    def samples(
        self, run_id: int, step: int | None = None, split: str | None = "train"
    ) -> list[dict[str, Any]]:
        """Samples of a run (or one step) in one split (None: all), by step: dicts of step,
        prompt, response, reward, reference and split."""
        query = "SELECT step, prompt, response, reward, reference, split FROM samples"
        conditions, params = ["run_id = ?"], list[int | str]([run_id])
        if step is not None:
            conditions.append("step = ?")
            params.append(step)
        if split is not None:
            conditions.append("split = ?")
            params.append(split)
        rows = self._conn.execute(
            f"{query} WHERE {' AND '.join(conditions)} ORDER BY step, id", params
        )
        keys = ("step", "prompt", "response", "reward", "reference", "split")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    # ------------------------------------------------------------- checkpoints

    def add_checkpoint(self, run_id: int, step: int, path: str) -> int:
        """Record the checkpoint folder of a step (replacing one of that step); return its id."""
        with self._transaction() as conn:
            self._require(conn, "runs", run_id, "run")
            return conn.execute(
                "INSERT INTO checkpoints (run_id, step, path, created) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (run_id, step) DO UPDATE SET path = excluded.path,"
                " created = excluded.created RETURNING id",
                (run_id, int(step), str(path), now()),
            ).fetchone()[0]

    def checkpoints(self, run_id: int) -> list[CheckpointRow]:
        """A run's checkpoints, by step."""
        rows = self._conn.execute(
            "SELECT id, run_id, step, path, created FROM checkpoints"
            " WHERE run_id = ? ORDER BY step",
            (run_id,),
        )
        return [CheckpointRow(*row) for row in rows]


def _run_row(row: tuple) -> RunRow:
    run_id, kind, name, config, *rest = row
    return RunRow(run_id, kind, name, loads(config), *rest)


def _sample_values(run_id: int, step: int, sample: Mapping[str, Any], created: str) -> tuple:
    missing = [key for key in ("prompt", "response") if key not in sample]
    if missing:
        raise ValueError(f"a sample needs {', '.join(missing)}; got keys {sorted(sample)}")
    reward = sample.get("reward")
    if reward is not None:
        reward = float(reward)
        # SQLite would store NaN as NULL silently; say so by storing None ourselves.
        reward = reward if not math.isnan(reward) else None
    return (
        run_id,
        step,
        str(sample["prompt"]),
        str(sample["response"]),
        reward,
        sample.get("reference"),
        created,
    )
