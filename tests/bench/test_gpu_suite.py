"""bench/gpu_suite.sh's dry run: every step of the GPU suite on the CPU at tiny sizes, so the
one call a lent GPU gets does not fail on code that rotted meanwhile (bench/gpu_suite.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("trl")

from bench import gpu_suite  # noqa: E402
from bench.ppo_vs_trl import trl_ppo_missing  # noqa: E402

TRL_PPO_MISSING = trl_ppo_missing()

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_dry_run_runs_every_step_and_writes_every_figure(tmp_path, one_torch_thread):
    out = tmp_path / "gpu.json"
    # The GPU tests' collection is a step of its own (a subprocess), and TRL's PPO side needs
    # TRL 0.29 (the test below); the rest runs here.
    argv = ["--dry-run", "--out", str(out), "--skip", "gpu_tests", "--skip", "ppo_vs_trl"]
    assert gpu_suite.main(argv) == 0
    report = json.loads(out.read_text())
    assert report["dry_run"] and report["device"]["name"]
    assert report["versions"]["ours"]["torch"]
    steps = report["steps"]
    assert list(steps) == ["grpo_vs_trl", "dpo_vs_trl", "memory"]
    assert all(step["status"] == 0 for step in steps.values()), steps
    grpo = steps["grpo_vs_trl"]["figures"]
    assert set(grpo) == {"grpo", "rloo"} and all(grpo[a]["runs"] for a in grpo)
    assert {r["side"] for r in steps["dpo_vs_trl"]["figures"]["results"]} == {"ours", "trl"}
    assert steps["memory"]["figures"][0]["peak_bytes"] > 0


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:var\\(\\)")  # TRL's PPO: a ratio variance over one value
@pytest.mark.skipif(TRL_PPO_MISSING is not None, reason=TRL_PPO_MISSING or "")
def test_the_dry_run_compares_ppo_with_trl_029(tmp_path, one_torch_thread):
    out = tmp_path / "gpu.json"
    others = ["gpu_tests", "grpo_vs_trl", "dpo_vs_trl", "memory"]
    argv = ["--dry-run", "--out", str(out)] + [f"--skip={name}" for name in others]
    assert gpu_suite.main(argv) == 0
    steps = json.loads(out.read_text())["steps"]
    assert list(steps) == ["ppo_vs_trl"] and steps["ppo_vs_trl"]["status"] == 0, steps
    figures = steps["ppo_vs_trl"]["figures"]
    assert figures["summary"] and {r["side"] for r in figures["runs"]} == {"ours", "trl"}


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
