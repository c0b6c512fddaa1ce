"""A run's config as a table of settings (the Runs page): easier to read than JSON, and
each value's full text in its tooltip."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from app.run_kinds import flatten_config
from app.widgets.common import cell_text


class ConfigTable(QTableWidget):
    """A run's config as a two-column table (nested sections as dotted names)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 2, parent)
        self.setObjectName("runConfigTable")
        self.setHorizontalHeaderLabels(("Setting", "Value"))
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)

    def show_config(self, config: dict, error: str | None = None) -> None:
        rows = ([("error", error)] if error else []) + flatten_config(config)
        self.setRowCount(len(rows))
        for row, (name, value) in enumerate(rows):
            for column, text in enumerate((name, value)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.setItem(row, column, item)

    def settings(self) -> dict[str, str]:
        """{setting: value} as shown."""
        return {cell_text(self, r, 0): cell_text(self, r, 1) for r in range(self.rowCount())}
