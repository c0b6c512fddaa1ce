"""Settings declared once (core/config/settings.py): every config field is declared, the `ppo`
and `train-rm` flags come from the declarations with today's names, flags check the
declared ranges, and settings the user left alone follow the ones they set."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, fields, replace

import pytest

from core.cli import build_parser, main
from core.cli.train_rm import rm_config_from_args
from core.cli.training import config_from_args
from core.config import LR_SCHEDULES, LoraSpec, PPOConfig, RMConfig
from core.config.settings import (
    HIDDEN,
    config_from_sources,
    declared_fields,
    follow_user_settings,
    setting,
    setting_problems,
    settings_of,
    undeclared_fields,
)
from core.errors import TrainingError

# The `ppo` flags of PPOConfig settings: a contract, exactly these names.
PPO_FLAGS = {
    "--steps", "--batch-size", "--mini-batch-size", "--ppo-epochs", "--learning-rate",
    "--max-new-tokens", "--temperature", "--kl-mode", "--init-kl-coef", "--target-kl",
    "--seed", "--checkpoint-every", "--lr-schedule", "--warmup-steps",
    "--gradient-accumulation-steps", "--max-grad-norm", "--gamma", "--lam", "--cliprange",
    "--cliprange-value", "--vf-coef", "--kl-horizon", "--missing-eos-penalty",
    "--samples-per-step", "--eval-prompts", "--eval-every", "--whiten-rewards",
    "--gradient-checkpointing", "--logits-chunk-size", "--reference",
}  # fmt: skip
PPO_SETTINGS = settings_of(PPOConfig)
NUMBERS = [f for f in PPO_SETTINGS if f.kind in (int, float)]


def _ppo(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["ppo", *argv])


@pytest.mark.parametrize("cls", [PPOConfig, RMConfig, LoraSpec])
def test_every_config_field_is_declared_with_a_label_and_help(cls):
    assert undeclared_fields(cls) == []
    for field in settings_of(cls):
        assert field.setting.label and field.setting.help.endswith((".", ")")), field.name
        if field.kind in (int, float) and field.setting.choices is None:
            assert field.setting.minimum is not None and field.setting.maximum is not None
            assert field.setting.minimum <= (field.default or 0) <= field.setting.maximum


def test_only_the_rollout_truncations_and_lora_internals_are_hidden():
    def hidden_of(cls):
        return {f.name for f in declared_fields(cls) if f.setting.group == HIDDEN}

    assert hidden_of(PPOConfig) == {"top_k", "top_p"}
    assert hidden_of(LoraSpec) == {"dropout", "seed"}
    assert hidden_of(RMConfig) == set()


def test_ppo_flags_keep_their_names():
    flags = {
        option
        for action in build_parser()._subparsers._group_actions[0].choices["ppo"]._actions
        for option in action.option_strings
    }
    assert {f.flag() for f in PPO_SETTINGS} == PPO_FLAGS
    assert flags >= PPO_FLAGS | {"--lora-r", "--lora-alpha", "--lora-targets", "--config"}


@pytest.mark.parametrize("field", PPO_SETTINGS, ids=lambda f: f.name)
def test_each_ppo_flag_defaults_to_the_config_default(field):
    args = _ppo()
    assert getattr(args, field.name) is None  # not given: not set
    assert getattr(config_from_args(args, PPOConfig), field.name) == field.default


@pytest.mark.parametrize("field", NUMBERS, ids=lambda f: f.name)
def test_each_number_flag_takes_its_range_and_refuses_past_it(field, capsys):
    low, high = field.setting.minimum, field.setting.maximum
    for value in (low, high):
        text = str(int(value)) if field.kind is int else repr(float(value))
        assert getattr(_ppo(field.flag(), text), field.name) == value
    for value in (low - 1, high + 1):
        text = str(int(value)) if field.kind is int else repr(float(value))
        with pytest.raises(SystemExit):
            _ppo(field.flag(), text)
        assert f"argument {field.flag()}: {text} is out of range" in capsys.readouterr().err


def test_choice_flags_offer_the_declared_choices(capsys):
    assert _ppo("--lr-schedule", "cosine", "--kl-mode", "fixed").lr_schedule == "cosine"
    with pytest.raises(SystemExit):
        _ppo("--lr-schedule", "step")
    assert "choose from constant, linear, cosine" in capsys.readouterr().err.replace("'", "")


def test_lr_schedules_are_defined_once():
    from core.train import optim

    (schedule,) = [f for f in PPO_SETTINGS if f.name == "lr_schedule"]
    assert schedule.setting.choices is LR_SCHEDULES and not hasattr(optim, "LR_SCHEDULES")
    # the optimiser's schedules follow the one declaration: each choice decays differently
    ends = {
        name: optim.lr_factor(PPOConfig(steps=10, lr_schedule=name))(9) for name in LR_SCHEDULES
    }
    assert len(set(ends.values())) == len(LR_SCHEDULES)


def test_bool_and_optional_flags():
    assert config_from_args(_ppo("--whiten-rewards"), PPOConfig).whiten_rewards is True
    assert config_from_args(_ppo("--no-whiten-rewards"), PPOConfig).whiten_rewards is False
    # 0 is the form's "off" of an optional number: the CLI reads it the same way.
    assert (
        config_from_args(_ppo("--missing-eos-penalty", "0"), PPOConfig).missing_eos_penalty is None
    )
    assert (
        config_from_args(_ppo("--missing-eos-penalty", "1.5"), PPOConfig).missing_eos_penalty == 1.5
    )


@pytest.mark.parametrize("batch", range(1, 21))
def test_batch_size_alone_always_gives_a_valid_config(batch):
    args = _ppo("--batch-size", str(batch))
    config, notes = config_from_sources(PPOConfig, args, args.config)
    assert config.batch_size == batch and setting_problems(config) == []
    assert config.mini_batch_size <= PPOConfig.mini_batch_size
    assert bool(notes) == (config.mini_batch_size != PPOConfig.mini_batch_size)


def test_the_minibatch_follows_with_a_note_on_stderr(capsys):
    config = config_from_args(_ppo("--batch-size", "20"), PPOConfig)
    assert (config.batch_size, config.mini_batch_size) == (20, 10)
    assert capsys.readouterr().err == (
        "note: --mini-batch-size follows --batch-size: 10 instead of 16 (the largest divisor "
        "of 20 not above 16); pass --mini-batch-size to choose it\n"
    )
    config = config_from_args(_ppo("--mini-batch-size", "12"), PPOConfig)
    assert (config.batch_size, config.mini_batch_size) == (36, 12)  # the batch follows too
    assert "--batch-size follows --mini-batch-size: 36 instead of 32" in capsys.readouterr().err


def test_explicit_contradiction_is_an_error_naming_both_flags():
    with pytest.raises(TrainingError, match=r"--batch-size \(8\) must be a multiple of "):
        config_from_args(_ppo("--batch-size", "8", "--mini-batch-size", "16"), PPOConfig)
    config = config_from_args(_ppo("--batch-size", "8", "--mini-batch-size", "4"), PPOConfig)
    assert (config.batch_size, config.mini_batch_size) == (8, 4)


def test_a_config_file_counts_as_set_by_the_user(tmp_path, capsys):
    file = tmp_path / "ppo.json"
    file.write_text(json.dumps({"batch_size": 8, "steps": 3}), encoding="utf-8")
    config = config_from_args(_ppo("--config", str(file)), PPOConfig)
    assert (config.steps, config.batch_size, config.mini_batch_size) == (3, 8, 8)
    assert "--mini-batch-size follows --batch-size" in capsys.readouterr().err
    config = config_from_args(_ppo("--config", str(file), "--batch-size", "6"), PPOConfig)
    assert (config.steps, config.batch_size, config.mini_batch_size) == (3, 6, 6)
    file.write_text(json.dumps({"mini_batch_size": 16}), encoding="utf-8")
    with pytest.raises(TrainingError, match="must be a multiple"):
        config_from_args(_ppo("--config", str(file), "--batch-size", "8"), PPOConfig)
    file.write_text(json.dumps({"steps": 0}), encoding="utf-8")
    with pytest.raises(TrainingError, match="--steps is 0; use 1 to 1000000"):
        config_from_args(_ppo("--config", str(file)), PPOConfig)


def test_follow_never_changes_what_the_user_set():
    wanted = replace(PPOConfig(), batch_size=6, mini_batch_size=4)
    followed, adjustments = follow_user_settings(wanted, {"batch_size", "mini_batch_size"})
    assert followed == wanted and adjustments == []
    assert setting_problems(followed) == [
        "batch_size (6) must be a multiple of mini_batch_size (4)"
    ]


def test_the_trainer_check_uses_the_declared_ranges():
    from core.ppo.checks import check_config

    check_config(PPOConfig())
    with pytest.raises(TrainingError, match="vf_coef is -1; use 0 to 100"):
        check_config(replace(PPOConfig(), vf_coef=-1.0))
    with pytest.raises(TrainingError, match="kl_mode is 'pid'"):
        check_config(replace(PPOConfig(), kl_mode="pid"))


def test_train_rm_flags_come_from_rm_config_and_lora_spec(tmp_path, capsys):
    parser = build_parser()
    file = tmp_path / "rm.json"
    file.write_text(json.dumps({"epochs": 5, "patience": 3}), encoding="utf-8")
    argv = ["train-rm", "--config", str(file), "--base", "some/model", "--epochs", "2",
            "--eval-fraction", "0.1", "--lora-r", "4", "--lora-targets", "q_proj, v_proj"]  # fmt: skip
    config = rm_config_from_args(parser.parse_args(argv))
    assert (config.base, config.epochs, config.patience, config.eval_fraction) == (
        "some/model",
        2,
        3,
        0.1,
    )
    assert config.lora == replace(LoraSpec(), r=4, target_modules=("q_proj", "v_proj"))
    assert rm_config_from_args(parser.parse_args(["train-rm"])) == RMConfig()
    for flag, field in (("--epochs", "epochs"), ("--lora-r", "r")):
        owner = LoraSpec if flag.startswith("--lora") else RMConfig
        (declared,) = [f for f in settings_of(owner) if f.name == field]
        with pytest.raises(SystemExit):
            parser.parse_args(["train-rm", flag, str(int(declared.setting.minimum) - 1)])
        assert "is out of range" in capsys.readouterr().err


def test_a_new_config_gets_flags_by_declaring_fields():
    from dataclasses import dataclass

    from core.config.settings import add_setting_flags, config_from_sources

    @dataclass(frozen=True)
    class ToyConfig:
        group_size: int = setting(8, label="Group size", help="Samples.", minimum=2, maximum=64)
        beta: float = setting(0.1, label="Beta", help="KL weight.", minimum=0.0, maximum=1.0)

    parser = argparse.ArgumentParser()
    add_setting_flags(parser, ToyConfig)
    config, notes = config_from_sources(ToyConfig, parser.parse_args(["--group-size", "4"]))
    assert config == ToyConfig(group_size=4) and notes == []
    with pytest.raises(SystemExit):
        parser.parse_args(["--beta", "2"])
    assert [f.name for f in fields(ToyConfig)] == [f.name for f in settings_of(ToyConfig)]


def test_a_tiny_run_with_batch_size_3_alone(tiny_model_dir, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("This movie was\nThe hotel\nMy phone\n", encoding="utf-8")
    argv = ["ppo", "--model", str(tiny_model_dir), "--prompts", str(prompts),
            "--batch-size", "3", "--steps", "1", "--ppo-epochs", "1", "--max-new-tokens", "4",
            "--workspace", str(tmp_path / "ws")]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "--mini-batch-size follows --batch-size: 3 instead of 16" in captured.err
    assert "finished after 1 steps" in captured.out


def test_as_in_reuses_another_configs_declaration_with_only_the_changes_given():
    from core.config.settings import as_in

    @dataclass(frozen=True)
    class Other:
        learning_rate: float = as_in(PPOConfig, "learning_rate", 1e-3, help="Its own words.")
        seed: int = as_in(PPOConfig, "seed")

    (ppo_lr,) = [f for f in PPO_SETTINGS if f.name == "learning_rate"]
    lr, seed = declared_fields(Other)
    assert (lr.default, lr.setting.help) == (1e-3, "Its own words.")
    assert replace(lr.setting, help=ppo_lr.setting.help) == ppo_lr.setting
    assert seed.default == PPOConfig.seed and seed.flag() == "--seed"


@pytest.mark.parametrize("name", ["DPOConfig", "GRPOConfig", "RMConfig"])
def test_shared_settings_keep_ppos_flag_and_range(name):
    from core import config
    from core.config import critic_free as critic_free_config
    from core.offline import config as offline_config

    cls = getattr(config, name, None) or getattr(critic_free_config, name, None)
    cls = cls or getattr(offline_config, name)
    ppo = {f.name: f for f in PPO_SETTINGS}
    shared = [f for f in settings_of(cls) if f.name in ppo]
    assert {"gradient_checkpointing"} <= {f.name for f in shared}
    for field in shared:  # (GRPO renames "PPO epochs": labels may differ on purpose)
        theirs, ours = field.setting, ppo[field.name].setting
        assert field.flag() == ppo[field.name].flag(), field.name
        assert (theirs.minimum, theirs.maximum, theirs.choices) == (
            ours.minimum, ours.maximum, ours.choices,
        ), field.name  # fmt: skip
