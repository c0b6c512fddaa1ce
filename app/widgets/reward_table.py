"""A small table of reward sources with weights: kind, argument, weight per row, and on
the Train page a "Watch only" column: a watched source is scored and plotted beside the
trained reward (`watch/<name>`), never trained on."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from app.widgets.common import cell_widget, header_item
from app.widgets.elided_line_edit import ElidedLineEdit
from core.rewards import REWARD_KINDS, RewardSpec, format_reward_spec, parse_reward_spec


class RewardTable(QWidget):
    """Edits a list of reward specs (`KIND[=ARG][@WEIGHT]`); `specs()` validates them."""

    def __init__(
        self,
        initial: Sequence[str] = ("sentiment",),
        parent: QWidget | None = None,
        rows: int = 3,
        watch_column: bool = False,
    ):
        super().__init__(parent)
        self.watch_column = watch_column
        headers = ["Reward source", "Argument", "Weight"] + (["Watch only"] if watch_column else [])
        self.table = QTableWidget(0, len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        if watch_column:
            header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
            header_item(self.table, 3).setToolTip(
                "Scored and plotted as watch/<name> beside the trained reward, never trained "
                "on: a gold signal. The guardrails pause the run when the trained reward rises "
                "while a watched one falls."
            )
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        row_height = self.table.verticalHeader().defaultSectionSize()
        self.table.setMaximumHeight(
            self.table.horizontalHeader().sizeHint().height() + rows * row_height + 4
        )
        self.table.setToolTip(
            "The reward is the weighted sum of these sources.\n" + "\n".join(REWARD_KINDS.values())
        )
        add = QPushButton("+")
        add.setToolTip("Add a reward source")
        add.setFixedWidth(32)
        add.clicked.connect(lambda: self.add_row("sentiment"))
        remove = QPushButton("−")
        remove.setToolTip("Remove the selected reward source")
        remove.setFixedWidth(32)
        remove.clicked.connect(self._on_remove)
        buttons = QVBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self.set_specs(initial)

    def add_row(self, spec_text: str) -> None:
        spec = parse_reward_spec(spec_text)
        row = self.table.rowCount()
        self.table.insertRow(row)
        kind = QComboBox()
        for name, help_text in REWARD_KINDS.items():
            kind.addItem(name)
            kind.setItemData(kind.count() - 1, help_text, role=3)  # Qt.ToolTipRole
        kind.setCurrentText(spec.kind)
        # A reward model's folder is longer than the column: elided in the middle.
        argument = ElidedLineEdit(spec.arg or "")
        argument.setPlaceholderText("(none)")
        weight = QDoubleSpinBox(minimum=-100.0, maximum=100.0, singleStep=0.1, decimals=3)
        weight.setValue(spec.weight)
        self.table.setCellWidget(row, 0, kind)
        self.table.setCellWidget(row, 1, argument)
        self.table.setCellWidget(row, 2, weight)
        if self.watch_column:
            watch = QCheckBox()
            watch.setObjectName(f"watchCheck{row}")
            watch.setChecked(spec.watch)
            self.table.setCellWidget(row, 3, watch)

    def set_specs(self, texts: Sequence[str]) -> None:
        self.table.setRowCount(0)
        for text in texts:
            self.add_row(text)

    def spec_texts(self) -> list[str]:
        """The rows as spec strings (unvalidated)."""
        texts = []
        for row in range(self.table.rowCount()):
            kind = cell_widget(self.table, row, 0, QComboBox).currentText()
            arg = cell_widget(self.table, row, 1, QLineEdit).text().strip()
            weight = cell_widget(self.table, row, 2, QDoubleSpinBox).value()
            watch = self.watch_column and cell_widget(self.table, row, 3, QCheckBox).isChecked()
            spec = RewardSpec(kind, arg or None, weight, watch=watch)
            texts.append(format_reward_spec(spec))
        return texts

    def specs(self) -> list[RewardSpec]:
        """The rows as validated specs; RewardError names a bad row's problem."""
        return [parse_reward_spec(text) for text in self.spec_texts()]

    def _on_remove(self) -> None:
        row = self.table.currentRow()
        if row >= 0 and self.table.rowCount() > 1:
            self.table.removeRow(row)
