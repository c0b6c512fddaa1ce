"""The Train form's setting fields come from the declared settings: one plain widget per
field with the declared range, choices, tooltip and objectName, agreeing with the `ppo`
flags on default and range; settings the user left alone follow, with a visible note."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

from app.algorithms import PPO_PRESETS
from app.widgets.settings_form import make_widget, read_widget
from app.widgets.train_form import TrainForm
from core.cli import build_parser
from core.cli.common import lora_from_args
from core.cli.training import config_from_args
from core.config import LoraSpec, PPOConfig
from core.config.settings import setting_problems, settings_of

# The form's objectNames before the settings were generated: a contract (tests, tools).
OBJECT_NAMES = {
    "steps": ("trainStepsSpin", QSpinBox),
    "batch_size": ("batchSizeSpin", QSpinBox),
    "mini_batch_size": ("miniBatchSpin", QSpinBox),
    "ppo_epochs": ("ppoEpochsSpin", QSpinBox),
    "learning_rate": ("learningRateSpin", QDoubleSpinBox),
    "kl_mode": ("klModeCombo", QComboBox),
    "reference": ("referenceCombo", QComboBox),
    "init_kl_coef": ("klCoefSpin", QDoubleSpinBox),
    "target_kl": ("klTargetSpin", QDoubleSpinBox),
    "max_new_tokens": ("maxNewTokensSpin", QSpinBox),
    "temperature": ("temperatureSpin", QDoubleSpinBox),
    "seed": ("seedSpin", QSpinBox),
    "checkpoint_every": ("checkpointEverySpin", QSpinBox),
    "lr_schedule": ("lrScheduleCombo", QComboBox),
    "warmup_steps": ("warmupStepsSpin", QSpinBox),
    "gradient_accumulation_steps": ("gradientAccumulationStepsSpin", QSpinBox),
    "max_grad_norm": ("maxGradNormSpin", QDoubleSpinBox),
    "gamma": ("gammaSpin", QDoubleSpinBox),
    "lam": ("lamSpin", QDoubleSpinBox),
    "cliprange": ("cliprangeSpin", QDoubleSpinBox),
    "cliprange_value": ("cliprangeValueSpin", QDoubleSpinBox),
    "vf_coef": ("vfCoefSpin", QDoubleSpinBox),
    "kl_horizon": ("klHorizonSpin", QSpinBox),
    "missing_eos_penalty": ("missingEosPenaltySpin", QDoubleSpinBox),
    "samples_per_step": ("samplesPerStepSpin", QSpinBox),
    "eval_prompts": ("evalPromptsSpin", QSpinBox),
    "eval_every": ("evalEverySpin", QSpinBox),
    "whiten_rewards": ("whitenRewardsCheck", QCheckBox),
    "gradient_checkpointing": ("gradientCheckpointingCheck", QCheckBox),
    "logits_chunk_size": ("logitsChunkSizeSpin", QSpinBox),
    "lora.r": ("loraRankSpin", QSpinBox),
    "lora.alpha": ("loraAlphaSpin", QSpinBox),
    "lora.target_modules": ("loraTargetsEdit", QLineEdit),
}
FIELDS = [("", f) for f in settings_of(PPOConfig)] + [("lora.", f) for f in settings_of(LoraSpec)]


@pytest.fixture
def form(qtbot):
    widget = TrainForm()
    qtbot.addWidget(widget)
    return widget


def _cli_value(prefix: str, field, value) -> object:
    """What `ppo` makes of the flag given `value` (SystemExit when it refuses it)."""
    text = str(int(value)) if field.kind is int else repr(float(value))
    args = build_parser().parse_args(["ppo", field.flag("lora-" if prefix else ""), text])
    return getattr(args, field.dest("lora-" if prefix else ""))


def test_every_setting_has_a_widget_with_its_contract_name(form):
    assert set(OBJECT_NAMES) == {prefix + f.name for prefix, f in FIELDS}
    for key, (name, kind) in OBJECT_NAMES.items():
        assert form.findChildren(kind, name) == [form.field_widget(key)], key


@pytest.mark.parametrize(("prefix", "field"), FIELDS, ids=lambda x: getattr(x, "name", x))
def test_form_field_and_flag_agree_on_default_range_and_help(form, prefix, field, capsys):
    widget = form.field_widget(prefix + field.name)
    assert widget.toolTip() == field.setting.help
    if isinstance(widget, QCheckBox):
        assert widget.text() == field.setting.label
    else:
        label = widget.parentWidget().layout().labelForField(widget)
        assert label.text() == field.setting.label
    args = build_parser().parse_args(["ppo"])
    cli = lora_from_args(args) if prefix else config_from_args(args, PPOConfig)
    assert read_widget(field, make_widget(field)) == getattr(cli, field.name) == field.default
    if isinstance(widget, QSpinBox | QDoubleSpinBox):
        low, high = widget.minimum(), widget.maximum()
        assert (low, high) == (field.setting.minimum, field.setting.maximum)
        assert _cli_value(prefix, field, low) == low and _cli_value(prefix, field, high) == high
        for beyond in (low - 1, high + 1):
            with pytest.raises(SystemExit):
                _cli_value(prefix, field, beyond)
        capsys.readouterr()
    if isinstance(widget, QComboBox):
        items = tuple(widget.itemText(i) for i in range(widget.count()))
        assert items == field.setting.choices


def test_the_form_shows_a_config_and_gives_it_back(form):
    form.set_config(PPOConfig())
    assert form.config() == PPOConfig()
    assert form.field_widget("missing_eos_penalty").text() == "off"  # None shows as off


def test_the_minibatch_follows_the_batch_with_a_note(form):
    form.apply_preset(list(PPO_PRESETS)[0])  # batch 8, minibatch 8
    form.field_widget("batch_size").setValue(6)
    assert form.config().mini_batch_size == 6
    assert form.follow_note.isVisibleTo(form)
    assert form.follow_note.text() == (
        "Minibatch size follows batch size: 6 instead of 8 (the largest divisor of 6 not above 8)."
    )
    form.field_widget("batch_size").setValue(16)  # back above: the preset's minibatch again
    assert form.config().mini_batch_size == 8 and not form.follow_note.isVisibleTo(form)
    for batch in range(1, 21):
        form.field_widget("batch_size").setValue(batch)
        assert setting_problems(form.config()) == [], batch
    assert not form.problem_note.isVisibleTo(form)


def test_an_explicit_contradiction_is_named_and_refused_at_start(form):
    from core.errors import TrainingError
    from core.ppo.checks import check_config

    form.apply_preset(list(PPO_PRESETS)[0])
    form.field_widget("mini_batch_size").setValue(4)
    form.field_widget("batch_size").setValue(6)
    assert (form.config().batch_size, form.config().mini_batch_size) == (6, 4)
    assert form.problem_note.isVisibleTo(form)
    assert form.problem_note.text() == "Batch size (6) must be a multiple of minibatch size (4)."
    with pytest.raises(TrainingError, match=r"batch_size \(6\) must be a multiple"):
        check_config(form.config())
    form.apply_preset(list(PPO_PRESETS)[0])  # a preset: nothing set by the user any more
    assert not form.problem_note.isVisibleTo(form) and form.config().batch_size == 8


def test_the_batch_follows_a_minibatch_set_alone(form):
    form.set_config(replace(PPOConfig(), batch_size=8, mini_batch_size=8))
    form.field_widget("mini_batch_size").setValue(3)
    assert (form.config().batch_size, form.config().mini_batch_size) == (9, 3)
    assert "Batch size follows minibatch size: 9 instead of 8" in form.follow_note.text()


def test_kl_target_and_horizon_are_for_adaptive_mode_only(form):
    form.field_widget("kl_mode").setCurrentText("fixed")
    assert not form.field_widget("target_kl").isEnabled()
    assert not form.field_widget("kl_horizon").isEnabled()
    form.field_widget("kl_mode").setCurrentText("adaptive")
    assert form.field_widget("target_kl").isEnabled()


def test_lora_fields_give_the_lora_spec(form):
    form.field_widget("lora.r").setValue(4)
    form.field_widget("lora.target_modules").setText("q_proj, v_proj")
    assert form.lora() == replace(
        LoraSpec(), r=4, alpha=form.lora().alpha, target_modules=("q_proj", "v_proj")
    )
    form.field_widget("lora.target_modules").setText("")
    assert form.lora().target_modules is None
