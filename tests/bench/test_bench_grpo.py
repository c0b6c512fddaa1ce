"""bench/grpo_vs_trl.py without TRL: settings survive the trip to a child process, the
report's medians and last line, our side on a tiny model, and the comparison's rows."""

import re

import pytest

from bench import grpo_vs_trl, onpolicy_compare
from bench.common import SideResult
from bench.grpo_sides import GroupBenchSettings, run_side, sentiment_reward

RATIO_LINE = re.compile(r"^ours/trl samples_per_s=\d+\.\d\d peak_mem=\d+\.\d\d$")


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
        kls=[0.0, 0.01],
        samples=16,
    )


def test_a_child_gets_exactly_the_parents_settings():
    args = grpo_vs_trl.parse_args(
        ["--batch-size", "12", "--group-size", "3", "--beta", "0", "--bf16"]
    )
    args.mini_batch_size = 6
    settings = grpo_vs_trl.settings_from_args(args, "model-folder", "rloo")
    argv = grpo_vs_trl.child_argv("trl", settings)
    child = grpo_vs_trl.parse_args(argv[2:])
    assert child.side == "trl" and child.algorithm == "rloo"
    assert grpo_vs_trl.settings_from_args(child, child.model, child.algorithm) == settings
    corrected = grpo_vs_trl.settings_from_args(
        grpo_vs_trl.parse_args(["--kl-bias-correction"]), "m", "grpo"
    )
    child = grpo_vs_trl.parse_args(grpo_vs_trl.child_argv("ours", corrected)[2:])
    assert grpo_vs_trl.settings_from_args(child, "m", "grpo").kl_bias_correction


def test_a_batch_that_does_not_split_into_groups_is_refused():
    args = grpo_vs_trl.parse_args(["--batch-size", "10", "--group-size", "4"])
    with pytest.raises(SystemExit, match="multiple of --group-size 4"):
        grpo_vs_trl.settings_from_args(args, "m", "grpo")


def test_report_gives_medians_ratios_and_the_ratio_line_last():
    settings = GroupBenchSettings(model_dir="m", algorithm="grpo", steps=2, batch_size=16)
    results = [
        _result("ours", 4.0, 100 * 2**20),
        _result("trl", 8.0, 400 * 2**20),
        _result("trl", 8.0, 400 * 2**20),
        _result("ours", 4.0, 100 * 2**20),
    ]
    lines = grpo_vs_trl.report(settings, results)
    assert lines[-1] == "ours/trl samples_per_s=2.00 peak_mem=0.25" and RATIO_LINE.match(lines[-1])
    assert lines[-2].endswith("met") and lines[0].startswith("== GRPO")
    slow = grpo_vs_trl.report(settings, [_result("ours", 8.0, 100), _result("trl", 4.0, 100)])
    assert slow[-1] == "ours/trl samples_per_s=0.50 peak_mem=1.00" and slow[-2].endswith("MISSED")


def test_the_shared_reward_is_a_plain_function():
    scores = sentiment_reward(["a", "b"], ["wonderful, I loved it", "awful and boring"])
    assert scores[0] > 0 > scores[1]


@pytest.mark.parametrize("algorithm", ["grpo", "rloo"])
def test_our_side_runs_on_a_tiny_model(algorithm, tiny_model_dir, one_torch_thread):
    settings = GroupBenchSettings(
        model_dir=str(tiny_model_dir),
        algorithm=algorithm,
        steps=2,
        batch_size=4,
        group_size=2,
        mini_batch_size=2,
        epochs=1,
        max_new_tokens=4,
        prompts=("I loved", "The movie was", "Terrible"),
    )
    result = run_side("ours", settings)
    assert result.samples == 8 and len(result.rewards) == len(result.kls) == 2
    # the rollout's KL (before any update: 0 on step 1, a fresh adapter), and the updates'
    assert result.kls[0] == 0.0 and len(result.extra["kls_update"]) == 2
    assert result.peak_mem_bytes > 0 and result.samples_per_s > 0


def test_the_comparison_prints_one_row_per_seed_and_a_mean(capsys, monkeypatch):
    runs = iter([{"first": 0.0, "last": 0.5, "gain": 0.5, "kl": 1.0, "wall_s": 2.0}] * 2)
    monkeypatch.setattr(onpolicy_compare, "run_one", lambda *args: next(runs))
    assert onpolicy_compare.main(["--algorithms", "grpo", "--seeds", "0,1"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("grpo")]
    assert len(rows) == 3 and rows[-1].split()[1] == "mean" and "+0.500" in rows[-1]


def _gap_result(side: str, rewards: list[float], kls: list[float]) -> SideResult:
    return SideResult(
        side=side,
        device="cpu",
        device_name="test cpu",
        train_seconds=1.0,
        cpu_seconds=1.0,
        step_end_seconds=[1.0],
        peak_mem_bytes=1,
        baseline_rss_bytes=1,
        rewards=rewards,
        kls=kls,
        samples=16,
        extra={"kls_update": [2 * k for k in kls]},
    )


def test_the_kl_gap_report_compares_tail_means_over_seeds():
    from bench import grpo_kl_gap

    assert grpo_kl_gap.tail_mean([1.0, 2.0, 3.0, 4.0, 5.0]) == 4.0
    assert grpo_kl_gap.tail_mean([1.0]) == 1.0
    settings = GroupBenchSettings(model_dir="m", algorithm="grpo")
    runs = {
        ("ours", 0): _gap_result("ours", [0.0, 0.3, 0.6, 0.9], [0.0, 0.1, 0.2, 0.3]),
        ("trl", 0): _gap_result("trl", [0.0, 0.3, 0.6, 0.9], [0.0, 0.1, 0.2, 0.3]),
        ("ours", 1): _gap_result("ours", [0.0, 0.3, 0.6, 0.9], [0.0, 0.3, 0.4, 0.5]),
        ("trl", 1): _gap_result("trl", [0.0, 0.0, 0.3, 0.6], [0.0, 0.1, 0.2, 0.3]),
    }
    lines = grpo_kl_gap.report(settings, runs)
    # tails: ours KL 0.2 and 0.4 -> 0.3, TRL 0.2 twice; rewards 0.6, 0.6 vs 0.6, 0.3
    assert lines[-1].startswith("ours - trl reward (last 3): +0.150; ")
    assert "rollout 1.50, update 1.50 (target <= 1.1)" in lines[-1]
    assert sum(line.startswith(("ours  ", "trl   ")) for line in lines) == 6  # 2 seeds + mean
