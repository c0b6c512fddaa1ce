"""Small widget helpers shared by the pages."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import (
    QApplication,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

Named = TypeVar("Named", bound=QObject)
Cell = TypeVar("Cell", bound=QWidget)


def qt_app() -> QApplication:
    """The running QApplication (the app's widgets exist only under one)."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        raise RuntimeError("no QApplication is running; create one first")
    return app


def named(obj: Named, name: str) -> Named:
    """obj with its objectName set, so a widget is built and named in one expression.

    PySide6 accepts `objectName=` in every constructor at run time, but its type stubs leave
    the property keywords out of overloaded constructors (QLabel, QPushButton, ...); naming
    through this keeps the objectName contracts and lets the type checker see the call.
    """
    obj.setObjectName(name)
    return obj


def wrapping_label(name: str, text: str = "") -> QLabel:
    """A named label that wraps its text (a status line or a result under a form)."""
    label = named(QLabel(text), name)
    label.setWordWrap(True)
    return label


def page_title(text: str) -> QLabel:
    """The bold title at the top of a page."""
    return named(QLabel(text), "pageTitle")


def hint(text: str) -> QLabel:
    """A muted, word-wrapped explanation."""
    label = named(QLabel(text), "hint")
    label.setWordWrap(True)
    return label


def read_only_text(name: str) -> QPlainTextEdit:
    """A named text view the user reads and copies from but never edits."""
    view = named(QPlainTextEdit(), name)
    view.setReadOnly(True)
    return view


def header_item(table: QTableWidget, column: int) -> QTableWidgetItem:
    """The header item of `column` (setHorizontalHeaderLabels made one per column)."""
    item = table.horizontalHeaderItem(column)
    if item is None:
        raise LookupError(f"{table.objectName()} has no header item for column {column}")
    return item


def cell_text(table: QTableWidget, row: int, column: int) -> str:
    """The text of a filled cell (tables filled row by row set every cell)."""
    item = table.item(row, column)
    if item is None:
        raise LookupError(f"{table.objectName()} has no item at ({row}, {column})")
    return item.text()


def cell_widget(table: QTableWidget, row: int, column: int, kind: type[Cell]) -> Cell:
    """The `kind` widget the table holds at (row, column), as set with setCellWidget."""
    widget = table.cellWidget(row, column)
    if not isinstance(widget, kind):
        raise LookupError(f"{table.objectName()} holds no {kind.__name__} at ({row}, {column})")
    return widget


def inform(parent: QWidget, title: str, text: str) -> QMessageBox:
    """A non-blocking information box (opened, never exec'd, so the loop keeps running)."""
    box = QMessageBox(
        QMessageBox.Icon.Information, title, text, QMessageBox.StandardButton.Ok, parent
    )
    box.setObjectName("infoDialog")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


class HeaderedTable(QTableWidget):
    """A QTableWidget whose two headers were made here and are kept as `column_header` and
    `row_header`: call the headers through these, never through horizontalHeader() or
    verticalHeader().

    Why: the headers QTableView makes for itself are C++ objects that Python meets only
    when horizontalHeader()/verticalHeader() wraps them, and PySide finds a wrapper by the
    object's address. A wrapper left behind by a C++-made widget that has since died is not
    always dropped, so under load a new header could take that address and come back as the
    old 'QWidget' wrapper: building the AI Feedback page failed twice with "'QWidget' object
    has no attribute 'setDefaultSectionSize'". A header made in Python registers its own,
    typed wrapper when it is made, and these references keep it alive with the table.
    """

    def __init__(self, rows: int, columns: int, parent: QWidget | None = None) -> None:
        super().__init__(rows, columns, parent)
        self.column_header = QHeaderView(Qt.Orientation.Horizontal, self)
        self.row_header = QHeaderView(Qt.Orientation.Vertical, self)
        for header in (self.column_header, self.row_header):
            # As QTableView sets up the headers it makes itself.
            header.setSectionsClickable(True)
            header.setHighlightSections(True)
        self.setHorizontalHeader(self.column_header)
        self.setVerticalHeader(self.row_header)
