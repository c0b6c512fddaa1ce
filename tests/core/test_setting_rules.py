"""Rules between settings are declared on the settings (`active_when`, core.config.settings):
the Train form greys out what does nothing without naming any field itself."""

import re
from pathlib import Path

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox

from core.config import PPOConfig
from core.config.critic_free import GRPOConfig, RLOOConfig
from core.config.settings import inactive_settings
from tests.app.test_app_algorithms import _choose

ROOT = Path(__file__).resolve().parents[2]


def test_inactive_settings_follow_the_declared_rules():
    adaptive = vars(PPOConfig()) | {"kl_mode": "adaptive"}
    assert not {"target_kl", "kl_horizon"} & inactive_settings(PPOConfig, adaptive)
    fixed = adaptive | {"kl_mode": "fixed"}
    assert {"target_kl", "kl_horizon"} <= inactive_settings(PPOConfig, fixed)
    for config_class in (GRPOConfig, RLOOConfig):
        values = vars(config_class())
        assert "kl_penalty" not in inactive_settings(config_class, values)
        assert "kl_penalty" in inactive_settings(config_class, values | {"beta": 0.0})
    # A rule on a field the values lack holds (a config reusing the setting without it).
    assert inactive_settings(PPOConfig, {"target_kl": 6.0}) == set()


def test_the_form_greys_out_by_declaration_and_names_no_field(qtbot):
    from app.widgets.train_form import TrainForm

    source = (ROOT / "app" / "widgets" / "train_form.py").read_text(encoding="utf-8")
    for name in ("kl_mode", "target_kl", "kl_horizon", "kl_penalty", "beta"):
        assert f'"{name}"' not in source, name
    form = TrainForm()
    qtbot.addWidget(form)
    form.findChild(QComboBox, "klModeCombo").setCurrentText("fixed")
    assert not form.field_widget("target_kl").isEnabled()
    assert not form.field_widget("kl_horizon").isEnabled()
    assert form.field_widget("init_kl_coef").isEnabled()
    form.findChild(QComboBox, "klModeCombo").setCurrentText("adaptive")
    assert form.field_widget("target_kl").isEnabled()
    _choose(form, "GRPO")
    form.findChild(QDoubleSpinBox, "betaSpin").setValue(0.0)
    assert not form.field_widget("kl_penalty").isEnabled()
    form.findChild(QDoubleSpinBox, "betaSpin").setValue(0.04)
    assert form.field_widget("kl_penalty").isEnabled()


def test_the_checks_are_the_declarations_with_their_reasons():
    """core/ppo/checks.py and GRPO's check_config restate no rule: the refusal comes from
    the declarations, with the reason the setting declares (`why`)."""
    from dataclasses import replace

    import pytest

    from core.errors import TrainingError
    from core.ppo.checks import check_config as check_ppo

    checks = (ROOT / "core" / "ppo" / "checks.py").read_text(encoding="utf-8")
    assert not re.search(r"(?<![\w.])config\.", checks)  # no field compared by hand
    with pytest.raises(TrainingError, match=r"temperature is 0; use 0.01 to 10 \(training needs"):
        check_ppo(replace(PPOConfig(), temperature=0.0))
    with pytest.raises(TrainingError, match=r"multiple of mini_batch_size \(4\)"):
        check_ppo(replace(PPOConfig(), batch_size=10, mini_batch_size=4))
    from core.grpo.trainer import check_config as check_grpo

    with pytest.raises(TrainingError, match=r"group_size is 1; use 2 .*\(a group needs at least"):
        check_grpo(replace(GRPOConfig(), group_size=1))
    with pytest.raises(TrainingError, match="the batch counts completions, group_size per prompt"):
        check_grpo(replace(RLOOConfig(), batch_size=7))
