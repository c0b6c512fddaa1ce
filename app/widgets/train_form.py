"""The training form: the algorithm (PPO, GRPO, RLOO, DPO/IPO, KTO, SFT: the registry in
app/algorithms.py), reward sources with weights (on-policy algorithms) or the data source
(the trainers from stored feedback), the algorithm's main settings, the rest under a collapsed
"Advanced" section, LoRA settings, and presets.

The setting fields are generated from the settings the algorithm's config class and
LoraSpec declare (labels, tooltips, ranges, objectNames: app/widgets/settings_form.py),
so each algorithm shows only the settings it has; choosing another rebuilds them. A setting the user
left alone follows the ones they set (e.g. the minibatch follows the batch size), with a
note saying so; two settings the user set that contradict each other are named below the
fields.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from app.algorithms import ALGORITHMS, AlgorithmChoice
from app.widgets.common import named, wrapping_label
from app.widgets.offline_data_box import OfflineData, OfflineDataBox
from app.widgets.reward_table import RewardTable
from app.widgets.settings_form import SettingRows
from core.algorithms import DEFAULT_KIND
from core.config import LoraSpec
from core.config.settings import (
    follow_user_settings,
    inactive_settings,
    setting_problems,
    settings_of,
)

CUSTOM = "Custom"


class TrainForm(QWidget):
    """All settings of a training run; `changed` fires on any edit (and on a new
    algorithm, after `algorithm_changed`)."""

    changed = Signal()
    algorithm_changed = Signal(str)  # the new kind

    def __init__(self, parent: QWidget | None = None, kind: str = DEFAULT_KIND) -> None:
        super().__init__(parent)
        self._choice = ALGORITHMS[kind]
        self._base: Any = self._choice.config_class()  # what settings the user has not set show
        self._user_set: set[str] = set()  # config fields edited since the last preset
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.algorithm_combo = named(QComboBox(), "algorithmCombo")
        for choice in ALGORITHMS.values():
            self.algorithm_combo.addItem(choice.label, choice.kind)
        self.algorithm_combo.setToolTip(
            "PPO learns a value head as its baseline; GRPO and RLOO sample a group of "
            "responses per prompt and use the group instead (no value head). DPO/IPO, KTO "
            "and SFT learn straight from stored ratings or demonstrations, with no reward."
        )
        self.algorithm_combo.setCurrentIndex(list(ALGORITHMS).index(kind))
        self.algorithm_combo.activated.connect(
            lambda index: self.set_algorithm(self.algorithm_combo.itemData(index))
        )
        self.algorithm_summary = wrapping_label("algorithmSummary")
        self.algorithm_summary.setText(self._choice.summary)
        self.preset_combo = named(QComboBox(), "presetCombo")
        self.preset_combo.addItems([*self._choice.presets, CUSTOM])
        self.preset_combo.setToolTip("Settings known to work; edit any field afterwards.")
        self.preset_combo.activated.connect(
            lambda _i: self.apply_preset(self.preset_combo.currentText())
        )
        self.prompt_set_combo = named(QComboBox(), "trainPromptSetCombo")
        self.prompt_set_combo.setToolTip("The prompts rollouts are sampled from.")
        top = QFormLayout()
        top.addRow("Algorithm", self.algorithm_combo)
        top.addRow(self.algorithm_summary)
        top.addRow("Preset", self.preset_combo)
        top.addRow("Prompt set", self.prompt_set_combo)
        self._top = top
        layout.addLayout(top)
        self.reward_box = QGroupBox("Reward (weighted sum)")
        self.rewards = RewardTable(watch_column=True)
        self.guardrails_check = QCheckBox("Guardrails: pause when the run goes wrong")
        self.guardrails_check.setObjectName("guardrailsCheck")
        self.guardrails_check.setChecked(True)
        self.guardrails_check.setToolTip(
            "Pause the run, with a banner saying why, when the trained reward rises while a "
            "watched reward falls, the KL passes 3x its target, the response length drifts "
            "past 2x (or most answers hit the length limit), or the entropy collapses. The "
            "thresholds are the defaults of the CLI's --guard-* flags (user guide)."
        )
        reward_layout = QVBoxLayout(self.reward_box)
        reward_layout.addWidget(self.rewards)
        reward_layout.addWidget(self.guardrails_check)
        layout.addWidget(self.reward_box)
        self.data_box = OfflineDataBox()
        self.data_box.changed.connect(self._on_edited)
        layout.addWidget(self.data_box)
        layout.addWidget(self._build_settings_box())
        layout.addWidget(self._build_advanced())
        layout.addWidget(self._build_lora_box())
        self.continue_check = named(
            QCheckBox("Continue from the current adapter"), "continueAdapterCheck"
        )
        self.continue_check.setToolTip(
            "Off: each run starts from a fresh LoRA adapter (the model is reloaded if its "
            "adapter was trained). On: keep training the adapter as it is now."
        )
        layout.addWidget(self.continue_check)
        self.rewards.table.cellChanged.connect(self._on_edited)
        self._show_algorithm_sections()
        self.apply_preset(next(iter(self._choice.presets)))

    def _build_settings_box(self) -> QGroupBox:
        self.settings_box = QGroupBox(self._choice.label)
        self._main_form = QFormLayout(self.settings_box)
        cls = self._choice.config_class
        self.main_rows = SettingRows(cls, "main", self._main_form, self._on_setting_edited)
        # What followed the user's settings, and what contradicts them (hidden when empty).
        self.follow_note = wrapping_label("settingsFollowNote")
        self.problem_note = wrapping_label("settingsProblemNote")
        for note in (self.follow_note, self.problem_note):
            note.hide()
            self._main_form.addRow(note)
        return self.settings_box

    def _build_advanced(self) -> QCollapsible:
        """The rest of the algorithm's settings, collapsed: the defaults suit most runs."""
        section = QCollapsible("Advanced")
        section.setObjectName("advancedSection")
        content = QWidget()
        self._advanced_form = QFormLayout(content)
        cls = self._choice.config_class
        self.advanced_rows = SettingRows(
            cls, "advanced", self._advanced_form, self._on_setting_edited
        )
        section.addWidget(content)
        self.advanced_section = section
        return section

    # the algorithm
    def algorithm(self) -> AlgorithmChoice:
        """The chosen algorithm's registry entry."""
        return self._choice

    def set_algorithm(self, kind: str) -> None:
        """Show `kind`'s settings, filled from its first preset (the reward, LoRA and
        prompt set stay as they are)."""
        if kind == self._choice.kind:
            return
        self._choice = ALGORITHMS[kind]
        self.algorithm_combo.setCurrentIndex(list(ALGORITHMS).index(kind))
        self.algorithm_summary.setText(self._choice.summary)
        self.settings_box.setTitle(self._choice.label)
        cls = self._choice.config_class
        notes = (self.follow_note, self.problem_note)
        for note in notes:
            self._main_form.takeRow(note)  # kept: they go back below the new rows
        for form in (self._main_form, self._advanced_form):
            while form.rowCount():
                form.removeRow(0)  # deletes the old algorithm's widgets
        self.main_rows = SettingRows(cls, "main", self._main_form, self._on_setting_edited)
        for note in notes:
            self._main_form.addRow(note)
        self.advanced_rows = SettingRows(
            cls, "advanced", self._advanced_form, self._on_setting_edited
        )
        self.preset_combo.clear()
        self.preset_combo.addItems([*self._choice.presets, CUSTOM])
        name = next(iter(self._choice.presets), None)
        overrides = self._choice.presets[name][0] if name else {}
        self.set_config(replace(cls(), **overrides))
        if name:
            self.preset_combo.setCurrentText(name)
        self._show_algorithm_sections()
        self.algorithm_changed.emit(kind)
        self.changed.emit()

    def _show_algorithm_sections(self) -> None:
        """On-policy: the reward and the prompt set; offline: where the data comes from."""
        offline = self._choice.offline
        self.reward_box.setVisible(not offline)
        self._top.setRowVisible(self.prompt_set_combo, not offline)
        self.data_box.show_for(self._choice)

    def _build_lora_box(self) -> QGroupBox:
        box = QGroupBox("LoRA adapter")
        self.lora_rows = SettingRows(LoraSpec, "main", QFormLayout(box), self._on_edited)
        return box

    def field_widget(self, name: str) -> QWidget:
        """The widget of a config setting (or of a LoraSpec one, as 'lora.<name>')."""
        if name.startswith("lora."):
            return self.lora_rows.widgets[name.removeprefix("lora.")]
        rows = self.main_rows if name in self.main_rows.widgets else self.advanced_rows
        return rows.widgets[name]

    # presets
    def apply_preset(self, name: str) -> None:
        """Fill the form from a preset (unknown names, e.g. Custom, change nothing)."""
        presets = self._choice.presets
        if name not in presets:
            return
        overrides, (rank, alpha), rewards = presets[name]
        self.set_config(replace(self._choice.config_class(), **overrides))
        for key, value in (("lora.r", rank), ("lora.alpha", alpha)):
            spin = self.field_widget(key)
            assert isinstance(spin, QSpinBox), key  # LoraSpec's r and alpha are ints
            spin.setValue(value)
        if rewards:  # the offline presets name none: the reward table stays as it is
            self.rewards.set_specs(rewards)
        self.preset_combo.setCurrentText(name)

    def set_config(self, config: Any) -> None:
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
        self._show_notes([_sentence(a.describe(self._label)) for a in adjustments])
        self._on_edited()

    def _show_notes(self, notes: list[str]) -> None:
        self.follow_note.setText(" ".join(notes))
        self.follow_note.setVisible(bool(notes))
        problems = setting_problems(self.config(), self._label)
        self.problem_note.setText(_sentence("; ".join(problems)))
        self.problem_note.setVisible(bool(problems))

    def _on_edited(self, *_args) -> None:
        if not self.signalsBlocked():
            if self.sender() is not self.preset_combo:
                self.preset_combo.setCurrentText(CUSTOM)
            self._sync_enabled()
            self.changed.emit()

    def _sync_enabled(self) -> None:
        """Grey out the settings that do nothing with the others' values (their declared
        `active_when`, core.config.settings): the form names no field."""
        widgets = {**self.main_rows.widgets, **self.advanced_rows.widgets}
        values = {**self.main_rows.values(), **self.advanced_rows.values()}
        inactive = inactive_settings(self._choice.config_class, values)
        for name, widget in widgets.items():
            widget.setEnabled(name not in inactive)

    def _label(self, name: str) -> str:
        """A setting as the form names it inside a sentence ('batch size', 'KL mode')."""
        labels = {f.name: f.setting.label for f in settings_of(self._choice.config_class)}
        label = labels.get(name, name)
        return label[:1].lower() + label[1:] if label[1:2].islower() else label

    # values out
    def config(self) -> Any:
        """The config the form describes (core checks it when training starts)."""
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

    def offline_data(self) -> OfflineData:
        """Where an offline algorithm's data comes from (the data box)."""
        return self.data_box.value()


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "." if text else ""
