"""A run's record is never orphaned, duplicated or taken over: resume across workspaces,
checks before the record exists, one process per run, signals, failed checkpoint writes."""

import errno
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from core.cli import main
from core.config import ModelSpec, PPOConfig
from core.errors import TrainingError
from core.model.session import ModelSession
from core.paths import run_checkpoint_dir
from core.ppo.trainer import PPOTrainer
from core.store import Store
from core.train import checkpoints as ckpt
from core.train.launch import Algorithm, own_run_of, resume_run, start_run

PPO = Algorithm.of(PPOTrainer)

PROMPTS = ["This movie was", "The blender is", "The hotel", "My new phone"]
SMALL = PPOConfig(steps=2, batch_size=4, mini_batch_size=2, ppo_epochs=1, max_new_tokens=6)


@pytest.fixture
def prompts_file(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    return path


def _ppo(model_dir, prompts_file, workspace, *extra):
    return [
        "ppo", "--model", str(model_dir), "--prompts", str(prompts_file),
        "--batch-size", "4", "--mini-batch-size", "2", "--ppo-epochs", "1",
        "--max-new-tokens", "6", "--workspace", str(workspace), *extra,
    ]  # fmt: skip


def _snapshot(store: Store, run_id: int) -> tuple:
    """Everything recorded for a run."""
    return (
        store.run(run_id).config,
        store.metrics(run_id),
        store.samples(run_id, split=None),
        [(c.step, c.path) for c in store.checkpoints(run_id)],
    )


def _steps_on_disk(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_resuming_another_workspaces_checkpoint_starts_a_new_run_and_touches_nothing(
    tiny_model_dir, prompts_file, tmp_path, capsys
):
    a, b = tmp_path / "a", tmp_path / "b"
    assert (
        main(_ppo(tiny_model_dir, prompts_file, a, "--steps", "2", "--checkpoint-every", "1")) == 0
    )
    assert (
        main(_ppo(tiny_model_dir, prompts_file, b, "--steps", "3", "--checkpoint-every", "1")) == 0
    )
    with Store.open(a) as store:
        a_before = _snapshot(store, 1)
    with Store.open(b) as store:
        b_before = _snapshot(store, 1)
    a_folders = _steps_on_disk(run_checkpoint_dir(a, 1))
    foreign = run_checkpoint_dir(a, 1) / "step-1"

    # Without --reward it is refused, and the message says how to go on.
    assert main(_ppo(tiny_model_dir, prompts_file, b, "--resume", str(foreign))) == 2
    assert "--reward" in capsys.readouterr().err
    # With it: a new run in B, carrying on A's weights from step 1.
    args = _ppo(tiny_model_dir, prompts_file, b, "--resume", str(foreign), "--steps", "3")
    assert main([*args, "--reward", "sentiment"]) == 0

    with Store.open(b) as store:
        assert _snapshot(store, 1) == b_before  # B's own run 1 is untouched
        assert [run.id for run in store.runs("ppo")] == [1, 2]
        new = store.run(2)
        assert new.status == "finished"
        assert new.config["resumed_from"]["checkpoint"] == str(foreign)
        assert new.config["resumed_from"]["run_id"] == 1
        assert [m["step"] for m in store.metrics(2)] == [2, 3]
        assert [c.step for c in store.checkpoints(2)] == [2, 3]  # A's checkpoint_every 1
        meta = ckpt.read_meta(run_checkpoint_dir(b, 2) / "step-3")
        assert meta["run_id"] == 2 and meta["workspace_id"] == store.workspace_id
    with Store.open(a) as store:
        assert _snapshot(store, 1) == a_before
    assert _steps_on_disk(run_checkpoint_dir(a, 1)) == a_folders  # nothing written into A


def test_checkpoints_without_a_workspace_id_belong_where_they_lie(tiny_model_dir, tmp_path):
    """Checkpoints written before workspace ids: their own run's folder decides."""
    session = ModelSession.load(ModelSpec(name_or_path=str(tiny_model_dir), device="cpu"))
    from core.rewards.rules import LengthReward

    with Store.open(tmp_path / "ws") as store:
        run = start_run(store, PPO, session, LengthReward(4), PROMPTS, SMALL)
        list(run)
        folder = run.last_checkpoint
        meta = ckpt.read_meta(folder)
        del meta["workspace_id"]
        (folder / ckpt.META_FILE).write_text(json.dumps(meta), encoding="utf-8")
        assert own_run_of(store, folder) == run.run_id
        copied = tmp_path / "elsewhere" / "step-2"
        shutil.copytree(folder, copied)
        assert own_run_of(store, copied) is None


def test_one_process_per_run(tiny_model_dir, prompts_file, workspace, capsys):
    assert main(_ppo(tiny_model_dir, prompts_file, workspace, "--steps", "2")) == 0
    capsys.readouterr()
    checkpoint = run_checkpoint_dir(workspace, 1) / "step-2"
    with Store.open(workspace) as holder:
        holder.claim_run(1)  # as a `ppo --resume` still running would
        args = _ppo(tiny_model_dir, prompts_file, workspace, "--resume", str(checkpoint))
        assert main([*args, "--steps", "3"]) == 2
        err = capsys.readouterr().err
        assert "Run 1 is being trained by process" in err and len(err.strip().splitlines()) == 1
        assert [m["step"] for m in holder.metrics(1)] == [1, 2]  # nothing added or removed
        assert holder.run(1).status == "finished"
    # Once the other process is gone, the resume goes through.
    assert main([*args, "--steps", "3"]) == 0
    with Store.open(workspace) as store:
        assert [m["step"] for m in store.metrics(1)] == [1, 2, 3]


@pytest.mark.parametrize(
    "flags, said",
    [
        (["--steps", "0"], "--steps: 0 is out of range"),
        (["--temperature", "0"], "--temperature: 0 is out of range"),
        (["--learning-rate", "0"], "--learning-rate: 0 is out of range"),
        (
            ["--batch-size", "4", "--mini-batch-size", "3"],
            "must be a multiple of --mini-batch-size",
        ),
        (["--config", "{config}"], "steps must be a whole number"),
        (["--metrics-out", "{missing}/m.jsonl"], "does not exist"),
        (["--metrics-out", "{folder}"], "is a folder"),
    ],
)
def test_bad_settings_are_refused_before_any_run_record(
    tiny_model_dir, prompts_file, workspace, tmp_path, capsys, flags, said
):
    config = tmp_path / "ppo.json"
    config.write_text(json.dumps({"steps": "ten"}), encoding="utf-8")
    places = {"config": config, "missing": tmp_path / "nope", "folder": tmp_path}
    flags = [flag.format(**places) for flag in flags]
    try:
        code = main(_ppo(tiny_model_dir, prompts_file, workspace, *flags))
    except SystemExit as exit:  # refused by argparse itself (out of range): usage + error
        code = exit.code
    assert code == 2
    err = capsys.readouterr().err
    assert said in err and err.strip().splitlines()[-1].startswith(("error:", "rlhf-studio-cli"))
    assert "Loading" not in err  # refused before the model loaded
    with Store.open(workspace) as store:
        assert store.runs() == []


def test_a_failed_checkpoint_write_fails_the_run_in_one_line(
    tiny_model_dir, prompts_file, workspace, monkeypatch, capsys
):
    from core.train import checkpoint_io

    real_save = checkpoint_io.torch.save

    def save_to_full_disk(obj, _path):  # the real error torch gives on a full disk
        real_save(obj, "/dev/full")

    monkeypatch.setattr(checkpoint_io.torch, "save", save_to_full_disk)
    assert main(_ppo(tiny_model_dir, prompts_file, workspace, "--steps", "2")) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: Cannot write the checkpoint") and "Free some disk space" in err
    folder = run_checkpoint_dir(workspace, 1)
    assert list(folder.iterdir()) == []  # no half-written .step-N.tmp-* folder is left
    with Store.open(workspace) as store:
        run = store.run(1)
        assert run.status == "failed" and "Cannot write the checkpoint" in run.error
        assert [m["step"] for m in store.metrics(1)] == [1, 2]


def test_nan_at_step_one_names_the_checkpoint_schedule(tiny_model_dir, workspace):
    session = ModelSession.load(ModelSpec(name_or_path=str(tiny_model_dir), device="cpu"))

    class NanReward:
        name = "nan"

        def score(self, prompts, responses):
            return [float("nan")] * len(responses)

    config = PPOConfig(**{**SMALL.__dict__, "checkpoint_every": 5})
    with Store.open(workspace) as store:
        run = start_run(store, PPO, session, NanReward(), PROMPTS, config)
        with pytest.raises(TrainingError) as caught:
            list(run)
        assert "the first was due at step 5" in str(caught.value)
        assert "set checkpoint_every" not in str(caught.value)
        assert store.run(run.run_id).status == "failed"


def test_sigterm_stops_after_the_step_with_a_checkpoint(tiny_model_dir, prompts_file, workspace):
    args = _ppo(tiny_model_dir, prompts_file, workspace, "--steps", "500")
    child = subprocess.Popen(
        [sys.executable, "-m", "core", *args], stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with Store.open(workspace) as store:
                if store.runs() and store.metrics(1):
                    break
            time.sleep(0.2)
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 0, err
    assert "SIGTERM: stopping after the current step" in err
    with Store.open(workspace) as store:
        run = store.run(1)
        steps = [m["step"] for m in store.metrics(1)]
        assert run.status == "stopped" and 1 <= len(steps) < 500
        assert [c.step for c in store.checkpoints(1)] == [steps[-1]]


def test_a_resume_of_ones_own_run_refuses_a_busy_run_but_not_after_release(
    tiny_model_dir, workspace
):
    session = ModelSession.load(ModelSpec(name_or_path=str(tiny_model_dir), device="cpu"))
    from core.rewards.rules import LengthReward

    with Store.open(workspace) as store:
        run = start_run(store, PPO, session, LengthReward(4), PROMPTS, SMALL)
        list(run)
        with Store.open(workspace) as other:
            other.claim_run(run.run_id)
            with pytest.raises(TrainingError, match="being trained by"):
                resume_run(store, PPO, run.last_checkpoint, session, LengthReward(4), PROMPTS, 3)
        resumed = resume_run(store, PPO, run.last_checkpoint, session, LengthReward(4), PROMPTS, 3)
        assert resumed.run_id == run.run_id and [r.step for r in resumed] == [3]


@pytest.mark.parametrize(
    ("failure", "hint"),
    [
        ("full", "Free some disk space"),
        ("read-only", "Make the checkpoint folder writable"),
        ("removed", "went missing"),
    ],
)
def test_a_failed_checkpoint_write_names_what_to_do_about_its_cause(tmp_path, failure, hint):
    from core.train.checkpoint_io import write_checkpoint

    def write_parts(folder):
        if failure == "full":  # what torch.save gives on a full disk: no errno
            torch.save({"x": 1}, "/dev/full")
        elif failure == "read-only":
            raise PermissionError(errno.EACCES, "Permission denied", str(folder / "adapter"))
        else:  # the folder is deleted under the run; torch then says only "Parent directory"
            shutil.rmtree(folder)

    with pytest.raises(TrainingError) as caught:
        write_checkpoint(tmp_path, 3, write_parts=write_parts, trainer_state={}, meta={})
    message = str(caught.value)
    assert message.startswith(f"Cannot write the checkpoint {tmp_path / 'step-3'}")
    assert hint in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []
