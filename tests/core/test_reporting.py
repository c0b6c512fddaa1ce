"""--report-to tensorboard: event files under the run's folder, with the metrics' own keys.

The event files are written without TensorBoard (core.train.reporting); these tests read
them back two ways: with a small independent decoder of the TFRecord + protobuf layout
(always), and with TensorBoard's own reader when the `tensorboard` extra is installed.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import pytest

from core.cli import main
from core.train.reporting import TensorBoardReporter, build_reporters, crc32c

# --- an independent reader -------------------------------------------------------------------


def _masked(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def _fields(data: bytes):
    """(field number, wire type, value) of a protobuf message."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 1:
            value, at = data[at : at + 8], at + 8
        elif wire == 5:
            value, at = data[at : at + 4], at + 4
        else:
            length, at = _varint(data, at)
            value, at = data[at : at + length], at + length
        yield number, wire, value


def read_events(path: Path) -> list[dict]:
    """Every event of a file as {"step", "scalars": {tag: value}, "start": bool}; checks
    each record's two CRCs."""
    data, at, events = path.read_bytes(), 0, []
    while at < len(data):
        header = data[at : at + 8]
        (length,) = struct.unpack("<Q", header)
        assert struct.unpack("<I", data[at + 8 : at + 12])[0] == _masked(header)
        body = data[at + 12 : at + 12 + length]
        assert struct.unpack("<I", data[at + 12 + length : at + 16 + length])[0] == _masked(body)
        at += 16 + length
        event = {"step": 0, "scalars": {}, "start": False}
        for number, _, value in _fields(body):
            if number == 2:
                event["step"] = value
            elif number == 5:
                for _, _, item in _fields(value):
                    parts = {n: v for n, _, v in _fields(item)}
                    event["scalars"][parts[1].decode()] = struct.unpack("<f", parts[2])[0]
            elif number == 7:
                event["start"] = dict((n, v) for n, _, v in _fields(value)).get(1) == 1
        events.append(event)
    return events


def scalars_by_step(folder: Path) -> dict[int, dict[str, float]]:
    """{step: {tag: value}} over the folder's event files in name order; a session start
    drops the steps from its step on, as TensorBoard does."""
    steps: dict[int, dict[str, float]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in read_events(path):
            if event["start"]:
                steps = {step: values for step, values in steps.items() if step < event["step"]}
            if event["scalars"]:
                steps.setdefault(event["step"], {}).update(event["scalars"])
    return steps


# --- the writer ------------------------------------------------------------------------------


def test_crc32c_is_the_castagnoli_checksum():
    assert crc32c(b"123456789") == 0xE3069283  # the standard check value
    assert crc32c(b"") == 0


def test_scalars_round_trip_and_a_restart_replaces_later_steps(tmp_path):
    writer = TensorBoardReporter(tmp_path)
    for step in (1, 2, 3):
        writer.log(step, {"reward/mean": step / 4, "step": step, "flag": True, "big": 1e300})
    writer.close()
    resumed = TensorBoardReporter(tmp_path, purge_from_step=3)
    resumed.log(3, {"reward/mean": 9.0})
    resumed.close()
    steps = scalars_by_step(tmp_path)
    assert sorted(steps) == [1, 2, 3]
    assert steps[2] == {"reward/mean": 0.5, "big": math.inf}  # no "step", no booleans
    assert steps[3] == {"reward/mean": 9.0}


def test_tensorboard_reads_the_files(tmp_path):
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    writer = TensorBoardReporter(tmp_path)
    for step in (1, 2, 3):
        writer.log(step, {"reward/mean": step / 4, "objective/kl": math.nan})
    writer.close()
    resumed = TensorBoardReporter(tmp_path, purge_from_step=3)
    resumed.log(3, {"reward/mean": 9.0})
    resumed.close()
    events = accumulator.EventAccumulator(str(tmp_path))
    events.Reload()
    assert set(events.Tags()["scalars"]) == {"reward/mean", "objective/kl"}
    values = [(e.step, e.value) for e in events.Scalars("reward/mean")]
    assert values == [(1, 0.25), (2, 0.5), (3, 9.0)]
    assert math.isnan(events.Scalars("objective/kl")[0].value)


def test_unknown_tracker_is_a_one_line_error(tmp_path):
    from core.errors import StudioError

    assert build_reporters(["none"], tmp_path) == []
    with pytest.raises(StudioError, match="--report-to 'wandb' is not known"):
        build_reporters(["wandb"], tmp_path)


# --- the trainers ----------------------------------------------------------------------------


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_ppo_reports_the_metrics_jsonl_keys_and_a_resume_replaces_steps(
    tiny_model_dir, tmp_path, workspace, capsys
):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("This movie was\nThe blender is\n", encoding="utf-8")
    out = tmp_path / "metrics.jsonl"
    args = ["ppo", "--model", str(tiny_model_dir), "--prompts", str(prompts), "--batch-size",
            "2", "--mini-batch-size", "2", "--ppo-epochs", "1", "--max-new-tokens", "4",
            "--workspace", str(workspace), "--report-to", "tensorboard", "--metrics-out",
            str(out)]  # fmt: skip
    assert main([*args, "--steps", "2", "--checkpoint-every", "1"]) == 0
    folder = workspace / "checkpoints" / "run-1" / "tensorboard"
    assert f"tensorboard --logdir {folder}" in capsys.readouterr().out
    streamed = {row["step"]: row for row in _jsonl(out)}
    logged = scalars_by_step(folder)
    assert sorted(logged) == [1, 2]
    for step, values in logged.items():
        row = {k: v for k, v in streamed[step].items() if k != "step" and v is not None}
        assert set(values) == set(row)  # the same keys as --metrics-out
        assert values == pytest.approx(row, rel=1e-6)  # float32 in the event file
    # Resuming from step 1 replaces step 2: TensorBoard shows the resumed run's step 2.
    resume = [*args, "--resume", str(workspace / "checkpoints/run-1/step-1"), "--steps", "3"]
    assert main(resume) == 0
    streamed = {row["step"]: row for row in _jsonl(out)}  # appended: the last step 2 wins
    logged = scalars_by_step(folder)
    assert sorted(logged) == [1, 2, 3]
    assert logged[2]["reward/mean"] == pytest.approx(streamed[2]["reward/mean"], rel=1e-6)
    assert len(list(folder.glob("events.out.tfevents.*"))) == 2


def test_train_rm_reports_each_epoch(tiny_model_dir, tmp_path, workspace, capsys):
    pairs = tmp_path / "pairs.jsonl"
    rows = [{"prompt": f"Review {i}: ", "chosen": "great fun", "rejected": "boring plot"}
            for i in range(8)]  # fmt: skip
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert main(["import-pairs", str(pairs), "--workspace", str(workspace)]) == 0
    args = ["train-rm", "--base", str(tiny_model_dir), "--epochs", "2", "--patience", "5",
            "--device", "cpu", "--workspace", str(workspace), "--report-to", "tensorboard"]  # fmt: skip
    assert main(args) == 0
    from core.store import Store

    with Store.open(workspace) as store:
        [run] = store.runs("reward_model")
        stored = {row["step"]: row for row in store.metrics(run.id)}
    logged = scalars_by_step(workspace / "checkpoints" / f"run-{run.id}" / "tensorboard")
    assert sorted(logged) == sorted(stored) == [1, 2]
    assert set(logged[1]) == set(stored[1]) - {"step"}
    assert "tensorboard --logdir" in capsys.readouterr().out


def test_every_trainer_takes_report_to():
    from core.cli import build_parser

    parser = build_parser()
    for command in ("ppo", "grpo", "rloo", "dpo", "kto", "sft", "train-rm"):
        args = parser.parse_args([command, "--report-to", "tensorboard"])
        assert args.report_to == ["tensorboard"], command


def test_dpo_reports_its_steps_and_keeps_the_adapter_as_the_last_line(
    tiny_model_dir, workspace, capsys
):
    from tests.core.test_cli_offline import common, fill_store

    fill_store(workspace)
    args = ["dpo", *common(tiny_model_dir, workspace), "--steps", "2", "--report-to", "tensorboard"]
    assert main(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].endswith("adapter") and any("tensorboard --logdir" in line for line in out)
    from core.store import Store

    with Store.open(workspace) as store:
        [run] = store.runs("dpo")
        stored = {row["step"]: row for row in store.metrics(run.id)}
    logged = scalars_by_step(workspace / "checkpoints" / f"run-{run.id}" / "tensorboard")
    assert sorted(logged) == sorted(stored) == [1, 2]
    assert set(logged[2]) == set(stored[2]) - {"step"}
