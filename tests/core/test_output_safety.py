"""Every output refuses to replace a file without --force, --force replaces regular files
only, and no output is written through a symbolic link: checked with real device nodes
(mknod, as root), FIFOs and links in a temporary folder."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from core.cli import main
from core.cli.common import open_metrics_out
from core.errors import StudioError
from core.store import Store

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")


@pytest.fixture
def labelled(workspace):
    with Store.open(workspace) as store:
        [prompt_id] = store.add_prompts(["Review:"])
        good = store.add_generation(prompt_id, "Great.", "demo")
        bad = store.add_generation(prompt_id, "Awful.", "demo")
        store.add_comparison(prompt_id, good, bad, "left", "alice")
    return workspace


def _null_device(path: Path) -> Path:
    """A character device like /dev/null, made in the test's own folder."""
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return path


def _refused(capsys, *args: str) -> str:
    code = main(list(args))
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    return err


@needs_root
def test_export_force_never_replaces_a_device(capsys, tmp_path, labelled):
    device = _null_device(tmp_path / "null")
    err = _refused(
        capsys, "export", "--format", "pairs", "--out", str(device), "--force",
        "--workspace", str(labelled),
    )  # fmt: skip
    assert "not a regular file (a character device)" in err
    assert stat.S_ISCHR(device.lstat().st_mode)  # still the device node


def test_export_never_writes_through_a_link(capsys, tmp_path, labelled):
    target = tmp_path / "mine.txt"
    target.write_text("keep me", encoding="utf-8")
    link = tmp_path / "link.jsonl"
    os.symlink(target, link)
    for force in ([], ["--force"]):
        err = _refused(
            capsys, "export", "--format", "pairs", "--out", str(link), *force,
            "--workspace", str(labelled),
        )  # fmt: skip
        assert "symbolic link" in err
    assert target.read_text(encoding="utf-8") == "keep me" and link.is_symlink()


def test_export_force_replaces_a_regular_file(capsys, tmp_path, labelled):
    out = tmp_path / "pairs.jsonl"
    out.write_text("old", encoding="utf-8")
    args = ["export", "--format", "pairs", "--out", str(out), "--workspace", str(labelled)]
    assert "already exists" in _refused(capsys, *args)
    assert main([*args, "--force"]) == 0
    assert json.loads(out.read_text(encoding="utf-8").splitlines()[0])["chosen"] == "Great."


def _ppo(model_dir: Path, workspace: Path, *extra: str) -> list[str]:
    return [
        "ppo", "--model", str(model_dir), "--batch-size", "2", "--mini-batch-size", "2",
        "--ppo-epochs", "1", "--max-new-tokens", "4", "--steps", "1",
        "--workspace", str(workspace), *extra,
    ]  # fmt: skip


def test_metrics_out_refuses_what_it_would_replace_before_any_run(
    capsys, tmp_path, workspace, tiny_model_dir
):
    existing = tmp_path / "metrics.jsonl"
    existing.write_text("earlier run's metrics\n", encoding="utf-8")
    err = _refused(capsys, *_ppo(tiny_model_dir, workspace, "--metrics-out", str(existing)))
    assert "already exists" in err and "--force" in err
    assert existing.read_text(encoding="utf-8") == "earlier run's metrics\n"

    link = tmp_path / "link.jsonl"
    os.symlink(existing, link)
    for force in ([], ["--force"]):
        err = _refused(capsys, *_ppo(tiny_model_dir, workspace, "--metrics-out", str(link), *force))
        assert "symbolic link" in err
    assert existing.read_text(encoding="utf-8") == "earlier run's metrics\n"

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it to write would block until a reader came
    err = _refused(capsys, *_ppo(tiny_model_dir, workspace, "--metrics-out", str(fifo), "--force"))
    assert "not a regular file (a FIFO)" in err
    with Store.open(workspace) as store:
        assert store.runs() == []  # every refusal came before the run's record


@needs_root
def test_metrics_out_force_never_replaces_a_device(capsys, tmp_path, workspace, tiny_model_dir):
    device = _null_device(tmp_path / "null")
    err = _refused(
        capsys, *_ppo(tiny_model_dir, workspace, "--metrics-out", str(device), "--force")
    )
    assert "--force replaces regular files only" in err
    assert stat.S_ISCHR(device.lstat().st_mode)


def test_metrics_out_force_replaces_and_resume_appends(capsys, tmp_path, workspace, tiny_model_dir):
    out = tmp_path / "metrics.jsonl"
    out.write_text("stale\n", encoding="utf-8")
    assert main(_ppo(tiny_model_dir, workspace, "--metrics-out", str(out), "--force")) == 0
    [row] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert "reward/mean" in row
    # A file that appears between the check and the open is not replaced without --force.
    late = tmp_path / "late.jsonl"
    late.write_text("theirs", encoding="utf-8")
    with pytest.raises(StudioError, match="already exists"):
        open_metrics_out(late, append=False)
    with open_metrics_out(late, append=True) as stream:
        stream.write("+ours")
    assert late.read_text(encoding="utf-8") == "theirs+ours"
