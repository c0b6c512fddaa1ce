"""Bad inputs that once gave a traceback, a misleading line or nothing at all: each is made
for real (a wrongly typed config.json, a foreign SQLite file, a pickled checkpoint file, a
reward that closes descriptors or forks) and must now be one clear line, or a warning."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest
import torch

from core.cli import main
from core.errors import RewardError, TrainingError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def prompts_file(tmp_path) -> Path:
    path = tmp_path / "prompts.txt"
    path.write_text("This movie was\nThe blender is\nThe hotel\nMy new phone\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------ generation flags


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--temperature", "nan", "temperature is nan"),
        ("--temperature", "inf", "temperature is inf"),
        ("--seed", "1180591620717411303424", "seed is 1180591620717411303424"),
        ("--seed", "-1", "seed is -1"),
    ],
)
def test_generate_refuses_nonsense_sampling_before_loading(
    flag, value, says, prompts_file, workspace, capsys
):
    args = ["generate", "--prompts", str(prompts_file), "--workspace", str(workspace)]
    assert main([*args, flag, value]) == 2
    assert says in _one_error_line(capsys)
    assert not (workspace / "studio.db").exists()  # refused before the store opened


# --------------------------------------------------------------- model and data files


def test_a_wrongly_typed_model_config_names_the_file(
    demo_model_dir, tmp_path, prompts_file, capsys
):
    folder = tmp_path / "model"
    shutil.copytree(demo_model_dir, folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["n_layer"] = "two"
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    args = ["generate", "--model", str(folder), "--prompts", str(prompts_file)]
    assert main([*args, "--workspace", str(tmp_path / "ws")]) == 2
    line = _one_error_line(capsys)
    assert str(folder / "config.json") in line and "n_layer" in line


def test_a_saved_dataset_with_damaged_info_is_one_line(tmp_path, workspace, capsys):
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "pairs"
    rows = [{"prompt": "a", "chosen": "b", "rejected": "c"}]
    datasets.Dataset.from_list(rows).save_to_disk(str(folder))
    (folder / "dataset_info.json").write_text("{bad", encoding="utf-8")
    assert main(["import-pairs", str(folder), "--workspace", str(workspace)]) == 2
    assert "the saved dataset is damaged" in _one_error_line(capsys)


# ------------------------------------------------------------------------ the store


def _store_file(workspace: Path, statements: list[str]) -> Path:
    path = workspace / "studio.db"
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()
    return path


def test_a_store_whose_version_was_rewound_is_refused_untouched(workspace, prompts_file, capsys):
    from core.store import Store

    with Store.open(workspace) as store:
        store.add_prompts(["kept"], set_name="old")
    path = _store_file(workspace, ["PRAGMA journal_mode = DELETE", "PRAGMA user_version = 1"])
    before = path.read_bytes()
    backups = sorted((workspace / "backups").glob("*")) if (workspace / "backups").is_dir() else []
    assert main(["import-prompts", str(prompts_file), "--workspace", str(workspace)]) == 2
    line = _one_error_line(capsys)
    assert str(path) in line and "schema version 1" in line and "duplicate column" not in line
    assert path.read_bytes() == before  # not migrated
    assert sorted((workspace / "backups").glob("*")) == backups  # and no backup attempted


def test_another_applications_sqlite_file_is_refused_untouched(workspace, prompts_file, capsys):
    path = _store_file(workspace, ["CREATE TABLE prompts (id INTEGER, body TEXT)"])
    before = path.read_bytes()
    assert main(["import-prompts", str(prompts_file), "--workspace", str(workspace)]) == 2
    line = _one_error_line(capsys)
    assert "another application's SQLite database" in line and "already exists" not in line
    assert path.read_bytes() == before


# --------------------------------------------------------- checkpoints (one PPO run)


@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory) -> Path:
    """A workspace with PPO run 1 (4 prompts) and its checkpoint at step 1."""
    folder = tmp_path_factory.mktemp("checkpointed")
    prompts = folder / "prompts.txt"
    prompts.write_text("This movie was\nThe blender is\nThe hotel\nMy new phone\n")
    workspace = folder / "ws"
    args = ["ppo", "--prompts", str(prompts), "--workspace", str(workspace), "--steps", "1",
            "--batch-size", "2", "--mini-batch-size", "2", "--ppo-epochs", "1",
            "--max-new-tokens", "4", "--reward", "length=4"]  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(args) == 0
    finally:
        torch.set_num_threads(threads)
    return workspace


def _copy(checkpointed: Path, tmp_path: Path) -> tuple[Path, Path]:
    workspace = tmp_path / "ws"
    shutil.copytree(checkpointed, workspace)
    return workspace, workspace / "checkpoints" / "run-1" / "step-1"


def _resume(workspace: Path, folder: Path, *extra: str) -> list[str]:
    return ["ppo", "--resume", str(folder), "--workspace", str(workspace), "--steps", "2",
            "--batch-size", "2", "--mini-batch-size", "2", "--ppo-epochs", "1",
            "--max-new-tokens", "4", *extra]  # fmt: skip


def test_a_pickled_trainer_state_is_refused_saying_why(checkpointed, tmp_path, capsys):
    workspace, folder = _copy(checkpointed, tmp_path)
    torch.save({"format": 1, "payload": os.getcwd}, folder / "trainer_state.pt")
    assert main(_resume(workspace, folder)) == 2
    line = _one_error_line(capsys)
    assert "never loads" in line and "pickled" in line and "weights_only" not in line


def test_a_pickled_adapter_bin_is_refused_saying_why(checkpointed, tmp_path, prompts_file, capsys):
    from safetensors.torch import load_file

    workspace, folder = _copy(checkpointed, tmp_path)
    adapter = folder / "adapter"
    tensors = load_file(adapter / "adapter_model.safetensors")
    torch.save({**tensors, "payload": os.getcwd}, adapter / "adapter_model.bin")
    (adapter / "adapter_model.safetensors").unlink()
    args = ["generate", "--adapter", str(adapter), "--prompts", str(prompts_file)]
    assert main([*args, "--workspace", str(workspace)]) == 2
    line = _one_error_line(capsys)
    assert "adapter_model.bin holds pickled Python objects" in line
    assert "weights_only" not in line


@pytest.mark.parametrize("size", [0, 2000])
def test_a_truncated_trainer_state_says_so(checkpointed, tmp_path, size, capsys):
    workspace, folder = _copy(checkpointed, tmp_path)
    state = folder / "trainer_state.pt"
    state.write_bytes(state.read_bytes()[:size])
    assert main(_resume(workspace, folder)) == 2
    line = _one_error_line(capsys)
    assert ("empty (0 bytes)" if size == 0 else "truncated") in line
    assert "Errno" not in line


def test_resume_refuses_lora_flags_the_checkpoint_contradicts(checkpointed, tmp_path, capsys):
    workspace, folder = _copy(checkpointed, tmp_path)
    assert main(_resume(workspace, folder, "--lora-r", "4")) == 2
    assert "--lora-r 4 does not apply to --resume" in _one_error_line(capsys)


def test_resume_refuses_steps_that_train_nothing(checkpointed, tmp_path, capsys):
    workspace, folder = _copy(checkpointed, tmp_path)
    args = _resume(workspace, folder)
    args[args.index("--steps") + 1] = "1"
    assert main(args) == 2
    assert "nothing would be trained" in _one_error_line(capsys)
    from core.store import Store

    with Store.open(workspace) as store:
        assert store.run(1).status == "finished" and len(store.metrics(1)) == 1


def test_resume_without_prompts_uses_and_names_the_runs_list(checkpointed, tmp_path, capsys):
    workspace, folder = _copy(checkpointed, tmp_path)
    assert main(_resume(workspace, folder)) == 0
    out = capsys.readouterr().out
    # The checkpoint's own copy of the prompt set comes first (it travels with the folder).
    assert f"resuming with the run's 4 prompts ({folder / 'prompts.jsonl'})" in out
    assert "run 1: finished after 2 steps" in out

    # A checkpoint from before the copy: the run's recorded list in the workspace.
    workspace, folder = _copy(checkpointed, tmp_path / "older")
    (folder / "prompts.jsonl").unlink()
    assert main(_resume(workspace, folder)) == 0
    out = capsys.readouterr().out
    assert f"resuming with the run's prompts: {workspace / 'run_prompts' / 'run-1.jsonl'}" in out


def test_a_wrongly_typed_checkpoint_config_names_the_file(checkpointed, tmp_path, capsys):
    workspace, folder = _copy(checkpointed, tmp_path)
    path = folder / "ppo_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["batch_size"] = "two"
    path.write_text(json.dumps(config), encoding="utf-8")
    assert main(_resume(workspace, folder)) == 2
    assert str(path) in _one_error_line(capsys)


# --------------------------------------------------------------------------- rewards


def _reward(tmp_path: Path, source: str):
    from core.rewards.python_fn import PythonFunctionReward

    path = tmp_path / "r.py"
    path.write_text(source, encoding="utf-8")
    return PythonFunctionReward(path, time_limit_s=60)


def test_a_score_too_large_for_a_float_is_one_line(tmp_path):
    reward = _reward(tmp_path, "def reward(prompts, responses):\n    return [10**400]\n")
    try:
        with pytest.raises(RewardError, match="integer of 401 digits at index 0"):
            reward.score(["p"], ["r"])
    finally:
        reward.close()


def test_a_reward_that_closes_the_workers_pipe_is_named_as_such(tmp_path, capfd):
    source = (
        "import os\ndef reward(prompts, responses):\n    os.closerange(3, 1024)\n    return [1.0]\n"
    )
    reward = _reward(tmp_path, source)
    try:
        with pytest.raises(RewardError, match="closed a file descriptor it did not open") as caught:
            reward.score(["p"], ["r"])
        assert "end the process" not in str(caught.value)
        assert "Traceback" not in capfd.readouterr().err  # the worker died quietly
    finally:
        reward.close()


def test_processes_a_reward_leaves_running_are_said_and_stopped(tmp_path, caplog):
    marker = tmp_path / "child.pid"
    source = (
        "import os, time\ndef reward(prompts, responses):\n    pid = os.fork()\n"
        "    if pid == 0:\n        time.sleep(120)\n        os._exit(0)\n"
        f"    open({str(marker)!r}, 'w').write(str(pid))\n    return [1.0]\n"
    )
    reward = _reward(tmp_path, source)
    with caplog.at_level("WARNING", logger="rlhf_studio.rewards"):
        assert reward.score(["p"], ["r"]) == [1.0]
    assert "left 1 process(es) running" in caplog.text
    child = int(marker.read_text())
    reward.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{child}").exists():
        time.sleep(0.1)
    assert not Path(f"/proc/{child}").exists()  # killed with the worker's process group


def test_a_rewards_printing_goes_to_stderr_capped(tmp_path, capfd):
    source = "def reward(prompts, responses):\n    print('x' * 1_000_000)\n    return [1.0]\n"
    reward = _reward(tmp_path, source)
    try:
        assert reward.score(["p"], ["r"]) == [1.0]
    finally:
        reward.close()
    out, err = capfd.readouterr()
    assert "x" not in out  # stdout belongs to the command
    assert "printed more than 64 KiB" in err and err.count("x") < 70 * 1024


def test_a_reward_weight_of_zero_is_refused():
    from core.rewards import parse_reward_specs

    with pytest.raises(RewardError, match="weight 0 makes this reward add nothing"):
        parse_reward_specs(["sentiment@0"])


# ------------------------------------------------------------------- other silences


def test_a_nul_byte_in_a_prompt_is_refused_with_its_line(tmp_path, workspace, capsys):
    path = tmp_path / "p.txt"
    path.write_bytes(b"good prompt\nbad\x00prompt\n")
    assert main(["import-prompts", str(path), "--workspace", str(workspace)]) == 2
    assert f"{path}, line 2: a NUL byte" in _one_error_line(capsys)
    escaped = tmp_path / "p.jsonl"
    escaped.write_text('{"prompt": "a\\u0000b"}\n', encoding="utf-8")
    assert main(["import-prompts", str(escaped), "--workspace", str(workspace)]) == 2
    assert "prompt 1 holds a NUL character" in _one_error_line(capsys)


def test_dpo_refuses_a_micro_batch_above_the_batch(workspace, capsys):
    args = ["dpo", "--workspace", str(workspace), "--micro-batch-size", "4", "--batch-size", "2"]
    assert main(args) == 2
    assert "--micro-batch-size 4 is larger than --batch-size 2" in _one_error_line(capsys)


def test_train_rm_with_a_missing_local_base_says_the_folder_is_missing():
    from core.errors import ModelLoadError
    from core.reward_model.training import load_backbone

    with pytest.raises(ModelLoadError, match="does not exist") as caught:
        load_backbone("/no/such/model-folder", torch.device("cpu"), torch.float32)
    assert "Repo id" not in str(caught.value)


def test_trainer_state_that_is_not_a_dict_is_damaged(tmp_path):
    from core.train.checkpoint_io import read_trainer_state

    torch.save([1, 2], tmp_path / "trainer_state.pt")
    with pytest.raises(TrainingError, match="holds a list, not a trainer state"):
        read_trainer_state(tmp_path)


def test_the_bad_inputs_battery_runs_a_case_and_counts_it(capsys):
    from bench import bad_inputs

    assert len(bad_inputs.CASES) >= 70 and len({c.name for c in bad_inputs.CASES}) == len(
        bad_inputs.CASES
    )
    assert bad_inputs.main(["--only", "generate_temperature_nan"]) == 0
    out = capsys.readouterr().out
    assert "clean     refuse rc=2   generate_temperature_nan" in out and "clean=1/1" in out
    traceback = bad_inputs.judge(bad_inputs.CASES[0], 1, "", "Traceback (most recent...)\nX")
    assert not traceback.clean


def test_utf16_prompts_are_read_and_deep_json_is_one_line(tmp_path, workspace, capsys):
    from core.data.prompts_io import read_prompts

    utf16 = tmp_path / "u.txt"
    utf16.write_bytes("The movie was\nThe hotel\n".encode("utf-16"))
    assert [record.text for record in read_prompts(utf16)] == ["The movie was", "The hotel"]
    deep = tmp_path / "d.jsonl"
    deep.write_text('{"prompt": ' + "[" * 100_000 + "]" * 100_000 + "}\n", encoding="utf-8")
    assert main(["import-prompts", str(deep), "--workspace", str(workspace)]) == 2
    assert "nested too deeply" in _one_error_line(capsys)


def test_a_store_with_a_negative_schema_version_is_not_a_store(workspace, capsys):
    path = _store_file(workspace, ["PRAGMA user_version = -1"])
    assert main(["prompts", "--workspace", str(workspace)]) == 2
    assert f"{path} is not an RLHF Studio store: its schema version is -1" in _one_error_line(
        capsys
    )
