"""Smoke tests of bench/ppo_vs_trl.py: both trainers run one step on a tiny GPT-2.

Ours runs in this process here (fast); TRL's too when this Python's TRL has a PPO trainer,
else in .venv-trl-ppo (TRL 0.29.1, `make bench-venvs`): the development venv holds the
newest TRL, which has none. Without either, the two-sided test skips and says so. The real
benchmark runs each side in its own process.
"""

import json
import math
import re

import pytest

from bench import ppo_vs_trl
from bench.common import BenchSettings, SideResult

TRL_PPO_MISSING = ppo_vs_trl.trl_ppo_missing()

RATIO_LINE = re.compile(r"^ours/trl samples_per_s=\d+\.\d\d peak_mem=\d+\.\d\d$")


# One step, one epoch, one minibatch: TRL's ratio variance over a single value warns.
@pytest.mark.filterwarnings("ignore:var\\(\\)")
@pytest.mark.skipif(TRL_PPO_MISSING is not None, reason=TRL_PPO_MISSING or "")
def test_one_step_each_side_prints_the_ratio_line_last(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = ["--model", str(tiny_model_dir), "--device", "cpu", "--steps", "1"]
    argv += ["--batch-size", "2", "--mini-batch-size", "2", "--ppo-epochs", "1"]
    argv += ["--max-new-tokens", "4", "--lora-r", "4", "--lora-alpha", "8", "--repeats", "1"]
    argv += ["--cache-dir", str(tmp_path / "cache"), "--json-out", str(out)]

    assert ppo_vs_trl.main(argv, runner=ppo_vs_trl.run_here_or_in_venv) == 0

    lines = capsys.readouterr().out.strip().splitlines()
    assert RATIO_LINE.match(lines[-1]), lines[-1]
    data = json.loads(out.read_text())
    assert [run["side"] for run in data["runs"]] == ["ours", "trl"]
    for run in data["runs"]:
        assert run["samples"] == 2 and run["train_seconds"] > 0
        assert len(run["rewards"]) == 1 and math.isfinite(run["rewards"][0])
        assert len(run["kls"]) == 1 and math.isfinite(run["kls"][0])
        assert run["peak_mem_bytes"] > 0
    # Both sides scored with the same reward-model folder, built once and cached.
    rm_folders = list((tmp_path / "cache").glob("sentiment-rm-*"))
    assert len(rm_folders) == 1 and (rm_folders[0] / "bench_rm.json").is_file()


def test_child_command_line_carries_every_setting(tmp_path):
    settings = BenchSettings(
        model_dir=str(tmp_path / "m"),
        rm_dir=str(tmp_path / "rm"),
        device="cpu",
        steps=3,
        batch_size=12,
        mini_batch_size=4,
        ppo_epochs=2,
        max_new_tokens=9,
        learning_rate=1e-4,
        kl_coef=0.1,
        lora_r=4,
        lora_alpha=8,
        bf16=True,
        samples_per_step=2,
        seed=5,
        threads=1,
        prompts=tuple(ppo_vs_trl.load_prompts()),
    )
    argv = ppo_vs_trl.child_argv("trl", settings)
    args = ppo_vs_trl.parse_args(argv[2:])
    assert args.side == "trl"
    assert ppo_vs_trl.settings_from_args(args, args.model, args.rm_dir) == settings


def _result(side: str, seconds: float, peak: int) -> SideResult:
    return SideResult(
        side=side,
        device="cpu",
        device_name="test cpu",
        train_seconds=seconds,
        cpu_seconds=seconds,
        step_end_seconds=[seconds / 2, seconds],
        peak_mem_bytes=peak,
        baseline_rss_bytes=peak // 2,
        rewards=[0.1, 0.2],
        kls=[0.0, 0.5],
        samples=16,
    )


def test_report_gives_medians_ratios_and_target_verdict(tmp_path):
    settings = BenchSettings(model_dir="m", rm_dir="rm", device="cpu", steps=2, batch_size=8)
    # Two repeats; the medians are ours 16/4 = 4 samples/s and trl 16/8 = 2 samples/s.
    results = [
        _result("ours", 4.0, 100 * 2**20),
        _result("trl", 8.0, 400 * 2**20),
        _result("trl", 8.0, 400 * 2**20),
        _result("ours", 4.0, 100 * 2**20),
    ]
    lines = ppo_vs_trl.report(settings, results)
    assert lines[-1] == "ours/trl samples_per_s=2.00 peak_mem=0.25"
    assert lines[-2].endswith("met")
    slow = ppo_vs_trl.report(settings, [_result("ours", 8.0, 100), _result("trl", 4.0, 100)])
    assert slow[-1] == "ours/trl samples_per_s=0.50 peak_mem=1.00"
    assert slow[-2].endswith("MISSED")
