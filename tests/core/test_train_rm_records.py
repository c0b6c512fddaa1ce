"""train-rm keeps the trainers' promises: a refused train-rm leaves no run record, and
every train-rm ends with a store backup that holds its run (the documented recovery
copies the newest backup over the store)."""

from __future__ import annotations

import json
import shutil

import pytest

from core.cli import main
from core.store import Store
from core.store.faults import latest_backup

# PEFT reads a transformers attribute that transformers 5 deprecates (as in test_cli_ppo.py).
pytestmark = pytest.mark.filterwarnings(
    "ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"
)


@pytest.fixture
def compared(tmp_path, workspace):
    pairs = tmp_path / "pairs.jsonl"
    rows = [
        {"prompt": f"Review {i}:", "chosen": "Great, lovely.", "rejected": "Awful."}
        for i in range(8)
    ]
    pairs.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    assert main(["import-pairs", str(pairs), "--workspace", str(workspace)]) == 0
    return workspace


def test_a_refused_train_rm_leaves_no_run(capsys, tmp_path, compared):
    code = main(
        ["train-rm", "--base", str(tmp_path / "no-such-model"), "--workspace", str(compared)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "no-such-model" in err and len(err.strip().splitlines()) == 1
    with Store.open(compared) as store:
        assert store.runs() == []


def test_train_rm_ends_with_a_backup_holding_its_run(capsys, tmp_path, compared, tiny_model_dir):
    out = tmp_path / "rm"
    args = ["train-rm", "--base", str(tiny_model_dir), "--epochs", "1", "--out", str(out)]
    assert main([*args, "--workspace", str(compared)]) == 0
    with Store.open(compared) as store:
        [run] = store.runs()
        metrics = store.metrics(run.id)
    assert run.kind == "reward_model" and run.status == "finished" and metrics
    # The documented recovery: copy the newest backup over the store.
    backup = latest_backup(compared)
    assert backup is not None
    for extra in ("studio.db-wal", "studio.db-shm"):
        (compared / extra).unlink(missing_ok=True)
    shutil.copy(backup, compared / "studio.db")
    with Store.open(compared) as store:
        [recovered] = store.runs()
        assert recovered.status == "finished" and store.metrics(recovered.id) == metrics


def test_train_rm_replaces_an_earlier_model_only_with_force(
    capsys, tmp_path, compared, tiny_model_dir
):
    out = tmp_path / "rm"
    args = [
        "train-rm",
        "--base",
        str(tiny_model_dir),
        "--epochs",
        "1",
        "--workspace",
        str(compared),
    ]
    assert main([*args, "--out", str(out)]) == 0
    capsys.readouterr()
    saved = (out / "rm_meta.json").read_text(encoding="utf-8")
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert (out / "rm_meta.json").read_text(encoding="utf-8") == saved
    link = tmp_path / "link"
    link.symlink_to(out)
    assert main([*args, "--out", str(link), "--force"]) == 2
    assert "symbolic link" in capsys.readouterr().err
    with Store.open(compared) as store:
        assert len(store.runs()) == 1  # both refusals came before a run record
    assert main([*args, "--out", str(out), "--force"]) == 0
