"""bench/gpu_suite.sh's dry run: every step of the GPU suite on the CPU at tiny sizes, so the
one call a lent GPU gets does not fail on code that rotted meanwhile (bench/gpu_suite.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("trl")

from bench import gpu_suite  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:var\\(\\)")  # TRL's PPO: a ratio variance over one value
def test_the_dry_run_runs_every_step_and_writes_every_figure(tmp_path, one_torch_thread):
    out = tmp_path / "gpu.json"
    # The GPU tests' collection is a step of its own (a subprocess); the rest runs here.
    assert gpu_suite.main(["--dry-run", "--out", str(out), "--skip", "gpu_tests"]) == 0
    report = json.loads(out.read_text())
    assert report["dry_run"] and report["device"]["name"]
    assert report["versions"]["ours"]["torch"]
    steps = report["steps"]
    assert list(steps) == ["grpo_vs_trl", "dpo_vs_trl", "ppo_vs_trl", "memory"]
    assert all(step["status"] == 0 for step in steps.values()), steps
    grpo = steps["grpo_vs_trl"]["figures"]
    assert set(grpo) == {"grpo", "rloo"} and all(grpo[a]["runs"] for a in grpo)
    assert {r["side"] for r in steps["dpo_vs_trl"]["figures"]["results"]} == {"ours", "trl"}
    assert steps["ppo_vs_trl"]["figures"]["summary"]
    assert steps["memory"]["figures"][0]["peak_bytes"] > 0


def test_the_real_run_is_sized_for_a_gpu_and_the_dry_run_for_the_cpu(tmp_path):
    real = gpu_suite.parse_args([])
    dry = gpu_suite.parse_args(["--dry-run"])
    flags = gpu_suite.bench_argv("grpo_vs_trl", real, tmp_path)
    assert flags[:4] == ["--model", "random:qwen2.5-0.5b", "--device", "cuda"] and "--bf16" in flags
    assert gpu_suite.bench_argv("ppo_vs_trl", dry, tmp_path)[:4] == [
        "--model", "random:tiny", "--device", "cpu",
    ]  # fmt: skip
    names = [name for name, _command, _call in gpu_suite.steps(real, tmp_path)]
    assert names == ["gpu_tests", "grpo_vs_trl", "dpo_vs_trl", "ppo_vs_trl", "memory"]
    assert all(call is None for _name, _command, call in gpu_suite.steps(real, tmp_path))


def test_without_a_gpu_the_real_run_says_so_in_one_line():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here")
    done = subprocess.run(
        ["bash", str(REPO / "bench" / "gpu_suite.sh")], capture_output=True, text=True, env={
            "PATH": "/usr/bin:/bin", "PYTHON": __import__("sys").executable}
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout.strip().splitlines() == [
        "No CUDA device: run this on a GPU machine, or pass --dry-run."
    ]
