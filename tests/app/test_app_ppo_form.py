"""The PPO form: every PPOConfig field a user may set reaches the config, presets reset
them, and the Advanced section starts collapsed with the defaults."""

from __future__ import annotations

from dataclasses import fields, replace

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QSpinBox

from app.algorithms import PPO_PRESETS
from app.widgets.train_form import TrainForm
from core.config import PPOConfig


@pytest.fixture
def form(qtbot):
    widget = TrainForm()
    qtbot.addWidget(widget)
    return widget


def test_advanced_settings_round_trip_through_the_form(form):
    wanted = replace(
        PPOConfig(),
        lr_schedule="cosine",
        warmup_steps=3,
        gradient_accumulation_steps=2,
        max_grad_norm=0.5,
        gamma=0.99,
        lam=0.9,
        cliprange=0.1,
        cliprange_value=0.3,
        vf_coef=0.25,
        kl_horizon=500,
        missing_eos_penalty=1.5,
        samples_per_step=6,
        eval_prompts=8,
        eval_every=3,
        whiten_rewards=True,
    )
    form.set_config(wanted)
    assert form.config() == wanted
    form.set_config(replace(wanted, missing_eos_penalty=None))
    assert form.config().missing_eos_penalty is None  # 0 in the form means off


def test_the_user_edits_advanced_fields_by_name(form):
    form.findChild(QComboBox, "lrScheduleCombo").setCurrentText("linear")
    form.findChild(QSpinBox, "warmupStepsSpin").setValue(4)
    form.findChild(QDoubleSpinBox, "missingEosPenaltySpin").setValue(2.0)
    form.findChild(QCheckBox, "whitenRewardsCheck").setChecked(True)
    form.findChild(QSpinBox, "evalPromptsSpin").setValue(5)
    form.findChild(QSpinBox, "evalEverySpin").setValue(2)
    config = form.config()
    assert (config.eval_prompts, config.eval_every) == (5, 2)
    assert (config.lr_schedule, config.warmup_steps) == ("linear", 4)
    assert config.missing_eos_penalty == 2.0 and config.whiten_rewards
    assert form.preset_combo.currentText() == "Custom"  # an edit leaves the preset


def test_presets_reset_advanced_fields_and_cover_every_config_field(form):
    form.findChild(QSpinBox, "warmupStepsSpin").setValue(9)
    form.apply_preset(list(PPO_PRESETS)[0])
    assert form.config().warmup_steps == PPOConfig().warmup_steps
    # Each PPOConfig field has a widget, except the sampling truncations PPO leaves off.
    shown = {f.name for f in fields(PPOConfig) if _has_widget(form, f.name)}
    assert {f.name for f in fields(PPOConfig)} - shown == {"top_k", "top_p"}


def _has_widget(form, name: str) -> bool:
    try:
        return form.field_widget(name) is not None
    except KeyError:
        return False
