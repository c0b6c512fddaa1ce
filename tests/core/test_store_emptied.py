"""A store file emptied to 0 bytes (a truncation, a failed copy) is damage: reported naming
the file and its backups, never taken for a new, empty store."""

from __future__ import annotations

import shutil
import time

import pytest

from core.cli import main
from core.store import Store
from core.store.faults import StoreDamagedError


def _emptied_with_backups(workspace, count: int = 2):
    with Store.open(workspace) as store:
        store.add_prompts(["kept in the backups"])
        for _ in range(count):
            store.backup()
            time.sleep(0.01)  # backups are named by their time
    path = workspace / "studio.db"
    for extra in ("studio.db-wal", "studio.db-shm"):
        (workspace / extra).unlink(missing_ok=True)
    path.write_bytes(b"")
    return path, sorted((workspace / "backups").glob("studio-*.db"))


def test_an_emptied_store_is_refused_naming_it_and_its_backups(capsys, tmp_path, workspace):
    path, backups = _emptied_with_backups(workspace)
    assert len(backups) == 2
    prompts = tmp_path / "p.txt"
    prompts.write_text("new prompt\n", encoding="utf-8")
    for args in (["prompts"], ["import-prompts", str(prompts)]):
        assert main([*args, "--workspace", str(workspace)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
        assert str(path) in err and "empty, 0 bytes" in err
        assert str(backups[-1]) in err and "2 backups" in err
    assert path.stat().st_size == 0  # nothing was written to it
    for read_only in (False, True):
        with pytest.raises(StoreDamagedError, match="0 bytes"):
            Store.open(workspace, read_only=read_only)

    # Following the message brings the data back.
    shutil.copy(backups[-1], path)
    with Store.open(workspace) as store:
        assert [row.text for row in store.prompts()] == ["kept in the backups"]


def test_an_emptied_store_without_backups_says_there_are_none(workspace):
    with Store.open(workspace):
        pass
    (workspace / "studio.db").write_bytes(b"")
    with pytest.raises(StoreDamagedError, match="there is no backup"):
        Store.open(workspace)


def test_a_new_workspace_still_starts_an_empty_store(tmp_path):
    with Store.open(tmp_path / "new") as store:
        assert store.prompts() == []
    assert (tmp_path / "new" / "studio.db").stat().st_size > 0  # a header: never 0 bytes
