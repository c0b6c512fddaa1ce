"""export-run / import-run: a run as a folder that trains it elsewhere, and back.

The end-to-end test runs the exported launch.sh as written (accelerate launch --cpu, one
process, two steps of the demo model) and imports what it wrote; the others check the
folder's files, the scripts' flags (with stand-ins for accelerate, srun and scontrol)
and every refusal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from accelerate.commands.config.config_args import load_config_from_file

from core.cli import main
from core.config import ModelSpec, PPOConfig, to_dict
from core.config.io import from_dict, read_config_file
from core.data.run_prompts import read_run_prompts, record_run_prompts
from core.paths import run_checkpoint_dir, run_prompts_file
from core.runs.export import export_run
from core.runs.import_run import IMPORTED_KEY, import_run
from core.store import Store

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = ["This movie was", "The blender is", "The hotel", "My new phone"]
SCORER = "def reward(prompts, responses):\n    return [float(len(r) > 3) for r in responses]\n"
FAST = PPOConfig(steps=1, batch_size=4, mini_batch_size=2, ppo_epochs=1, max_new_tokens=6)


def _recorded_run(workspace: Path, scorer: Path, config: PPOConfig = FAST) -> int:
    """A finished PPO run as start_run records it (without training it here)."""
    with Store.open(workspace) as store:
        run_id = store.create_run(
            "ppo",
            {
                "ppo": to_dict(config),
                "algorithm": "ppo",
                "model": "demo",
                "model_spec": to_dict(ModelSpec()),
                "reward": "sentiment+py",
                "reward_specs": ["sentiment", f"py={scorer}@0.5"],
                "prompts": len(PROMPTS),
            },
        )
        store.add_prompts(PROMPTS[:1], "default", references=["A fine film."])
        store.add_metrics(run_id, 1, {"reward/mean": 0.1})
        store.set_run_status(run_id, "finished")
    record_run_prompts(workspace, run_id, PROMPTS)
    return run_id


@pytest.fixture
def scorer(tmp_path) -> Path:
    path = tmp_path / "scorers" / "score.py"
    path.parent.mkdir()
    path.write_text(SCORER, encoding="utf-8")
    return path


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _export(capsys, workspace: Path, run_id: int, out: Path, *extra: str) -> Path:
    code, _out, err = _cli(
        capsys, "export-run", str(run_id), "--out", str(out), "--workspace", str(workspace), *extra
    )
    assert code == 0, err
    return out


def test_the_exported_folder_runs_as_written_and_comes_back_as_an_imported_run(
    capsys, tmp_path, workspace, scorer, demo_model_dir
):
    source = _recorded_run(workspace, scorer)
    folder = _export(capsys, workspace, source, tmp_path / "cluster")
    env = dict(
        os.environ,
        NUM_PROCESSES="1",
        USE_CPU="1",
        ACCELERATE=str(Path(sys.executable).parent / "accelerate"),
        PYTHONPATH=str(ROOT),  # this checkout's core, as an installed app would be
        OMP_NUM_THREADS="1",
    )
    result = subprocess.run(
        [str(folder / "launch.sh"), "--steps", "2"],
        cwd=tmp_path,  # launch.sh finds its files from its own place
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "finished after 2 steps" in result.stdout
    assert len((folder / "workspace" / "metrics.jsonl").read_text().splitlines()) == 2

    code, out, err = _cli(capsys, "import-run", str(folder), "--workspace", str(workspace))
    assert code == 0, err
    assert "2 steps, 1 checkpoints" in out
    with Store.open(workspace) as store:
        runs = store.runs()
        assert len(runs) == 2
        imported = runs[-1]
        assert imported.status == "finished" and imported.name.endswith("(imported)")
        assert [row["step"] for row in store.metrics(imported.id)] == [1, 2]
        assert "reward/mean" in store.metrics(imported.id)[0]
        origin = imported.config[IMPORTED_KEY]
        assert origin["exported_run_id"] == source and origin["folder"] == str(folder)
        [checkpoint] = store.checkpoints(imported.id)
        assert Path(checkpoint.path).parent == run_checkpoint_dir(workspace, imported.id)
        assert (Path(checkpoint.path) / "adapter" / "adapter_config.json").is_file()
        # The cluster's trainer recorded the exported prompts, and they came back too.
        assert read_run_prompts(workspace, imported.id) == PROMPTS

    # Again: the same run is updated, not copied.
    code, out, _err = _cli(capsys, "import-run", str(folder), "--workspace", str(workspace))
    assert code == 0 and out.startswith(f"updated run {imported.id} ")
    with Store.open(workspace) as store:
        assert len(store.runs()) == 2 and len(store.metrics(imported.id)) == 2


def test_the_folder_holds_the_runs_settings_prompts_rewards_and_launchers(
    capsys, tmp_path, workspace, scorer
):
    source = _recorded_run(workspace, scorer, PPOConfig(steps=7, learning_rate=3e-5))
    folder = _export(capsys, workspace, source, tmp_path / "out")
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert files == [
        "accelerate/ddp.yaml",
        "accelerate/fsdp.yaml",
        "config.yaml",
        "export.json",
        "launch.sh",
        "prompts.jsonl",
        "rewards.txt",
        "rewards/score.py",
        "slurm.sbatch",
    ]
    config = from_dict(PPOConfig, read_config_file(PPOConfig, folder / "config.yaml"))
    assert config == PPOConfig(steps=7, learning_rate=3e-5)
    rows = [json.loads(line) for line in (folder / "prompts.jsonl").read_text().splitlines()]
    assert [row["prompt"] for row in rows] == PROMPTS
    assert rows[0]["reference"] == "A fine film." and "reference" not in rows[1]
    assert (folder / "rewards.txt").read_text() == "sentiment\npy=rewards/score.py@0.5\n"
    assert (folder / "rewards" / "score.py").read_text() == SCORER
    manifest = json.loads((folder / "export.json").read_text())
    assert manifest["run_id"] == source and manifest["kind"] == "ppo"
    ddp = load_config_from_file(str(folder / "accelerate" / "ddp.yaml"))
    fsdp = load_config_from_file(str(folder / "accelerate" / "fsdp.yaml"))
    assert ddp.distributed_type.value == "MULTI_GPU"
    assert fsdp.distributed_type.value == "FSDP"
    assert fsdp.fsdp_config["fsdp_sharding_strategy"] == "FULL_SHARD"
    assert fsdp.fsdp_config["fsdp_use_orig_params"] is True  # LoRA: frozen and trained mix
    for script in ("launch.sh", "slurm.sbatch"):
        assert os.access(folder / script, os.X_OK)
        subprocess.run(["bash", "-n", str(folder / script)], check=True)


def _stand_in(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/usr/bin/env bash\n" + body, encoding="utf-8")
    path.chmod(0o755)


def _args_of(path: Path) -> list[list[str]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


RECORD_ARGS = 'python3 -c \'import json, sys; print(json.dumps(sys.argv[1:]))\' "$@" >> "$RECORD"\n'


def test_launch_sh_passes_processes_machines_and_the_trainer_flags_to_accelerate(
    capsys, tmp_path, workspace, scorer
):
    folder = _export(capsys, workspace, _recorded_run(workspace, scorer), tmp_path / "out")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stand_in(bin_dir, "accelerate", RECORD_ARGS)
    record = tmp_path / "args.jsonl"
    env = dict(
        os.environ,
        ACCELERATE=str(bin_dir / "accelerate"),
        RECORD=str(record),
        NUM_PROCESSES="16",
        NUM_MACHINES="2",
        MACHINE_RANK="1",
        MAIN_PROCESS_IP="node-a",
        ACCELERATE_CONFIG="accelerate/fsdp.yaml",
        WORKSPACE="results",  # relative to where launch.sh is started
        MODEL="org/bigger-base",
    )
    subprocess.run([str(folder / "launch.sh"), "--steps", "3"], cwd=tmp_path, env=env, check=True)
    [args] = _args_of(record)
    launch, trainer = args[: args.index("-m")], args[args.index("-m") + 2 :]
    assert launch[0] == "launch" and args[args.index("-m") + 1] == "core"
    flags = dict(zip(launch[1::2], launch[2::2], strict=False))
    assert flags["--config_file"] == "accelerate/fsdp.yaml"
    assert (flags["--num_processes"], flags["--num_machines"]) == ("16", "2")
    assert (flags["--machine_rank"], flags["--main_process_ip"]) == ("1", "node-a")
    assert trainer[:3] == ["ppo", "--model", "org/bigger-base"]
    assert trainer[trainer.index("--workspace") + 1] == str(tmp_path / "results")
    assert [arg for i, arg in enumerate(trainer) if "--reward" in trainer[i - 1 : i + 1]] == [
        "--reward",
        "sentiment",
        "--reward",
        "py=rewards/score.py@0.5",
    ]
    assert trainer[-2:] == ["--steps", "3"]  # the caller's flags come last: they win


def test_cpu_processes_start_with_the_gpus_hidden_as_accelerate_cpu_starts_only_one(
    capsys, tmp_path, workspace, scorer
):
    folder = _export(capsys, workspace, _recorded_run(workspace, scorer), tmp_path / "out")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stand_in(bin_dir, "accelerate", 'echo "${CUDA_VISIBLE_DEVICES-unset}" "$@" >> "$RECORD"\n')
    record = tmp_path / "seen.txt"
    for processes in ("1", "2"):
        env = dict(
            os.environ, ACCELERATE=str(bin_dir / "accelerate"), RECORD=str(record),
            NUM_PROCESSES=processes, USE_CPU="1",
        )  # fmt: skip
        env.pop("CUDA_VISIBLE_DEVICES", None)
        subprocess.run([str(folder / "launch.sh")], env=env, check=True)
    one, two = record.read_text().splitlines()
    assert one.startswith("unset launch ") and " --cpu " in one
    assert not two.startswith("unset") and " --cpu " not in two  # hidden: an empty value
    assert "--num_processes 2" in two


def test_the_slurm_script_runs_launch_sh_on_every_node_with_the_main_address(
    capsys, tmp_path, workspace, scorer
):
    folder = _export(capsys, workspace, _recorded_run(workspace, scorer), tmp_path / "out")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stand_in(bin_dir, "accelerate", RECORD_ARGS)
    _stand_in(bin_dir, "scontrol", 'printf "gpu-node-07\\ngpu-node-08\\n"\n')
    # srun starts its command once per node, each with its SLURM_NODEID.
    _stand_in(bin_dir, "srun", 'shift\nfor n in 0 1; do SLURM_NODEID=$n "$@"; done\n')
    record = tmp_path / "args.jsonl"
    env = dict(
        os.environ,
        PATH=f"{bin_dir}:{os.environ['PATH']}",
        ACCELERATE="accelerate",
        RECORD=str(record),
        SLURM_JOB_NUM_NODES="2",
        SLURM_JOB_NODELIST="gpu-node-[07-08]",
        SLURM_SUBMIT_DIR=str(folder),
        GPUS_PER_NODE="4",
    )
    subprocess.run(["bash", str(folder / "slurm.sbatch"), "--steps", "9"], env=env, check=True)
    for rank, args in enumerate(_args_of(record)):
        flags = dict(zip(args[1::2], args[2::2], strict=False))
        assert flags["--num_processes"] == "8" and flags["--num_machines"] == "2"
        assert flags["--machine_rank"] == str(rank)
        assert flags["--main_process_ip"] == "gpu-node-07"
        assert args[-2:] == ["--steps", "9"]
    assert len(_args_of(record)) == 2
    assert "#SBATCH --nodes=" in (folder / "slurm.sbatch").read_text()
    outside = {k: v for k, v in env.items() if not k.startswith("SLURM_")}
    result = subprocess.run(
        ["bash", str(folder / "slurm.sbatch")], env=outside, capture_output=True, text=True
    )
    assert result.returncode != 0 and "submit this script with sbatch" in result.stderr


def _refusal(capsys, *args: str) -> str:
    code, _out, err = _cli(capsys, *args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_export_refuses_in_one_line(capsys, tmp_path, workspace, scorer):
    source = _recorded_run(workspace, scorer)
    ws = ("--workspace", str(workspace))
    err = _refusal(capsys, "export-run", "99", "--out", str(tmp_path / "a"), *ws)
    assert "no run with id 99" in err
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    assert "already exists" in _refusal(capsys, "export-run", str(source), "--out", str(busy), *ws)
    err = _refusal(capsys, "export-run", str(source), "--out", str(busy), "--force", *ws)
    assert "not an earlier export" in err
    assert (busy / "notes.txt").read_text() == "mine"
    scorer.unlink()
    err = _refusal(capsys, "export-run", str(source), "--out", str(tmp_path / "b"), *ws)
    assert "score.py" in err and "missing" in err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_force_replaces_an_earlier_export_but_never_trained_results(
    capsys, tmp_path, workspace, scorer
):
    source = _recorded_run(workspace, scorer)
    folder = _export(capsys, workspace, source, tmp_path / "out")
    (folder / "config.yaml").write_text("stale")
    _export(capsys, workspace, source, folder, "--force")
    assert "batch_size" in (folder / "config.yaml").read_text()
    with Store.open(folder / "workspace"):
        pass  # a trained workspace now lies inside
    err = _refusal(
        capsys, "export-run", str(source), "--out", str(folder), "--force",
        "--workspace", str(workspace),
    )  # fmt: skip
    assert "import-run" in err
    assert (folder / "workspace" / "studio.db").is_file()


def test_runs_that_cannot_be_exported_say_why(capsys, tmp_path, workspace, scorer):
    with Store.open(workspace) as store:
        dpo = store.create_run("dpo", {"dpo": {}, "algorithm": "dpo"})
        store.set_run_status(dpo, "finished")
        old = store.create_run("ppo", {"ppo": to_dict(FAST), "algorithm": "ppo"})
        store.set_run_status(old, "finished")
    ws = ("--workspace", str(workspace))
    err = _refusal(capsys, "export-run", str(dpo), "--out", str(tmp_path / "a"), *ws)
    assert "dpo run" in err and "ppo, grpo, rloo" in err
    err = _refusal(capsys, "export-run", str(old), "--out", str(tmp_path / "b"), *ws)
    assert "--prompts FILE" in err
    prompts = tmp_path / "p.txt"
    prompts.write_text("One prompt\nAnother\n")
    folder = _export(capsys, workspace, old, tmp_path / "c", "--prompts", str(prompts))
    lines = (folder / "prompts.jsonl").read_text().splitlines()
    assert [json.loads(line)["prompt"] for line in lines] == ["One prompt", "Another"]


def test_an_imported_run_exports_with_the_reward_files_of_its_folder(tmp_path, workspace, scorer):
    """An imported run's specs name files inside the folder it came from."""
    cluster = tmp_path / "cluster"
    with Store.open(workspace) as store:
        folder = export_run(store, _recorded_run(workspace, scorer), cluster).folder
    trained = _recorded_run(folder / "workspace", Path("rewards/score.py"))
    with Store.open(workspace) as store:
        [imported] = import_run(store, folder).runs
        assert imported.source_run_id == trained
        again = export_run(store, imported.run_id, tmp_path / "again")
    assert (again.folder / "rewards" / "score.py").read_text() == SCORER


def test_import_refuses_a_folder_without_a_trained_workspace(capsys, tmp_path, workspace):
    empty = tmp_path / "nothing"
    empty.mkdir()
    err = _refusal(capsys, "import-run", str(empty), "--workspace", str(workspace))
    assert "no trained workspace" in err and "launch.sh" in err


def test_record_run_prompts_keeps_texts_only(tmp_path):
    assert record_run_prompts(tmp_path, 1, [("a pair", "of answers")]) is None
    assert read_run_prompts(tmp_path, 1) is None
    record_run_prompts(tmp_path, 2, ["line one\nline two", 'a "quoted" one'])
    assert read_run_prompts(tmp_path, 2) == ["line one\nline two", 'a "quoted" one']
    assert run_prompts_file(tmp_path, 2).is_file()


def test_reward_model_folders_are_copied_and_other_specs_kept(tmp_path, workspace, scorer):
    reward_model = tmp_path / "models" / "rm-2"
    reward_model.mkdir(parents=True)
    (reward_model / "config.json").write_text("{}")
    run_id = _recorded_run(workspace, scorer)
    with Store.open(workspace) as store:
        config = store.run(run_id).config
        specs = [f"rm={reward_model}@0.7", "length=20@0.2", "regex=a@b@1.0", "rm=org/hub-rm"]
        store.update_run_config(run_id, {**config, "reward_specs": specs})
        report = export_run(store, run_id, tmp_path / "out")
    assert report.copied == ["rewards/rm-2"]
    assert (report.folder / "rewards" / "rm-2" / "config.json").read_text() == "{}"
    lines = (report.folder / "rewards.txt").read_text().splitlines()
    assert lines == ["rm=rewards/rm-2@0.7", "length=20@0.2", "regex=a@b@1.0", "rm=org/hub-rm"]
