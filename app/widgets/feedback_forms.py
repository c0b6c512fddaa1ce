"""The AI Feedback page's forms: the judge with its rubric, and the reward-model settings.

Forms only collect and check plain data (JudgeChoice, RMConfig...); the page runs jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.jobs.feedback import POLICY_JUDGE, JudgeChoice
from app.widgets.common import named
from core.config import DEMO_MODEL, RMConfig
from core.errors import InputFileError, StudioError
from core.judge.cache import DEMO_JUDGE
from core.judge.rubrics import PRESETS
from core.rewards.judge_templates import (
    PAIRWISE,
    PRESET_PREFIX,
    RubricTemplate,
    parse_template,
    preset_template,
)
from resources import resource_path

Reporter = Callable[[BaseException, str], object]
"""The app's error reporter: `AppState.errors.report(error, context)`."""
SOURCES = (
    ("All comparisons (human + AI)", "all"),
    ("Human comparisons only", "human"),
    ("AI comparisons only", "ai"),
)


def default_rubric_path() -> Path:
    """The shipped pairwise rubric (resources/rubrics/default.txt)."""
    return resource_path("rubrics", "default.txt")


class ModelChooser(QWidget):
    """An editable combo of model choices (item data = the value) plus a Folder… button;
    typed text is taken as a folder or hub id."""

    def __init__(self, name: str, choices: list[tuple[str, str]], tip: str) -> None:
        super().__init__()
        self.combo = named(QComboBox(editable=True), name)
        self.combo.setToolTip(tip)
        self.combo.setMinimumWidth(180)
        for text, value in choices:
            self.combo.addItem(text, value)
        self._extra_value: str | None = None
        browse = QPushButton("Folder…")
        browse.clicked.connect(self._on_browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo, 1)
        layout.addWidget(browse)

    def value(self) -> str:
        """The chosen item's value, or the text typed in."""
        text = self.combo.currentText().strip()
        index = self.combo.currentIndex()
        if index >= 0 and self.combo.itemText(index) == text:
            return str(self.combo.itemData(index))
        return text

    def set_extra(self, text: str | None, value: str | None) -> None:
        """Show (or, with None, drop) one extra choice after the fixed ones, e.g. the
        loaded model; the current choice is kept when it is still offered."""
        current = self.value()
        index = self.combo.findData(self._extra_value) if self._extra_value else -1
        if index >= 0:
            self.combo.removeItem(index)
        self._extra_value = value
        if text is not None and value is not None and self.combo.findData(value) < 0:
            self.combo.addItem(text, value)
        if current:
            self.select(current)

    def select(self, value: str) -> None:
        """Choose the item holding `value` (added when new)."""
        index = self.combo.findData(value)
        if index < 0:
            self.combo.addItem(value, value)
            index = self.combo.count() - 1
        self.combo.setCurrentIndex(index)

    def _on_browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder")
        if folder:
            self.select(folder)


class JudgeForm(QWidget):
    """Judge model, an editable pairwise rubric, how many pairs and the tie margin.

    `report(error, context)` shows errors of the rubric file actions (the app's reporter).
    """

    def __init__(self, report: Reporter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._report = report
        self.judge = ModelChooser(
            "judgeCombo",
            [
                ("Loaded model's base (adapter off)", POLICY_JUDGE),
                ("Demo judge (built-in, follows its rubric)", DEMO_JUDGE),
                ("Demo model (built-in)", DEMO_MODEL),
            ],
            "The judge reads the rubric and answers A or B; its next-token probabilities give "
            "P(left better). The loaded model's base shares its weights (no extra memory); "
            "a folder or hub id loads a second model. The demo judge is trained offline to "
            "follow the rubric presets (positivity, concision, positive-concise) and rubrics "
            "worded like them; it is built on first use (a few minutes).",
        )
        self.pairs_spin = named(QSpinBox(minimum=1, maximum=10000), "labelPairsSpin")
        self.pairs_spin.setValue(16)
        self.pairs_spin.setToolTip(
            "Pairs to judge: first those people compared (for the agreement figures), then "
            "unlabelled stored pairs, then new pairs sampled from the loaded model."
        )
        self.tie_spin = named(QDoubleSpinBox(minimum=0.0, maximum=0.5), "tieMarginSpin")
        self.tie_spin.setDecimals(2)
        self.tie_spin.setSingleStep(0.05)
        self.tie_spin.setToolTip("Verdict 'tie' when |P(left better) − 0.5| is at most this.")
        self.sample_check = QCheckBox("Sample new pairs from the loaded model when too few")
        self.sample_check.setObjectName("sampleNewPairsCheck")
        self.sample_check.setChecked(True)
        form = QFormLayout()
        form.addRow("Judge", self.judge)
        numbers = QHBoxLayout()
        numbers.addWidget(self.pairs_spin)
        numbers.addWidget(QLabel("Tie margin"))
        numbers.addWidget(self.tie_spin)
        numbers.addStretch(1)
        form.addRow("Pairs", numbers)
        form.addRow("", self.sample_check)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addLayout(self._build_rubric_row())
        self.rubric_edit = named(QPlainTextEdit(), "rubricEdit")
        self.rubric_edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.rubric_edit.setToolTip(
            "The judge's prompt. It must hold {prompt}, {response_a} and {response_b}, and "
            "should end with the answer cue (e.g. 'Answer:')."
        )
        self.rubric_edit.setMinimumHeight(120)
        self.rubric_edit.textChanged.connect(self._on_rubric_edited)
        layout.addWidget(self.rubric_edit, 1)
        self._source = str(default_rubric_path())
        self._loading = False
        self.load_rubric(default_rubric_path())

    def _build_rubric_row(self) -> QHBoxLayout:
        self.rubric_label = named(QLabel(), "rubricSource")
        open_button = named(QPushButton("Open…"), "openRubricButton")
        open_button.clicked.connect(self._on_open)
        save_button = named(QPushButton("Save as…"), "saveRubricButton")
        save_button.clicked.connect(self._on_save_as)
        reset_button = named(QPushButton("Default"), "defaultRubricButton")
        reset_button.setToolTip("Reload the shipped rubric (resources/rubrics/default.txt)")
        reset_button.clicked.connect(lambda: self.load_rubric(default_rubric_path()))
        self.preset_combo = named(QComboBox(), "rubricPresetCombo")
        self.preset_combo.addItem("Preset…", "")
        for name in PRESETS:
            self.preset_combo.addItem(name, name)
        self.preset_combo.setToolTip(
            "Load a rubric preset: positivity (the more positive, specific review wins), "
            "concision (the shorter answer that still answers wins), positive-concise (the "
            "more positive wins, the shorter between equals). The rubric is part of the "
            "judge: labelling again "
            "with another rubric labels the pairs again, as another judge."
        )
        self.preset_combo.activated.connect(self._on_preset)
        row = QHBoxLayout()
        row.addWidget(self.rubric_label, 1)
        row.addWidget(self.preset_combo)
        for button in (open_button, save_button, reset_button):
            row.addWidget(button)
        return row

    def load_preset(self, name: str) -> None:
        """Put a rubric preset's pairwise template in the editor."""
        template = preset_template(name, PAIRWISE)
        self._loading = True
        self.rubric_edit.setPlainText(template.text)
        self._loading = False
        self._source = template.source
        self._show_source(edited=False)

    def _on_preset(self, index: int) -> None:
        name = self.preset_combo.itemData(index)
        if name:  # the combo keeps showing the preset loaded (the label says if edited)
            self.load_preset(name)

    # rubric file
    def load_rubric(self, path: Path) -> None:
        """Put the text of `path` in the editor (InputFileError when unreadable)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise InputFileError(f"Cannot read rubric {path}: {error}. Check the path.") from None
        self._loading = True
        self.rubric_edit.setPlainText(text)
        self._loading = False
        self._source = str(path)
        self._show_source(edited=False)

    def save_rubric(self, path: Path) -> None:
        """Write the editor's text to `path`, which becomes the rubric's source."""
        self.rubric_template()
        try:
            Path(path).write_text(self.rubric_edit.toPlainText(), encoding="utf-8")
        except OSError as error:
            raise InputFileError(
                f"Cannot save the rubric to {path}: {error}. Choose a folder you can write to."
            ) from None
        self._source = str(path)
        self._show_source(edited=False)

    def _show_source(self, edited: bool) -> None:
        preset = self._source.removeprefix(PRESET_PREFIX)
        name = f"{preset} (preset)" if preset != self._source else Path(self._source).name
        self.rubric_label.setText(f"<b>Rubric</b> {name}{' (edited)' if edited else ''}")
        self.rubric_label.setToolTip(self._source)
        self._edited = edited

    def _on_rubric_edited(self) -> None:
        if not self._loading:
            self._show_source(edited=True)

    def _on_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a rubric", "", "Text (*.txt);;All (*)")
        if path:
            try:
                self.load_rubric(Path(path))
            except StudioError as error:
                self._report(error, "Opening the rubric")

    def _on_save_as(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the rubric as", "", "Text (*.txt)")
        if not path:
            return
        try:
            self.save_rubric(Path(path))
        except StudioError as error:
            self._report(error, "Saving the rubric")

    # values
    def rubric_source(self) -> str:
        return f"{self._source} (edited)" if self._edited else self._source

    def rubric_template(self) -> RubricTemplate:
        """The editor's rubric, checked (InputFileError naming the missing placeholders)."""
        return parse_template(self.rubric_edit.toPlainText(), self.rubric_source(), PAIRWISE)

    def choice(self, device: str) -> JudgeChoice:
        """The judge as plain data; StudioError when the form is incomplete."""
        model = self.judge.value()
        if not model:
            raise StudioError("Choose a judge: the loaded model, the demo model or a folder.")
        self.rubric_template()
        return JudgeChoice(model, self.rubric_edit.toPlainText(), self.rubric_source(), device)


class RewardModelForm(QWidget):
    """Which comparisons, which backbone, how long, and where to save the reward model."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source_combo = named(QComboBox(), "rmSourceCombo")
        for text, value in SOURCES:
            self.source_combo.addItem(text, value)
        self.base = ModelChooser(
            "rmBaseCombo",
            [("Demo model (built-in)", DEMO_MODEL)],
            "The backbone the reward model fine-tunes (LoRA + a scalar head): the demo "
            "model, a folder or a hub id; an earlier reward model folder fine-tunes it.",
        )
        self.epochs_spin = named(QSpinBox(minimum=1, maximum=100), "rmEpochsSpin")
        self.epochs_spin.setValue(RMConfig.epochs)
        self.lr_spin = named(QDoubleSpinBox(decimals=5), "rmLearningRateSpin")
        self.lr_spin.setRange(1e-5, 1e-1)
        self.lr_spin.setSingleStep(1e-4)
        self.lr_spin.setValue(RMConfig.learning_rate)
        self.out_edit = named(QLineEdit(), "rmOutEdit")
        self.out_edit.setToolTip("Empty: the next free <workspace>/reward_models/rm-N")
        browse = QPushButton("Folder…")
        browse.clicked.connect(self._on_browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(browse)
        numbers = QHBoxLayout()
        numbers.addWidget(self.epochs_spin)
        numbers.addWidget(QLabel("Learning rate"))
        numbers.addWidget(self.lr_spin)
        numbers.addStretch(1)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Train on", self.source_combo)
        form.addRow("Backbone", self.base)
        form.addRow("Epochs", numbers)
        form.addRow("Save to", out_row)

    def set_default_out(self, folder: Path) -> None:
        """Show where an empty 'Save to' saves."""
        self.out_edit.setPlaceholderText(str(folder))

    def source(self) -> str:
        return str(self.source_combo.currentData())

    def out(self) -> Path | None:
        text = self.out_edit.text().strip()
        return Path(text).expanduser() if text else None

    def config(self) -> RMConfig:
        """The RMConfig the form describes (defaults for what it does not show)."""
        base = self.base.value()
        if not base:
            raise StudioError("Choose a backbone for the reward model (e.g. the demo model).")
        return RMConfig(
            base=base, epochs=self.epochs_spin.value(), learning_rate=self.lr_spin.value()
        )

    def _on_browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save the reward model in")
        if folder:
            self.out_edit.setText(folder)
