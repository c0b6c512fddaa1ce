"""Read-only workspaces: commands that only read work; writing ones say so in one line."""

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from core.store import STORE_FILENAME, Store, schema
from core.store.faults import StoreError, StoreReadOnlyError
from tests.faults import REPO, cli_with_read_only, run_with_read_only


def _fill(workspace):
    with Store.open(workspace) as store:
        [prompt_id] = store.add_prompts(["Review:"], set_name="films")
        good = store.add_generation(prompt_id, "Great.", "demo")
        bad = store.add_generation(prompt_id, "Awful.", "demo")
        store.add_comparison(prompt_id, good, bad, "left", "alice")


def test_read_only_open_reads_and_refuses_every_write(workspace):
    _fill(workspace)
    before = (workspace / STORE_FILENAME).read_bytes()
    with Store.open(workspace, read_only=True) as store:
        assert store.read_only
        assert [p.text for p in store.prompts()] == ["Review:"]
        assert len(store.comparisons()) == 1
        with pytest.raises(StoreReadOnlyError, match="is read-only.*--workspace"):
            store.add_prompts(["new"])
        with pytest.raises(StoreReadOnlyError):
            store.create_run("ppo", {})
        # Below the Store's own check, SQLite's mode=ro refuses too (and says it in one line).
        with pytest.raises(StoreReadOnlyError, match="is read-only"):
            store._conn.execute("DELETE FROM prompts")
    assert (workspace / STORE_FILENAME).read_bytes() == before


def test_read_only_open_needs_an_existing_current_store(workspace, monkeypatch):
    with pytest.raises(StoreError, match="no store in workspace"):
        Store.open(workspace / "missing", read_only=True)
    assert not (workspace / "missing").exists()  # nothing created
    _fill(workspace)
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, lambda conn: None])
    with pytest.raises(StoreError, match="needs upgrading.*open the workspace once where"):
        Store.open(workspace, read_only=True)


def test_the_folder_really_is_read_only_for_the_commands(workspace):
    probe = [sys.executable, "-c", f"open({str(workspace / 'probe')!r}, 'w')"]
    assert run_with_read_only(workspace, probe).returncode != 0


def test_reading_commands_work_on_a_read_only_workspace(workspace, tmp_path):
    _fill(workspace)
    listed = cli_with_read_only(workspace, "prompts", "--workspace", workspace)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == ["films\t1 prompts"]
    out = tmp_path / "pairs.jsonl"
    exported = cli_with_read_only(
        workspace, "export", "--format", "pairs", "--out", out, "--workspace", workspace
    )
    assert exported.returncode == 0, exported.stderr
    assert json.loads(out.read_text())["chosen"] == "Great."
    agreement = cli_with_read_only(workspace, "agreement", "--json", "--workspace", workspace)
    assert agreement.returncode == 0, agreement.stderr
    assert sorted(os.listdir(workspace)) == [STORE_FILENAME]  # no -wal, -shm, backups


@pytest.mark.parametrize(
    "args",
    [
        ["import-prompts", "PROMPTS"],
        ["score", "--reward", "length=3"],
        # The store opens before the judge loads: a missing judge is never reached.
        ["label", "--judge", "/no/such/judge"],
    ],
)
def test_writing_commands_on_a_read_only_workspace_say_so_in_one_line(workspace, tmp_path, args):
    _fill(workspace)
    prompts = tmp_path / "more.txt"
    prompts.write_text("Another prompt\n")
    args = [str(prompts) if arg == "PROMPTS" else arg for arg in args]
    result = cli_with_read_only(workspace, *args, "--workspace", workspace)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: the workspace") and result.stderr.count("\n") == 1
    assert "is read-only" in result.stderr and "Traceback" not in result.stderr
    assert "close other programs" not in result.stderr


_KILLED_WRITER = """
import os, sys
from pathlib import Path
from core.store import Store

store = Store.open(Path(sys.argv[1]))
store.add_prompts(["only in the write-ahead log"], set_name="wal")
os._exit(0)  # no close: the row stays in studio.db-wal, beside studio.db-shm
"""


def test_a_read_only_workspace_left_by_a_killed_writer(workspace, tmp_path):
    _fill(workspace)
    subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, str(workspace)], cwd=REPO, check=True, timeout=120
    )
    assert (workspace / f"{STORE_FILENAME}-wal").stat().st_size > 0
    listed = cli_with_read_only(workspace, "prompts", "--set", "wal", "--workspace", workspace)
    assert listed.returncode == 0, listed.stderr  # the -shm exists: mode=ro reads the WAL
    assert listed.stdout.split("\t")[1].strip() == "only in the write-ahead log"
    # Without the -shm, the WAL's changes cannot be read here: say how to get them.
    (workspace / f"{STORE_FILENAME}-shm").unlink()
    listed = cli_with_read_only(workspace, "prompts", "--workspace", workspace)
    assert listed.returncode == 2 and listed.stderr.count("\n") == 1
    assert "open the workspace once where it is writable" in listed.stderr
    with Store.open(workspace) as store:  # writable again: the WAL's row is there
        assert [p.text for p in store.prompts("wal")] == ["only in the write-ahead log"]
        assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_sqlite_itself_refuses_writes_on_a_read_only_open(workspace):
    _fill(workspace)
    conn = sqlite3.connect((workspace / STORE_FILENAME).resolve().as_uri() + "?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM prompts")
    conn.close()
