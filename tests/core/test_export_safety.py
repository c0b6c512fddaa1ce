"""Exports never overwrite by surprise, never leave a partial target, and fail in one line."""

import signal
import subprocess
import sys

import pytest

from core.cli import main
from core.config import ModelSpec
from core.errors import StudioError
from core.export.models import export_adapter, export_merged_model
from core.export.ratings import export_pairs
from core.store import Store
from tests.faults import REPO, cli_with_read_only, file_size_limit

# PEFT reads a transformers attribute that transformers 5 deprecates (as in test_cli_ppo.py).
pytestmark = pytest.mark.filterwarnings(
    "ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"
)


@pytest.fixture
def labelled(workspace):
    with Store.open(workspace) as store:
        [prompt_id] = store.add_prompts(["Review:"])
        good = store.add_generation(prompt_id, "Great.", "demo")
        bad = store.add_generation(prompt_id, "Awful.", "demo")
        store.add_comparison(prompt_id, good, bad, "left", "alice")
    return workspace


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir, tmp_path_factory):
    """A LoRA adapter saved by PEFT for the tiny GPT-2."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tuned = get_peft_model(
        model, LoraConfig(r=2, lora_alpha=4, target_modules=["c_attn"], fan_in_fan_out=True)
    )
    folder = tmp_path_factory.mktemp("adapter") / "adapter"
    tuned.save_pretrained(folder)
    return folder


def _hidden(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _cli(capsys, *argv):
    status = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out, err


# ------------------------------------------------------------------ data files


def test_a_file_export_refuses_an_existing_file_unless_forced(labelled, tmp_path):
    out = tmp_path / "pairs.jsonl"
    out.write_text("precious\n")
    with Store.open(labelled) as store:
        with pytest.raises(StudioError, match=f"{out} already exists.*--force"):
            export_pairs(store, out)
        assert out.read_text() == "precious\n"
        assert export_pairs(store, out, force=True).written == 1
    assert '"chosen": "Great."' in out.read_text()
    assert _hidden(tmp_path) == []


def test_the_export_command_onto_an_existing_file_is_one_line(labelled, tmp_path, capsys):
    out = tmp_path / "pairs.jsonl"
    out.write_text("precious\n")
    args = ["export", "--format", "pairs", "--out", out, "--workspace", labelled]
    status, _, err = _cli(capsys, *args)
    assert status == 2 and err.count("\n") == 1
    assert str(out) in err and "--force" in err
    assert out.read_text() == "precious\n"
    status, text, _ = _cli(capsys, *args, "--force")
    assert status == 0 and text.startswith("wrote 1 pairs")


def test_an_export_into_an_impossible_place_is_one_line(labelled, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    status, _, err = _cli(
        capsys, "export", "--format", "pairs", "--out", blocker / "p.jsonl", "--workspace", labelled
    )
    assert status == 2 and err.count("\n") == 1 and "cannot create the folder" in err


def test_an_export_into_a_read_only_folder_is_one_line(labelled, tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    out = folder / "pairs.jsonl"
    result = cli_with_read_only(
        folder, "export", "--format", "pairs", "--out", out, "--workspace", labelled
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and f"cannot write {out}" in result.stderr
    assert list(folder.iterdir()) == []


# ------------------------------------------------------------------ model folders


def test_an_adapter_export_refuses_what_it_should_and_replaces_only_exports(adapter_dir, tmp_path):
    out = tmp_path / "adapter"
    assert export_adapter(adapter_dir, out) == out
    assert (out / "adapter_config.json").is_file()
    with pytest.raises(StudioError, match=f"{out} already exists.*--force"):
        export_adapter(adapter_dir, out)
    (out / "stale.txt").write_text("from the earlier export")
    export_adapter(adapter_dir, out, force=True)
    assert not (out / "stale.txt").exists()  # replaced whole, not merged into
    mine = tmp_path / "my-documents"
    mine.mkdir()
    (mine / "thesis.txt").write_text("years of work")
    with pytest.raises(StudioError, match="not an earlier export.*choose another --out"):
        export_adapter(adapter_dir, mine, force=True)
    assert (mine / "thesis.txt").read_text() == "years of work"
    empty = tmp_path / "empty"
    empty.mkdir()
    export_adapter(adapter_dir, empty)  # an empty folder holds nothing to lose
    assert (empty / "adapter_config.json").is_file()
    assert _hidden(tmp_path) == []


def test_merged_export_onto_an_existing_folder_or_file_fails_before_loading(
    adapter_dir, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "merged"
    out.mkdir()
    (out / "config.json").write_text("{}")
    monkeypatch.setattr("core.model.session.ModelSession.load", pytest.fail)  # never reached
    args = ["export", "--format", "merged", "--checkpoint", adapter_dir, "--out", out]
    status, _, err = _cli(capsys, *args)
    assert status == 2 and err.count("\n") == 1 and "already exists" in err and "--force" in err
    a_file = tmp_path / "merged.bin"
    a_file.write_text("not a folder")
    status, _, err = _cli(capsys, *args[:-1], a_file, "--force")
    assert status == 2 and err.count("\n") == 1 and "is a file; give a folder path" in err
    assert a_file.read_text() == "not a folder"


def test_merged_export_into_a_read_only_folder_is_one_line(adapter_dir, tiny_model_dir, tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    result = cli_with_read_only(
        folder, "export", "--format", "merged", "--model", tiny_model_dir,
        "--checkpoint", adapter_dir, "--out", folder / "merged",
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: cannot write") and result.stderr.count("\n") == 1
    assert list(folder.iterdir()) == []


def test_a_merged_export_that_fails_mid_write_leaves_no_target(
    adapter_dir, tiny_model_dir, tmp_path
):
    out = tmp_path / "merged"
    spec = ModelSpec(str(tiny_model_dir), device="cpu")
    # A real write fault: config.json fits in 16 KiB, the weights do not.
    with (
        file_size_limit(16384),
        pytest.raises(StudioError, match=f"could not write the merged model to {out}"),
    ):
        export_merged_model(spec, adapter_dir, out)
    assert not out.exists() and _hidden(tmp_path) == []
    assert (export_merged_model(spec, adapter_dir, out) / "config.json").is_file()


_KILLED_EXPORT = """
import os, signal, sys
from pathlib import Path
from core.atomic import folder_written_atomically, write_file_atomically

target = Path(sys.argv[2])

def die():
    os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no rename

if sys.argv[1] == "folder":
    with folder_written_atomically(target, True, lambda folder: True) as folder:
        (folder / "config.json").write_text("{}")
        (folder / "model.safetensors").write_bytes(b"half of the weights")
        die()
else:
    def write(file):
        file.write("first half of the lines\\n")
        file.flush()
        die()
    write_file_atomically(target, write, force=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")
@pytest.mark.parametrize("kind", ["folder", "file"])
def test_a_killed_export_leaves_no_partial_target(kind, adapter_dir, labelled, tmp_path):
    target = tmp_path / ("merged" if kind == "folder" else "pairs.jsonl")
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_EXPORT, kind, str(target)], cwd=REPO, timeout=120
    )
    assert killed.returncode == -signal.SIGKILL
    assert not target.exists()
    [leftover] = _hidden(tmp_path)  # only the dead process's temporary remains...
    assert leftover.startswith(f".{target.name}.") and leftover.endswith(".tmp")
    if kind == "folder":
        export_adapter(adapter_dir, target)
    else:
        with Store.open(labelled) as store:
            export_pairs(store, target)
    assert _hidden(tmp_path) == []  # ...until the next export there removes it
