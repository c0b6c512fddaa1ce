"""A full disk or a damaged store file: one line saying what to do, nothing committed lost,
and rolling backups to recover from."""

import random
import shutil
import sqlite3
import subprocess
import sys

import pytest

from core.cli import main
from core.errors import StudioError
from core.store import STORE_FILENAME, Store, connection, schema
from core.store.backup import BACKUPS_KEPT, backups
from core.store.faults import StoreDamagedError, StoreFullError
from tests.faults import REPO, file_size_limit, file_size_limit_in_child


def _integrity(workspace):
    """PRAGMA integrity_check's verdict ("ok"), or the error that stopped it."""
    conn = sqlite3.connect(workspace / STORE_FILENAME)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as error:
        return str(error)
    finally:
        conn.close()


def _fill(workspace, n=300):
    """Enough rows for a store of many pages: prompts, pairs and a verdict on each."""
    with Store.open(workspace) as store:
        ids = store.add_prompts([f"prompt {i} " + "words " * 30 for i in range(n)], "kept")
        for prompt_id in ids[:20]:
            left = store.add_generation(prompt_id, "Great.", "demo")
            right = store.add_generation(prompt_id, "Awful.", "demo")
            store.add_comparison(prompt_id, left, right, "left", "alice")


# ------------------------------------------------------------------ full disk


def test_a_full_disk_is_one_line_and_loses_nothing_committed(workspace):
    with Store.open(workspace) as store:
        store.add_prompts([f"kept {i}" for i in range(50)], set_name="kept")
        # A real SQLITE_FULL: the file may not grow past its current size.
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        store._conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StoreFullError) as error:
            store.add_prompts(["x" * 5000 + str(i) for i in range(200)], set_name="big")
        message = str(error.value)
        assert "is full" in message and "free disk space" in message and "\n" not in message
        assert str(store.path) in message
        assert len(store.prompts("kept")) == 50 and store.prompts("big") == []
        with pytest.raises(StoreFullError):  # each later write says the same, no traceback
            store.create_run("ppo", {"big": "y" * 100_000})
        store._conn.execute("PRAGMA max_page_count = 1073741823")  # space freed
        store.add_prompts(["after"], set_name="after")
    assert _integrity(workspace) == "ok"
    with Store.open(workspace) as store:
        assert store.counts()["prompts"] == 51 and store.runs() == []


def test_import_prompts_onto_a_full_disk_is_one_line_and_imports_nothing(workspace, tmp_path):
    _fill(workspace, n=20)
    size = (workspace / STORE_FILENAME).stat().st_size
    big = tmp_path / "big.txt"
    big.write_text("\n".join(f"prompt {i} " + "x" * 300 for i in range(3000)) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "core", "import-prompts", str(big), "--workspace", str(workspace)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=file_size_limit_in_child(
            size + 64_000
        ),  # room to open, none for 1 MB of prompts
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: the store") and result.stderr.count("\n") == 1
    assert "free disk space" in result.stderr and "Traceback" not in result.stderr
    assert _integrity(workspace) == "ok"
    with Store.open(workspace) as store:
        assert len(store.prompts("kept")) == 20 and store.prompts("big") == []


# ------------------------------------------------------------------ damage


def _damage(workspace, pages):
    """Overwrite whole pages of the closed store file with random bytes."""
    path = workspace / STORE_FILENAME
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    noise = random.Random(0)
    for page in pages:  # 1-based, as SQLite counts them
        start = (page - 1) * page_size
        data[start : start + page_size] = noise.randbytes(page_size)
    path.write_bytes(bytes(data))
    return path


def test_a_damaged_store_is_refused_on_open_naming_the_last_backup(workspace):
    _fill(workspace)
    with Store.open(workspace) as store:
        backup = store.backup()
    path = _damage(workspace, pages=[6, 7, 8])
    assert _integrity(workspace) != "ok"
    damaged = path.read_bytes()
    with pytest.raises(StoreDamagedError) as error:
        Store.open(workspace)
    message = str(error.value)
    assert "damaged" in message and str(backup) in message and "\n" not in message
    assert path.read_bytes() == damaged  # nothing written to it
    # The advice works: the backup over the store gives back every row.
    shutil.copyfile(backup, path)
    with Store.open(workspace) as store:
        assert len(store.prompts("kept")) == 300 and len(store.comparisons()) == 20


def test_without_a_backup_the_message_says_so(workspace):
    _fill(workspace)
    _damage(workspace, pages=[6])
    with pytest.raises(StoreDamagedError, match="there is no backup in .*backups; move the file"):
        Store.open(workspace)


@pytest.mark.parametrize(
    "args",
    [
        ["import-prompts", "PROMPTS"],
        ["prompts"],
        ["export", "--format", "pairs", "--out", "OUT"],
        ["agreement"],
        ["score", "--reward", "length=3"],
    ],
)
def test_commands_on_a_damaged_store_fail_in_one_line(workspace, tmp_path, capsys, args):
    _fill(workspace)
    _damage(workspace, pages=[6, 7, 8])
    (tmp_path / "p.txt").write_text("new prompt\n")
    names = {"PROMPTS": str(tmp_path / "p.txt"), "OUT": str(tmp_path / "pairs.jsonl")}
    status = main([names.get(arg, arg) for arg in args] + ["--workspace", str(workspace)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and "damaged" in err
    assert not (tmp_path / "pairs.jsonl").exists()


def test_damage_met_while_reading_is_one_line_too(workspace, tmp_path, capsys, monkeypatch):
    """Damage the open check cannot see (here: the check skipped) still fails readably."""
    _fill(workspace)
    with Store.open(workspace) as store:
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    _damage(workspace, pages=range(2, pages + 1))  # every page but the schema's
    monkeypatch.setattr(connection, "check_integrity", lambda conn, path: None)
    out = tmp_path / "pairs.jsonl"
    status = main(["export", "--format", "pairs", "--out", str(out), "--workspace", str(workspace)])
    err = capsys.readouterr().err
    assert (
        status == 2 and err.count("\n") == 1 and "damaged (database disk image is malformed" in err
    )
    assert not out.exists()


def test_garbled_json_in_a_column_is_a_store_error(workspace):
    with Store.open(workspace) as store:
        run_id = store.create_run("ppo", {"lr": 1})
        store._conn.execute("UPDATE runs SET config = '{broken' WHERE id = ?", (run_id,))
        with pytest.raises(StudioError, match="not readable JSON.*backup"):
            store.run(run_id)


# ------------------------------------------------------------------ backups


def test_backups_are_complete_checked_and_rotated(workspace):
    _fill(workspace, n=10)
    with Store.open(workspace) as store:
        made = [store.backup() for _ in range(BACKUPS_KEPT + 2)]
        store.add_prompts(["after the backups"])
    kept = backups(workspace)
    assert kept == made[-BACKUPS_KEPT:]
    assert sorted(p.name for p in (workspace / "backups").iterdir()) == [p.name for p in kept]
    conn = sqlite3.connect(kept[-1])
    try:
        assert conn.execute("SELECT count(*) FROM prompts").fetchone()[0] == 10
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_a_backup_is_taken_before_a_migration(workspace, monkeypatch):
    _fill(workspace, n=5)
    current = len(schema.MIGRATIONS)

    def add_tags(conn):
        conn.execute("ALTER TABLE prompts ADD COLUMN tags TEXT NOT NULL DEFAULT ''")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, add_tags])
    Store.open(workspace).close()
    [backup] = backups(workspace)
    conn = sqlite3.connect(backup)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == current  # before migrating
        assert conn.execute("SELECT count(*) FROM prompts").fetchone()[0] == 5
    finally:
        conn.close()
    Store.open(workspace).close()
    assert len(backups(workspace)) == 1  # already current: no new backup


def test_a_backup_that_cannot_be_written_is_one_line_and_leaves_nothing(workspace):
    _fill(workspace)
    with Store.open(workspace) as store:
        (workspace / "backups").write_text("a file where the folder should be")
        with pytest.raises(StudioError, match="cannot create the backup folder"):
            store.backup()
        (workspace / "backups").unlink()
        # A real write fault: no file of this process may grow past 8 KiB for a while.
        with (
            file_size_limit(8192),
            pytest.raises(StudioError, match="could not be written|is full") as error,
        ):
            store.backup()
        assert "backups" in str(error.value) and "\n" not in str(error.value)
        assert list((workspace / "backups").iterdir()) == []  # no partial backup
        assert store.backup().is_file()  # room again


# ------------------------------------------------------------------ busy


def test_a_write_blocked_by_another_writer_is_one_line(workspace, monkeypatch):
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_S", 0.2)  # instead of waiting 30 s
    with Store.open(workspace) as holder, Store.open(workspace) as waiter:
        with holder._transaction() as conn:
            conn.execute("INSERT INTO prompts (text, set_name, created) VALUES ('a', 's', 'n')")
            with pytest.raises(StudioError, match="is busy.*another program is writing") as error:
                waiter.add_prompts(["blocked"])
            assert "\n" not in str(error.value)
        waiter.add_prompts(["after the other write"])
        assert [p.text for p in waiter.prompts()] == ["a", "after the other write"]
