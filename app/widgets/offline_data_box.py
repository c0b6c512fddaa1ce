"""Where an offline trainer's data comes from, on the Train form (shown for DPO/IPO, KTO
and SFT in place of the reward): whose feedback (`--from human|ai|all`), for KTO whether
the comparisons count too (`--no-pairs`), for SFT a demonstrations file (`--data`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from app.algorithms import AlgorithmChoice
from app.widgets.common import named, wrapping_label
from core.offline.config import FROM_CHOICES


@dataclass(frozen=True)
class OfflineData:
    """The data source the box describes (plain data for app.jobs.offline)."""

    source: str = "all"
    with_pairs: bool = True
    data_file: Path | None = None


class OfflineDataBox(QGroupBox):
    """The data source of one offline algorithm; `changed` fires on any edit."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Data (from the store)", parent)
        self.setObjectName("offlineDataBox")
        self.source_combo = named(QComboBox(), "offlineSourceCombo")
        self.source_combo.addItems(FROM_CHOICES)
        self.source_combo.setCurrentText("all")
        self.source_combo.setToolTip(
            "Whose feedback to learn from: yours (human), the AI judge's (ai), or both."
        )
        self.pairs_check = named(QCheckBox("Comparisons too (their sides)"), "ktoPairsCheck")
        self.pairs_check.setChecked(True)
        self.pairs_check.setToolTip(
            "KTO: besides the thumbs, each comparison's preferred side counts as desirable "
            "and the other as undesirable."
        )
        self.data_edit = named(QLineEdit(), "sftDataEdit")
        self.data_edit.setPlaceholderText("empty: the preferred sides of the comparisons")
        self.data_edit.setToolTip("A .jsonl or .csv file with prompt and response columns.")
        browse = named(QPushButton("…"), "sftDataBrowseButton")
        browse.setMaximumWidth(32)
        browse.clicked.connect(self._on_browse)
        file_row = QHBoxLayout()
        file_row.addWidget(self.data_edit, 1)
        file_row.addWidget(browse)
        self.file_widget = QWidget()
        file_row.setContentsMargins(0, 0, 0, 0)
        self.file_widget.setLayout(file_row)
        self.hint_label = wrapping_label("offlineDataHint")
        self._form = QFormLayout(self)
        self._form.addRow("Learn from", self.source_combo)
        self._form.addRow(self.pairs_check)
        self._form.addRow("Demonstrations", self.file_widget)
        self._form.addRow(self.hint_label)
        for signal in (self.source_combo.currentTextChanged, self.data_edit.textChanged):
            signal.connect(lambda _v: self.changed.emit())
        self.pairs_check.toggled.connect(lambda _v: self.changed.emit())

    def show_for(self, choice: AlgorithmChoice) -> None:
        """Show the rows `choice` uses (the box is hidden for on-policy algorithms)."""
        self.setVisible(choice.offline)
        self._form.setRowVisible(self.pairs_check, choice.spec.data == "thumbs")
        self._form.setRowVisible(self.file_widget, choice.spec.data == "demonstrations")
        self.hint_label.setText(f"Learns from {choice.data}." if choice.data else "")

    def value(self) -> OfflineData:
        text = self.data_edit.text().strip()
        return OfflineData(
            self.source_combo.currentText(),
            self.pairs_check.isChecked(),
            Path(text) if text else None,
        )

    def set_recorded_source(self, source: str | None) -> None:
        """Show the source a run recorded (resuming it): a --from choice, or a file."""
        if source in FROM_CHOICES:
            self.source_combo.setCurrentText(source)
            self.data_edit.clear()
        elif source:
            self.data_edit.setText(source)

    def _on_browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Demonstrations", "", "Demonstrations (*.jsonl *.csv)"
        )
        if path:
            self.data_edit.setText(path)
