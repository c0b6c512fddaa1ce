"""`--config` reads YAML as well as JSON, as TRL and LLaMA-Factory users write it."""

from __future__ import annotations

import pytest

from core.cli import build_parser
from core.cli.train_rm import rm_config_from_args
from core.cli.training import config_from_args
from core.config import PPOConfig
from core.errors import InputFileError


def test_a_yaml_ppo_config_is_read_with_numbers_as_numbers(tmp_path, capsys):
    file = tmp_path / "ppo.yaml"
    file.write_text(
        "# written as for TRL\nlearning_rate: 1e-5\nsteps: 3\nbatch_size: 8\n"
        "init_kl_coef: 5.0e-2\nwhiten_rewards: true\nlr_schedule: cosine\n",
        encoding="utf-8",
    )
    args = build_parser().parse_args(["ppo", "--config", str(file), "--steps", "4"])
    config = config_from_args(args, PPOConfig)
    assert config.learning_rate == 1e-5  # YAML 1.1 would make "1e-5" a string
    assert (config.steps, config.batch_size, config.mini_batch_size) == (4, 8, 8)
    assert (config.init_kl_coef, config.whiten_rewards, config.lr_schedule) == (
        0.05, True, "cosine",
    )  # fmt: skip
    assert "--mini-batch-size follows --batch-size" in capsys.readouterr().err  # file counts as set


def test_a_yaml_rm_config_with_a_nested_lora_block(tmp_path):
    file = tmp_path / "rm.yml"
    file.write_text("epochs: 2\nlora:\n  r: 4\n  target_modules: [c_attn]\n", encoding="utf-8")
    config = rm_config_from_args(build_parser().parse_args(["train-rm", "--config", str(file)]))
    assert (config.epochs, config.lora.r, config.lora.target_modules) == (2, 4, ("c_attn",))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("steps: [1\n", r"ppo.yaml line 2: not valid YAML"),
        ("- steps\n", "expected a JSON object \\(or YAML mapping\\)"),
        ("per_device_train_batch_size: 4\n", "unknown setting.*per_device_train_batch_size"),
        ("steps: !!python/object:os.system ls\n", "not valid YAML"),  # safe loading only
    ],
)
def test_bad_yaml_is_a_clear_error(tmp_path, text, message):
    file = tmp_path / "ppo.yaml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(InputFileError, match=message):
        config_from_args(build_parser().parse_args(["ppo", "--config", str(file)]), PPOConfig)


def test_a_yaml_file_with_another_name_is_told_to_use_yaml_suffix(tmp_path):
    file = tmp_path / "ppo.conf"
    file.write_text("steps: 3\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"A YAML file needs a \.yaml or \.yml name"):
        config_from_args(build_parser().parse_args(["ppo", "--config", str(file)]), PPOConfig)
