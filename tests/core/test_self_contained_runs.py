"""A run carries what it needs: LoRA settings in --config, a run's recorded config fed
back as --config, and checkpoints that resume a local-model run with no flags."""

import json

import pytest
import yaml

from core.cli import main
from core.store import Store


@pytest.fixture
def prompts_file(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text("This movie was\nThe blender is\nThe hotel\nMy new phone\n", encoding="utf-8")
    return path


def _ppo(model, prompts_file, workspace, *extra):
    return ["ppo", "--model", str(model), "--prompts", str(prompts_file), "--reward", "length=4",
            "--batch-size", "4", "--mini-batch-size", "2", "--ppo-epochs", "1",
            "--max-new-tokens", "6", "--workspace", str(workspace), *extra]  # fmt: skip


def _adapter_config(workspace, run=1, step=1) -> dict:
    path = workspace / f"checkpoints/run-{run}/step-{step}/adapter/adapter_config.json"
    return json.loads(path.read_text())


def test_lora_settings_come_from_the_config_file(tiny_model_dir, prompts_file, workspace, tmp_path):
    config = tmp_path / "ppo.yaml"
    config.write_text(yaml.safe_dump({"steps": 1, "lora": {"r": 4, "alpha": 8}}))
    assert main(_ppo(tiny_model_dir, prompts_file, workspace, "--config", str(config))) == 0
    adapter = _adapter_config(workspace)
    assert (adapter["r"], adapter["lora_alpha"]) == (4, 8)
    with Store.open(workspace) as store:
        assert store.run(1).config["model_spec"]["lora"]["r"] == 4


def test_a_runs_recorded_config_round_trips_as_config(
    tiny_model_dir, prompts_file, workspace, tmp_path
):
    first = ["--steps", "1", "--lora-r", "2", "--learning-rate", "0.002", "--seed", "3"]
    assert main(_ppo(tiny_model_dir, prompts_file, workspace, *first)) == 0
    with Store.open(workspace) as store:
        recorded = store.run(1).config
    path = tmp_path / "run-1.json"
    path.write_text(json.dumps(recorded))
    assert main(_ppo(tiny_model_dir, prompts_file, workspace, "--config", str(path))) == 0
    with Store.open(workspace) as store:
        again = store.run(2).config
    assert again["ppo"] == recorded["ppo"]
    assert again["model_spec"]["lora"] == recorded["model_spec"]["lora"]
    assert _adapter_config(workspace, run=2)["r"] == 2


def test_resume_needs_no_flags_it_recorded(tiny_model_dir, prompts_file, workspace, capsys):
    args = _ppo(tiny_model_dir, prompts_file, workspace, "--steps", "1", "--dtype", "float32")
    assert main(args) == 0
    step = workspace / "checkpoints/run-1/step-1"
    meta = json.loads((step / "meta.json").read_text())
    assert meta["model_spec"]["name_or_path"] == str(tiny_model_dir.resolve())
    assert (meta["model_spec"]["dtype"], meta["model_spec"]["quantize"]) == ("float32", "none")
    assert (step / "prompts.jsonl").read_text().count("\n") == 4
    capsys.readouterr()
    resume = ["ppo", "--resume", str(step), "--steps", "2", "--workspace", str(workspace)]
    assert main(resume) == 0
    out = capsys.readouterr().out
    assert f"resuming with the run's model: --model {tiny_model_dir.resolve()}" in out
    assert "resuming with the run's 4 prompts" in out
    assert "resuming with the run's reward: --reward length=4" in out
    assert "run 1: finished after 2 steps" in out


def test_metrics_out_writes_integer_steps():
    import io

    from core.cli.common import write_metrics

    stream = io.StringIO()
    write_metrics(stream, {"step": 3.0, "reward/mean": 0.5, "objective/kl": float("nan")})
    assert stream.getvalue() == '{"step": 3, "reward/mean": 0.5, "objective/kl": null}\n'
