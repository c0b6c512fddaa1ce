"""Small widget helpers shared by the pages."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QPlainTextEdit, QWidget

Named = TypeVar("Named", bound=QObject)


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


def inform(parent: QWidget, title: str, text: str) -> QMessageBox:
    """A non-blocking information box (opened, never exec'd, so the loop keeps running)."""
    box = QMessageBox(
        QMessageBox.Icon.Information, title, text, QMessageBox.StandardButton.Ok, parent
    )
    box.setObjectName("infoDialog")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
