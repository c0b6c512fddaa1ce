"""A bundle is data, never instructions: import-run follows no link and copies nothing from
outside the bundle, an imported run's export ships no local file the bundle names and
turns on no flag, and a run's relative reward paths never depend on the current folder."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from core.cli import main
from core.config import ModelSpec, PPOConfig, to_dict
from core.data.run_prompts import record_run_prompts
from core.paths import run_checkpoint_dir, run_prompts_file
from core.rewards.spec import absolute_reward_specs
from core.store import Store

# PEFT reads a transformers attribute that transformers 5 deprecates (as in test_cli_ppo.py).
pytestmark = pytest.mark.filterwarnings(
    "ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"
)

SCORER = "def reward(prompts, responses):\n    return [1.0 for _ in responses]\n"


@pytest.fixture
def secret(tmp_path) -> Path:
    """A folder outside every bundle holding a file no import or export may read."""
    folder = tmp_path / "home" / ".ssh"
    folder.mkdir(parents=True)
    (folder / "id_rsa").write_text("PRIVATE KEY", encoding="utf-8")
    return folder


def _bundle(
    root: Path, specs: list[str], model_spec: dict | None = None, checkpoint: bool = True
) -> tuple[Path, int]:
    """An export folder a cluster trained in: workspace/ with one finished PPO run, its
    recorded prompts and (with `checkpoint`) one checkpoint folder."""
    workspace = root / "workspace"
    with Store.open(workspace) as store:
        run_id = store.create_run(
            "ppo",
            {
                "ppo": to_dict(PPOConfig(steps=1)),
                "algorithm": "ppo",
                "model": "demo",
                "model_spec": model_spec or to_dict(ModelSpec()),
                "reward_specs": specs,
                "prompts": 1,
            },
        )
        step = run_checkpoint_dir(workspace, run_id) / "step-1"
        if checkpoint:
            (step / "adapter").mkdir(parents=True)
            (step / "adapter" / "adapter_config.json").write_text("{}", encoding="utf-8")
            store.add_checkpoint(run_id, 1, str(step))
        store.set_run_status(run_id, "finished")
    record_run_prompts(workspace, run_id, ["A prompt"])
    return root, run_id


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _refused(capsys, *args: str) -> str:
    code, _out, err = _cli(capsys, *args)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    return err


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.mark.parametrize("where", ["checkpoint folder", "checkpoint file", "run prompts"])
def test_import_run_follows_no_link_out_of_the_bundle(capsys, tmp_path, workspace, secret, where):
    bundle, run_id = _bundle(tmp_path / "bundle", ["sentiment"])
    trained = bundle / "workspace"
    step = run_checkpoint_dir(trained, run_id) / "step-1"
    if where == "checkpoint folder":
        (step / "adapter" / "adapter_config.json").unlink()
        (step / "adapter").rmdir()
        os.symlink(secret, step / "adapter")
    elif where == "checkpoint file":
        os.symlink(secret / "id_rsa", step / "adapter" / "adapter_model.safetensors")
    else:
        prompts = run_prompts_file(trained, run_id)
        prompts.unlink()
        os.symlink(secret / "id_rsa", prompts)
    err = _refused(capsys, "import-run", str(bundle), "--workspace", str(workspace))
    assert "symbolic link" in err
    assert not any("PRIVATE" in p.read_text(errors="replace") for p in _files_under(workspace))
    with Store.open(workspace) as store:
        assert store.runs() == []  # refused before any run was written


def test_import_run_refuses_a_linked_store_and_a_fifo_in_the_bundle(capsys, tmp_path, workspace):
    other, _ = _bundle(tmp_path / "other", ["sentiment"])
    linked = tmp_path / "linked"
    (linked / "workspace").mkdir(parents=True)
    os.symlink(other / "workspace" / "studio.db", linked / "workspace" / "studio.db")
    err = _refused(capsys, "import-run", str(linked), "--workspace", str(workspace))
    assert "studio.db" in err and "symbolic link" in err

    bundle, run_id = _bundle(tmp_path / "bundle", ["sentiment"])
    step = run_checkpoint_dir(bundle / "workspace", run_id) / "step-1"
    os.mkfifo(step / "adapter" / "adapter_model.safetensors")  # copying it would block
    err = _refused(capsys, "import-run", str(bundle), "--workspace", str(workspace))
    assert "not a regular file" in err
    with Store.open(workspace) as store:
        assert store.runs() == []


def test_a_bundle_naming_a_local_file_cannot_have_it_exported(capsys, tmp_path, workspace, secret):
    spec = f"py={secret / 'id_rsa'}"
    bundle, _ = _bundle(tmp_path / "bundle", [spec])
    code, _out, err = _cli(capsys, "import-run", str(bundle), "--workspace", str(workspace))
    assert code == 0, err
    out = tmp_path / "again"
    err = _refused(capsys, "export-run", "1", "--out", str(out), "--workspace", str(workspace))
    assert "outside that folder" in err and "id_rsa" in err
    assert not out.exists()


def test_a_bundle_reward_linked_out_of_it_is_not_exported(capsys, tmp_path, workspace, secret):
    bundle, _ = _bundle(tmp_path / "bundle", ["py=rewards/score.py"])
    (bundle / "rewards").mkdir()
    os.symlink(secret / "id_rsa", bundle / "rewards" / "score.py")
    assert _cli(capsys, "import-run", str(bundle), "--workspace", str(workspace))[0] == 0
    out = tmp_path / "again"
    err = _refused(capsys, "export-run", "1", "--out", str(out), "--workspace", str(workspace))
    assert "through a link" in err
    assert not out.exists()


def test_an_imported_run_never_turns_on_remote_code(capsys, tmp_path, workspace):
    model_spec = {**to_dict(ModelSpec()), "trust_remote_code": True}
    bundle, _ = _bundle(tmp_path / "bundle", ["py=rewards/score.py@0.5"], model_spec)
    (bundle / "rewards").mkdir()
    (bundle / "rewards" / "score.py").write_text(SCORER, encoding="utf-8")
    assert _cli(capsys, "import-run", str(bundle), "--workspace", str(workspace))[0] == 0
    out = tmp_path / "again"
    code, _out, err = _cli(
        capsys, "export-run", "1", "--out", str(out), "--workspace", str(workspace)
    )
    assert code == 0, err
    assert "--trust-remote-code" not in (out / "launch.sh").read_text()
    assert "trust-remote-code" in err and "a bundle never turns it on" in err
    # The bundle's own reward file is shipped, as a plain copy.
    assert (out / "rewards" / "score.py").read_text() == SCORER
    assert (out / "rewards.txt").read_text() == "py=rewards/score.py@0.5\n"


def test_a_trained_bundle_rewards_recorded_absolute_come_back_as_the_bundles(tmp_path, workspace):
    """A cluster run records its reward file absolute (its own folder's path there): the
    import points it at the same file in the local bundle."""
    cluster_path = "/cluster/jobs/export-7/rewards/score.py"
    bundle, _ = _bundle(tmp_path / "bundle", [f"py={cluster_path}"], checkpoint=False)
    (bundle / "rewards").mkdir()
    (bundle / "rewards" / "score.py").write_text(SCORER, encoding="utf-8")
    assert main(["import-run", str(bundle), "--workspace", str(workspace)]) == 0
    with Store.open(workspace) as store:
        [run] = store.runs()
    assert run.config["reward_specs"] == [f"py={bundle.resolve() / 'rewards' / 'score.py'}"]


def test_relative_reward_paths_are_recorded_absolute():
    specs = ["sentiment", "py=r.py@0.5", "rm=org/hub-rm", "length=40@0.2"]
    base = Path("/work/somewhere")
    assert absolute_reward_specs(specs, base) == [
        "sentiment", "py=/work/somewhere/r.py@0.5", "rm=org/hub-rm", "length=40@0.2",
    ]  # fmt: skip
    assert absolute_reward_specs(["py=/abs/r.py"], base) == ["py=/abs/r.py"]


def test_a_resume_from_another_folder_runs_the_reward_the_run_started_with(
    tiny_model_dir, tmp_path, workspace, monkeypatch, capsys
):
    """`ppo --reward py=r.py`, then `ppo --resume` from a folder with another r.py: the
    run's own r.py scores the resumed steps."""
    started, elsewhere = tmp_path / "started", tmp_path / "elsewhere"
    for folder, marker in ((started, "started"), (elsewhere, "elsewhere")):
        folder.mkdir()
        (folder / "r.py").write_text(
            "from pathlib import Path\n"
            "def reward(prompts, responses):\n"
            f"    Path({str(tmp_path / (marker + '.ran'))!r}).write_text('ran')\n"
            "    return [1.0 for _ in responses]\n",
            encoding="utf-8",
        )
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("This movie was\nThe blender is\n", encoding="utf-8")
    args = [
        "ppo", "--model", str(tiny_model_dir), "--prompts", str(prompts), "--batch-size", "2",
        "--mini-batch-size", "2", "--ppo-epochs", "1", "--max-new-tokens", "4",
        "--checkpoint-every", "1", "--workspace", str(workspace),
    ]  # fmt: skip
    monkeypatch.chdir(started)
    assert main([*args, "--reward", "py=r.py", "--steps", "1"]) == 0
    with Store.open(workspace) as store:
        assert store.run(1).config["reward_specs"] == [f"py={started / 'r.py'}"]
    (tmp_path / "started.ran").unlink()
    monkeypatch.chdir(elsewhere)
    checkpoint = run_checkpoint_dir(workspace, 1) / "step-1"
    assert main([*args, "--resume", str(checkpoint), "--steps", "2"]) == 0
    assert f"--reward py={started / 'r.py'}" in capsys.readouterr().out
    assert (tmp_path / "started.ran").is_file() and not (tmp_path / "elsewhere.ran").exists()


def test_bundle_copies_are_regular_files(tmp_path, workspace):
    bundle, run_id = _bundle(tmp_path / "bundle", ["sentiment"])
    assert main(["import-run", str(bundle), "--workspace", str(workspace)]) == 0
    copied = run_checkpoint_dir(workspace, 1)
    files = _files_under(copied)
    assert files and all(stat.S_ISREG(p.lstat().st_mode) for p in files)


def test_an_imported_runs_starting_adapter_outside_its_folder_is_not_exported(
    capsys, tmp_path, workspace, secret
):
    model_spec = {**to_dict(ModelSpec()), "adapter_path": str(secret)}
    bundle, _ = _bundle(tmp_path / "bundle", ["sentiment"], model_spec)
    assert _cli(capsys, "import-run", str(bundle), "--workspace", str(workspace))[0] == 0
    out = tmp_path / "again"
    err = _refused(capsys, "export-run", "1", "--out", str(out), "--workspace", str(workspace))
    assert "starting adapter" in err and "outside that folder" in err
    assert not out.exists()
