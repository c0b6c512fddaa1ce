"""Health checks on the trainer's metric stream (core.onpolicy.health): what the dashboard shows
and what the CLI prints, driven by synthetic metrics and by one CLI run."""

from core.onpolicy.health import HealthMonitor
from core.ppo.metrics import STEP_KEYS


def _step(reward=0.0, kl=1.0, length=20.0, entropy=2.0):
    return {
        "reward/mean": reward,
        "objective/kl": kl,
        "response/length": length,
        "policy/entropy": entropy,
    }


def test_the_checks_read_keys_the_trainer_emits():
    assert set(_step()) <= set(STEP_KEYS)


def test_health_monitor_warns_when_kl_runs_away():
    monitor = HealthMonitor(kl_target=1.0, patience=2)
    assert monitor.update(_step(kl=5.0)) == []
    warnings = monitor.update(_step(kl=6.0))
    assert len(warnings) == 1 and "KL is running away" in warnings[0]
    assert monitor.update(_step(kl=0.5)) == []


def test_health_monitor_flags_reward_rising_while_length_collapses():
    monitor = HealthMonitor(kl_target=100.0, window=3)
    warnings = []
    for step in range(8):
        healthy = step < 3
        warnings = monitor.update(_step(reward=0.1 * step, length=20.0 if healthy else 3.0))
    assert any("reward hacking" in w and "response length" in w for w in warnings)


def test_health_monitor_flags_reward_rising_while_entropy_collapses():
    monitor = HealthMonitor(kl_target=100.0, window=3)
    for step in range(8):
        warnings = monitor.update(_step(reward=0.1 * step, entropy=2.0 if step < 3 else 0.2))
    assert any("reward hacking" in w and "entropy" in w for w in warnings)


def test_health_monitor_is_quiet_on_a_healthy_run():
    monitor = HealthMonitor(kl_target=6.0, window=3)
    for step in range(10):
        assert monitor.update(_step(reward=0.1 * step)) == []


def test_missing_and_non_finite_metrics_are_ignored():
    monitor = HealthMonitor(kl_target=1.0, patience=1)
    assert monitor.update({"step": 1}) == []
    assert monitor.update({"objective/kl": float("nan"), "reward/mean": None}) == []


def test_new_warnings_says_each_warning_once_when_it_starts():
    """The CLI prints a warning when it starts, not again on every step it still holds."""
    monitor = HealthMonitor(kl_target=1.0, patience=2)
    kls = [5.0, 6.0, 7.0, 8.0, 0.5, 5.0, 6.0]
    new = [monitor.new_warnings(_step(kl=kl)) for kl in kls]
    assert [len(lines) for lines in new] == [0, 1, 0, 0, 0, 0, 1]
    assert "KL is running away: 6.00 nats" in new[1][0]
    assert "KL is running away: 6.00 nats" in new[6][0]  # it came back: said again


def test_new_warnings_and_update_agree_on_what_holds():
    stream = [_step(kl=kl) for kl in (5.0, 6.0, 7.0)]
    dashboard = HealthMonitor(kl_target=1.0, patience=2)
    cli = HealthMonitor(kl_target=1.0, patience=2)
    shown = [dashboard.update(metrics) for metrics in stream]
    printed = [cli.new_warnings(metrics) for metrics in stream]
    assert shown[1] == printed[1] and shown[2] and not printed[2]


def test_the_cli_prints_health_warnings_and_the_memory_estimate(
    tiny_model_dir, tmp_path, workspace, capsys, monkeypatch
):
    """A real CLI run with a KL limit every step exceeds: the warning goes to stderr once,
    when it starts, though it holds on every step."""
    from core.cli import main

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("This movie was\nThe blender is\nThe hotel\nMy new phone\n", "utf-8")
    strict = HealthMonitor(kl_target=1.0, kl_factor=-1e9, patience=1)  # any KL is too high
    monkeypatch.setattr(HealthMonitor, "for_config", classmethod(lambda cls, config: strict))
    args = [
        "ppo", "--model", str(tiny_model_dir), "--prompts", str(prompts),
        "--reward", "length=4", "--steps", "3", "--batch-size", "4",
        "--mini-batch-size", "2", "--ppo-epochs", "1", "--max-new-tokens", "6",
        "--workspace", str(workspace),
    ]  # fmt: skip
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "memory estimate (planner" in err
    assert err.count("KL is running away") == 1, err
    assert strict._history and len(strict._history) == 3  # fed every step


def test_health_metric_names_and_memory_estimate_import_without_torch():
    """The GUI's dashboard and Train page import these at start-up: they must stay light."""
    import subprocess
    import sys

    code = (
        "import sys, core.onpolicy.health, core.ppo.metrics, core.memory_plan, core.model.shapes\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft') if m in sys.modules]\n"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
