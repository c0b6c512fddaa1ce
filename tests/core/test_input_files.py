"""Files a user names as input must be regular files: a FIFO would block the read forever
and a device (or a link to /dev/zero) never ends; each is one line, before any read."""

from __future__ import annotations

import os
import stat

import pytest

from core.cli import main
from core.store import Store


def _refused(capsys, *args: str) -> str:
    code = main(list(args))
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_import_prompts_refuses_a_fifo_at_once(capsys, tmp_path, workspace):
    fifo = tmp_path / "prompts.txt"
    os.mkfifo(fifo)  # no writer: reading it would block forever
    err = _refused(capsys, "import-prompts", str(fifo), "--workspace", str(workspace))
    assert "not a regular file (a FIFO)" in err
    with Store.open(workspace) as store:
        assert store.prompts() == []


def test_import_prompts_refuses_a_link_to_dev_zero(capsys, tmp_path, workspace):
    link = tmp_path / "prompts.txt"
    os.symlink("/dev/zero", link)  # read whole, it fills the memory
    err = _refused(capsys, "import-prompts", str(link), "--workspace", str(workspace))
    assert "not a regular file (a character device /dev/zero)" in err


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_import_pairs_refuses_a_device_node(capsys, tmp_path, workspace):
    device = tmp_path / "pairs.jsonl"
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 5))  # like /dev/zero
    err = _refused(capsys, "import-pairs", str(device), "--workspace", str(workspace))
    assert "not a regular file (a character device)" in err


def test_a_link_to_a_regular_file_still_reads(capsys, tmp_path, workspace):
    real = tmp_path / "real.txt"
    real.write_text("One prompt\n", encoding="utf-8")
    link = tmp_path / "prompts.txt"
    os.symlink(real, link)
    assert main(["import-prompts", str(link), "--workspace", str(workspace)]) == 0
