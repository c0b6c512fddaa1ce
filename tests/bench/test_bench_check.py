"""`make bench-check` (bench/check.py, bench/baselines.json), the heap-hold bench
(bench/heap_hold.py) and which interpreter runs TRL's side (bench/common.side_python)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bench import check, common, heap_hold

REPO = Path(__file__).resolve().parents[2]


def _baselines(tmp_path, ratios) -> Path:
    path = tmp_path / "baselines.json"
    entry = {"command": ["{python}", "-m", "bench.x"], "ratios": ratios}
    path.write_text(json.dumps({"benches": {"x": entry}}))
    return path


RECORDED = [{"label": "ours/trl", "samples_per_s": 1.20, "peak_mem": 0.80}]


@pytest.mark.parametrize(
    ("printed", "status"),
    [
        ("ours/trl samples_per_s=1.03 peak_mem=0.91", 0),  # 14% slower, 14% more memory: ok
        ("ours/trl samples_per_s=1.01 peak_mem=0.80", 1),  # 16% slower
        ("ours/trl samples_per_s=1.50 peak_mem=0.93", 1),  # 16% more memory
        ("no ratio line at all", 2),
    ],
)
def test_a_ratio_more_than_15_percent_worse_fails(tmp_path, capsys, printed, status):
    path = _baselines(tmp_path, RECORDED)
    output = f"table\n{printed}\n"
    assert check.main(["--baselines", str(path)], run=lambda entry: output) == status
    out = capsys.readouterr().out
    assert "bench-check:" in out.splitlines()[-1]
    if status == 1:
        assert "WORSE" in out


def test_several_ratio_lines_are_matched_in_order(tmp_path):
    ratios = [dict(RECORDED[0], label="rloo"), dict(RECORDED[0], label="grpo", peak_mem=0.5)]
    output = "ours/trl samples_per_s=1.2 peak_mem=0.8\nours/trl samples_per_s=1.2 peak_mem=0.8\n"
    assert check.ratio_lines("x samples_per_cpu_s=1.5 peak_mem=1.0") == [
        {"label": "x", "samples_per_cpu_s": 1.5, "peak_mem": 1.0}
    ]
    with pytest.raises(ValueError, match="has no samples_per_s"):
        check.verdicts("x", RECORDED, check.ratio_lines("x samples_per_cpu_s=1.5 peak_mem=1"))
    found = check.verdicts("x", ratios, check.ratio_lines(output))
    assert [(v.label, v.figure, v.passed) for v in found] == [
        ("rloo", "samples_per_s", True),
        ("rloo", "peak_mem", True),
        ("grpo", "samples_per_s", True),
        ("grpo", "peak_mem", False),  # 0.8 against 0.5 recorded
    ]


def test_a_bench_that_fails_is_reported_and_the_others_still_run(tmp_path, capsys):
    path = _baselines(tmp_path, RECORDED)

    def broken(entry):
        raise RuntimeError("exit 1: no TRL")

    assert check.main(["--baselines", str(path)], run=broken) == 2
    assert "FAILED x: exit 1: no TRL" in capsys.readouterr().out
    assert check.main(["--baselines", str(path), "--only", "nope"]) == 2


def test_the_recorded_baselines_name_real_commands_and_both_ratios():
    benches = json.loads(check.BASELINES.read_text())["benches"]
    assert {"dpo_vs_trl", "grpo_vs_trl", "ppo_vs_trl", "heap_hold"} <= set(benches)
    for name, entry in benches.items():
        command = entry["command"]
        assert command[0] == "{python}", name
        module = command[2] if command[1] == "-m" else command[1]
        script = REPO / (module.replace(".", "/") + ".py" if command[1] == "-m" else module)
        assert script.is_file(), (name, script)
        assert entry["ratios"] and all(
            r["label"] and r["peak_mem"] > 0 and r.get("samples_per_s", r.get("samples_per_cpu_s"))
            for r in entry["ratios"]
        )
        for key in ("recorded", "machine"):
            assert entry[key], (name, key)
    docs = (REPO / "docs" / "benchmarks.md").read_text()
    assert "bench/baselines.json" in docs and "make bench-check" in docs


def test_trls_side_runs_in_its_venv_once_that_is_complete(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "REPO", tmp_path)
    assert common.side_python("trl") == sys.executable  # not built
    python = tmp_path / ".venv-trl-ppo" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    assert common.side_python("trl", "ppo") == sys.executable  # half built: no .installed
    (tmp_path / ".venv-trl-ppo" / ".installed").write_text("")
    assert common.side_python("trl", "ppo") == str(python)
    assert common.side_python("trl") == sys.executable  # the newest TRL's venv is another
    assert common.side_python("ours", "ppo") == sys.executable


def test_heap_hold_report_gives_app_over_hold_and_the_ratio_line_last():
    results = [
        {"trainer": "dpo", "mode": mode, "samples_per_s": speed, "samples_per_cpu_s": speed,
         "peak_mem_bytes": memory}
        for mode, speed, memory in [("app", 30.0, 600 * 2**20), ("hold", 20.0, 500 * 2**20),
                                    ("app", 34.0, 600 * 2**20), ("hold", 16.0, 500 * 2**20)]
    ]  # fmt: skip
    lines = heap_hold.report(heap_hold.summarise(results))
    assert "| dpo | 32.0 | 18.0 | 1.78 |" in lines[2]
    assert lines[-1] == "app/hold samples_per_cpu_s=1.78 peak_mem=1.20"


@pytest.mark.parametrize("kind", heap_hold.TRAINERS)
def test_heap_hold_builds_each_trainer_and_it_takes_a_step(kind, tiny_model_dir, one_torch_thread):
    from core.config import LoraSpec, ModelSpec
    from core.model.session import ModelSession

    args = heap_hold.parse_args(["--steps", "1", "--batch-size", "4", "--max-new-tokens", "4"])
    spec = ModelSpec(name_or_path=str(tiny_model_dir), device="cpu", lora=LoraSpec(r=4, alpha=8))
    trainer = heap_hold.build_trainer(kind, ModelSession.load(spec), args)
    assert trainer.kind == kind
    assert len(list(trainer)) == 1
