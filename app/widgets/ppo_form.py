"""The PPO settings form: reward sources with weights, the main hyper-parameters, the
rest of PPOConfig under a collapsed "Advanced" section, LoRA settings, and presets.

The setting fields are generated from the settings PPOConfig and LoraSpec declare
(labels, tooltips, ranges, objectNames: app/widgets/settings_form.py). A setting the user
left alone follows the ones they set (e.g. the minibatch follows the batch size), with a
note saying so; two settings the user set that contradict each other are named below the
fields.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from app.widgets.reward_table import RewardTable
from app.widgets.settings_form import SettingRows
from core.config import LoraSpec, PPOConfig
from core.settings import follow_user_settings, setting_problems, settings_of

# name -> (PPOConfig overrides, LoRA (r, alpha), reward specs)
PRESETS: dict[str, tuple[dict, tuple[int, int], tuple[str, ...]]] = {
    "Demo: quick look (CPU, ~1 min)": (
        dict(
            steps=12,
            batch_size=8,
            mini_batch_size=8,
            ppo_epochs=2,
            max_new_tokens=16,
            learning_rate=1e-3,
            init_kl_coef=0.05,
            target_kl=4.0,
            checkpoint_every=0,
        ),
        (8, 16),
        ("sentiment",),
    ),
    "Demo: positive reviews (CPU, ~5 min)": (
        dict(
            steps=40,
            batch_size=16,
            mini_batch_size=8,
            ppo_epochs=4,
            max_new_tokens=24,
            learning_rate=5e-4,
            init_kl_coef=0.05,
            target_kl=6.0,
            checkpoint_every=10,
            eval_prompts=8,  # of the 40 demo prompts: the held-out curve shows transfer
        ),
        (16, 32),
        ("sentiment", "length=12@0.2"),
    ),
    "Small hub model on a GPU (SmolLM2 / Qwen2.5-0.5B)": (
        dict(
            steps=100,
            batch_size=32,
            mini_batch_size=8,
            ppo_epochs=4,
            max_new_tokens=48,
            learning_rate=1e-4,
            init_kl_coef=0.05,
            target_kl=6.0,
            checkpoint_every=20,
        ),
        (16, 32),
        ("sentiment",),
    ),
}
CUSTOM = "Custom"


class PPOForm(QWidget):
    """All settings of a PPO run; `changed` fires on any edit."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._base = PPOConfig()  # what settings the user has not set show
        self._user_set: set[str] = set()  # PPOConfig fields edited since the last preset
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.preset_combo = QComboBox(objectName="presetCombo")
        self.preset_combo.addItems([*PRESETS, CUSTOM])
        self.preset_combo.setToolTip("Settings known to work; edit any field afterwards.")
        self.preset_combo.activated.connect(
            lambda _i: self.apply_preset(self.preset_combo.currentText())
        )
        self.prompt_set_combo = QComboBox(objectName="trainPromptSetCombo")
        self.prompt_set_combo.setToolTip("The prompts rollouts are sampled from.")
        top = QFormLayout()
        top.addRow("Preset", self.preset_combo)
        top.addRow("Prompt set", self.prompt_set_combo)
        layout.addLayout(top)
        reward_box = QGroupBox("Reward (weighted sum)")
        self.rewards = RewardTable()
        QVBoxLayout(reward_box).addWidget(self.rewards)
        layout.addWidget(reward_box)
        layout.addWidget(self._build_ppo_box())
        layout.addWidget(self._build_advanced())
        layout.addWidget(self._build_lora_box())
        self.continue_check = QCheckBox(
            "Continue from the current adapter", objectName="continueAdapterCheck"
        )
        self.continue_check.setToolTip(
            "Off: each run starts from a fresh LoRA adapter (the model is reloaded if its "
            "adapter was trained). On: keep training the adapter as it is now."
        )
        layout.addWidget(self.continue_check)
        self.rewards.table.cellChanged.connect(self._on_edited)
        self.apply_preset(next(iter(PRESETS)))

    def _build_ppo_box(self) -> QGroupBox:
        box = QGroupBox("PPO")
        form = QFormLayout(box)
        self.main_rows = SettingRows(PPOConfig, "main", form, self._on_setting_edited)
        # What followed the user's settings, and what contradicts them (hidden when empty).
        self.follow_note = QLabel(objectName="settingsFollowNote", wordWrap=True)
        self.problem_note = QLabel(objectName="settingsProblemNote", wordWrap=True)
        for note in (self.follow_note, self.problem_note):
            note.hide()
            form.addRow(note)
        return box

    def _build_advanced(self) -> QCollapsible:
        """The rest of PPOConfig, collapsed: the defaults suit most runs."""
        section = QCollapsible("Advanced")
        section.setObjectName("advancedSection")
        content = QWidget()
        form = QFormLayout(content)
        self.advanced_rows = SettingRows(PPOConfig, "advanced", form, self._on_setting_edited)
        section.addWidget(content)
        return section

    def _build_lora_box(self) -> QGroupBox:
        box = QGroupBox("LoRA adapter")
        self.lora_rows = SettingRows(LoraSpec, "main", QFormLayout(box), self._on_edited)
        return box

    def field_widget(self, name: str) -> QWidget:
        """The widget of a PPOConfig setting (or of a LoraSpec one, as 'lora.<name>')."""
        if name.startswith("lora."):
            return self.lora_rows.widgets[name.removeprefix("lora.")]
        rows = self.main_rows if name in self.main_rows.widgets else self.advanced_rows
        return rows.widgets[name]

    # presets
    def apply_preset(self, name: str) -> None:
        """Fill the form from a preset (unknown names, e.g. Custom, change nothing)."""
        if name not in PRESETS:
            return
        overrides, (rank, alpha), rewards = PRESETS[name]
        self.set_config(replace(PPOConfig(), **overrides))
        self.field_widget("lora.r").setValue(rank)
        self.field_widget("lora.alpha").setValue(alpha)
        self.rewards.set_specs(rewards)
        self.preset_combo.setCurrentText(name)

    def set_config(self, config: PPOConfig) -> None:
        """Show `config`; its values count as not set by the user (they may follow)."""
        self._base, self._user_set = config, set()
        self.blockSignals(True)
        self.main_rows.set_values(config)
        self.advanced_rows.set_values(config)
        self.blockSignals(False)
        self._show_notes([])
        self._sync_enabled()
        self.changed.emit()

    def _on_setting_edited(self, name: str) -> None:
        if self.signalsBlocked():
            return
        self._user_set.add(name)
        shown = self.config()
        # Settings the user left alone start from the preset's values each time, so a
        # minibatch that followed a small batch comes back when the batch grows again.
        wanted = replace(self._base, **{f: getattr(shown, f) for f in self._user_set})
        followed, adjustments = follow_user_settings(wanted, self._user_set)
        self.blockSignals(True)  # followers change without counting as the user's edits
        self.main_rows.set_values(followed)
        self.advanced_rows.set_values(followed)
        self.blockSignals(False)
        self._show_notes([_sentence(a.describe(_label)) for a in adjustments])
        self._on_edited()

    def _show_notes(self, notes: list[str]) -> None:
        self.follow_note.setText(" ".join(notes))
        self.follow_note.setVisible(bool(notes))
        problems = setting_problems(self.config(), _label)
        self.problem_note.setText(_sentence("; ".join(problems)))
        self.problem_note.setVisible(bool(problems))

    def _on_edited(self, *_args) -> None:
        if not self.signalsBlocked():
            if self.sender() is not self.preset_combo:
                self.preset_combo.setCurrentText(CUSTOM)
            self._sync_enabled()
            self.changed.emit()

    def _sync_enabled(self) -> None:
        adaptive = self.field_widget("kl_mode").currentText() == "adaptive"
        for name in ("target_kl", "kl_horizon"):  # settings of the adaptive controller
            self.field_widget(name).setEnabled(adaptive)

    # values out
    def config(self) -> PPOConfig:
        """The PPOConfig the form describes (core checks it when training starts)."""
        values = {**self.main_rows.values(), **self.advanced_rows.values()}
        return replace(self._base, **values)

    def lora(self) -> LoraSpec:
        return replace(LoraSpec(), **self.lora_rows.values())

    def set_prompt_sets(self, names: list[str], preferred: str = "demo") -> None:
        current = self.prompt_set_combo.currentText() or preferred
        self.prompt_set_combo.clear()
        self.prompt_set_combo.addItems(names)
        if current in names:
            self.prompt_set_combo.setCurrentText(current)

    def prompt_set(self) -> str:
        return self.prompt_set_combo.currentText()


_LABELS = {field.name: field.setting.label for field in settings_of(PPOConfig)}


def _label(name: str) -> str:
    """A PPOConfig field as the form names it inside a sentence ('batch size', 'KL mode')."""
    label = _LABELS.get(name, name)
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "." if text else ""
