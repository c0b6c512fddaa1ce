"""The typed widget helpers of app/widgets/common.py (named widgets, table cells, the
running QApplication) and AppState.require_store(): what they return, and the one clear
error where an invariant they rely on does not hold."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QHeaderView,
    QLabel,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
)

from app.app_state import AppState
from app.widgets.common import (
    HeaderedTable,
    cell_text,
    cell_widget,
    header_item,
    named,
    qt_app,
    read_only_text,
    wrapping_label,
)


def test_named_sets_the_object_name_and_returns_the_same_widget(qtbot):
    label = QLabel("text")
    qtbot.addWidget(label)
    assert named(label, "someLabel") is label
    assert label.objectName() == "someLabel"
    assert label.text() == "text"


def test_wrapping_label_and_read_only_text(qtbot):
    label = wrapping_label("statusLine", "Working…")
    view = read_only_text("answerView")
    qtbot.addWidget(label)
    qtbot.addWidget(view)
    assert (label.objectName(), label.text(), label.wordWrap()) == ("statusLine", "Working…", True)
    assert wrapping_label("emptyLine").text() == ""
    assert (view.objectName(), view.isReadOnly()) == ("answerView", True)


def test_table_helpers_read_cells_and_name_a_missing_one(qtbot):
    table = named(QTableWidget(1, 3), "someTable")
    qtbot.addWidget(table)
    table.setHorizontalHeaderLabels(["a", "b"])  # column 2 keeps no header item
    table.setItem(0, 0, _item("first"))
    table.setCellWidget(0, 1, QSpinBox())
    assert header_item(table, 1).text() == "b"
    assert cell_text(table, 0, 0) == "first"
    assert isinstance(cell_widget(table, 0, 1, QSpinBox), QSpinBox)
    with pytest.raises(LookupError, match="someTable has no header item for column 2"):
        header_item(table, 2)
    with pytest.raises(LookupError, match=r"someTable has no item at \(0, 2\)"):
        cell_text(table, 0, 2)
    with pytest.raises(LookupError, match=r"someTable holds no QComboBox at \(0, 1\)"):
        cell_widget(table, 0, 1, QComboBox)


def test_headered_table_answers_with_its_own_typed_headers(qtbot):
    """The headers are the Python-made ones the table keeps: horizontalHeader() and
    verticalHeader() hand back those very wrappers, typed QHeaderView, so no stale wrapper
    of another object can stand in for them; the labels and sizes still reach the view."""
    from app.widgets.feedback_tables import AgreementTable, VerdictTable

    table = HeaderedTable(2, 3)
    qtbot.addWidget(table)
    table.setHorizontalHeaderLabels(["a", "b", "c"])
    table.row_header.setDefaultSectionSize(31)
    assert table.horizontalHeader() is table.column_header
    assert table.verticalHeader() is table.row_header
    assert isinstance(table.verticalHeader(), QHeaderView)
    assert table.rowHeight(1) == 31 and header_item(table, 2).text() == "c"
    for made in (AgreementTable(), VerdictTable()):
        qtbot.addWidget(made)
        assert made.verticalHeader() is made.row_header
        assert made.row_header.defaultSectionSize() == 22


def test_qt_app_is_the_running_application(qtbot):
    assert qt_app() is QApplication.instance()


def test_require_store_is_the_open_store_until_close(qtbot, workspace, tmp_path):
    state = AppState(workspace, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    assert state.require_store() is state.store
    state.close()
    with pytest.raises(RuntimeError, match="the workspace is closed"):
        state.require_store()


def _item(text: str) -> QTableWidgetItem:
    return QTableWidgetItem(text)
