"""`rlhf-studio-cli grpo` and `rloo` end to end on a tiny model: metrics stream, rewards,
checkpoints, resume, evaluation, and one-line errors."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.cli import build_parser, main
from core.cli.training import config_from_args
from core.config.critic_free import GRPOConfig, RLOOConfig
from core.config.settings import settings_of
from core.store import Store

SHARED_KEYS = {
    "step",
    "reward/mean",
    "reward/std",
    "objective/kl",
    "policy/clipfrac",
    "policy/entropy",
    "loss/policy",
    "response/length",
    "perf/samples_per_s",
    "perf/step_time_s",
    "perf/peak_mem_bytes",
    "group/zero_std_frac",
    "group/reward_std",
}


@pytest.fixture
def prompts_file(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text(
        "This movie was\nThe blender is\nThe hotel\nMy new phone\nThe food\n", encoding="utf-8"
    )
    return path


def _args(kind, model_dir, prompts_file, workspace, *extra):
    return [
        kind,
        "--model",
        str(model_dir),
        "--prompts",
        str(prompts_file),
        "--reward",
        "sentiment",
        "--reward",
        "length=4@0.5",
        "--batch-size",
        "4",
        "--group-size",
        "2",
        "--mini-batch-size",
        "2",
        "--max-new-tokens",
        "6",
        "--workspace",
        str(workspace),
        *extra,
    ]


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("kind", ["grpo", "rloo"])
def test_train_eval_checkpoint_and_resume_from_the_cli(
    kind, tiny_model_dir, prompts_file, workspace, capsys
):
    first = workspace / "first.jsonl"
    args = _args(kind, tiny_model_dir, prompts_file, workspace, "--steps", "4")
    args += ["--checkpoint-every", "2", "--eval-prompts", "1", "--eval-every", "2"]
    assert main([*args, "--metrics-out", str(first)]) == 0
    rows = _jsonl(first)
    assert [row["step"] for row in rows] == [1, 2, 3, 4]
    assert set(rows[0]) >= SHARED_KEYS and "loss/value" not in rows[0]
    assert {"reward/sentiment", "reward/length"} <= set(rows[0])  # the weighted sum's parts
    assert "eval/reward/mean" in rows[1] and "eval/reward/mean" not in rows[0]
    folder = workspace / "checkpoints" / "run-1"
    assert sorted(p.name for p in folder.iterdir()) == ["step-2", "step-4"]
    assert (folder / "step-4" / f"{kind}_config.json").is_file()
    with Store.open(workspace) as store:
        run = store.run(1)
        assert run.kind == kind and run.status == "finished"
        assert run.config[kind]["group_size"] == 2
        assert run.config["reward_specs"] == ["sentiment", "length=4@0.5"]

    # Resume from step 2 (no --reward: the run's own); the continued steps equal the first.
    second = workspace / "second.jsonl"
    resume = [a for a in args if a not in ("--reward", "sentiment", "length=4@0.5")]
    assert main([*resume, "--resume", str(folder / "step-2"), "--metrics-out", str(second)]) == 0
    assert "resuming with the run's reward" in capsys.readouterr().out
    continued = _jsonl(second)
    assert [row["step"] for row in continued] == [3, 4]
    for a, b in zip(rows[2:], continued, strict=True):
        assert b["reward/mean"] == pytest.approx(a["reward/mean"], abs=1e-5)
        assert b["objective/kl"] == pytest.approx(a["objective/kl"], abs=1e-5)
    with Store.open(workspace) as store:
        assert len(store.runs()) == 1 and [m["step"] for m in store.metrics(1)] == [1, 2, 3, 4]


def test_resuming_a_grpo_checkpoint_with_ppo_is_refused(
    tiny_model_dir, prompts_file, workspace, capsys
):
    args = _args("grpo", tiny_model_dir, prompts_file, workspace, "--steps", "1")
    assert main(args) == 0
    step = workspace / "checkpoints" / "run-1" / "step-1"
    capsys.readouterr()
    ppo = ["ppo", "--model", str(tiny_model_dir), "--prompts", str(prompts_file)]
    assert main([*ppo, "--workspace", str(workspace), "--resume", str(step)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is a grpo checkpoint; resume it with `grpo --resume`" in err


def test_a_batch_that_does_not_split_into_groups_is_one_line(
    tiny_model_dir, prompts_file, workspace, capsys
):
    args = _args("rloo", tiny_model_dir, prompts_file, workspace, "--steps", "1")
    args += ["--group-size", "3"]  # --batch-size 4 given too: nothing may follow
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "--batch-size (4) must be a multiple of --group-size (3)" in err
    with Store.open(workspace) as store:
        assert store.runs() == []  # refused before the run record


def test_batch_size_left_alone_follows_the_group_size(capsys):
    args = build_parser().parse_args(["grpo", "--group-size", "5"])
    config = config_from_args(args, GRPOConfig)
    assert config.batch_size == 35 and config.mini_batch_size % 1 == 0
    assert 35 % config.mini_batch_size == 0
    assert "--batch-size follows --group-size" in capsys.readouterr().err


@pytest.mark.parametrize("config_class", [GRPOConfig, RLOOConfig])
def test_every_setting_has_a_flag_and_the_ppo_ones_keep_their_names(config_class):
    kind = config_class.__name__.removesuffix("Config").lower()
    parser = build_parser()
    for field in settings_of(config_class):
        assert field.flag() in parser._subparsers._group_actions[0].choices[kind].format_help()
    args = parser.parse_args([kind, "--beta", "0", "--kl-penalty", "loss", "--ppo-epochs", "3"])
    config = config_from_args(args, config_class)
    assert (config.beta, config.kl_penalty, config.ppo_epochs) == (0.0, "loss", 3)
    assert RLOOConfig().kl_penalty == "reward" and GRPOConfig().kl_penalty == "loss"


def test_beta_zero_runs_without_a_kl_from_the_cli(tiny_model_dir, prompts_file, workspace):
    out = workspace / "m.jsonl"
    args = _args("grpo", tiny_model_dir, prompts_file, workspace, "--steps", "2")
    assert main([*args, "--beta", "0", "--scale-rewards", "none", "--metrics-out", str(out)]) == 0
    rows = _jsonl(out)
    assert all("objective/kl" not in row and row["objective/kl_coef"] == 0 for row in rows)


def test_sigterm_stops_a_grpo_run_with_a_checkpoint(tiny_model_dir, prompts_file, workspace):
    out = workspace / "m.jsonl"
    args = _args("grpo", tiny_model_dir, prompts_file, workspace, "--steps", "500")
    args += ["--metrics-out", str(out)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    child = subprocess.Popen([sys.executable, "-m", "core", *args], env=env)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not (out.exists() and out.read_text()):
            time.sleep(0.2)
        child.send_signal(signal.SIGTERM)
        assert child.wait(120) == 0
    finally:
        if child.poll() is None:
            child.kill()
    with Store.open(workspace) as store:
        run = store.run(1)
        assert run.status == "stopped" and run.kind == "grpo"
        steps = [m["step"] for m in store.metrics(1)]
        assert 1 <= len(steps) < 500
        assert [c.step for c in store.checkpoints(1)] == [len(steps)]


def test_trls_grpo_options_are_flags_with_trls_names():
    args = build_parser().parse_args(
        [
            "grpo",
            "--loss-type",
            "dr_grpo",
            "--importance-sampling-level",
            "sequence",
            "--epsilon-high",
            "0.28",
            "--mask-truncated-completions",
            "--drop-zero-std-groups",
            "--kl-estimator",
            "k2",
            "--use-bias-correction-kl",
        ]
    )
    config = config_from_args(args, GRPOConfig)
    assert (config.loss_type, config.importance_sampling_level) == ("dr_grpo", "sequence")
    assert config.epsilon_high == 0.28 and config.clip_high == 0.28
    assert config.mask_truncated_completions and config.drop_zero_std_groups
    assert config.kl_estimator == "k2" and config.use_bias_correction_kl
    assert not GRPOConfig().use_bias_correction_kl  # off by default: TRL 0.x's gradient
    assert GRPOConfig().clip_high == GRPOConfig().cliprange  # off: the clip range
    assert RLOOConfig().kl_estimator == "k1" and GRPOConfig().kl_estimator == "k3"
