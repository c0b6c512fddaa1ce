"""Small widget helpers shared by the pages."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget


def page_title(text: str) -> QLabel:
    """The bold title at the top of a page."""
    return QLabel(text, objectName="pageTitle")


def hint(text: str) -> QLabel:
    """A muted, word-wrapped explanation."""
    label = QLabel(text, objectName="hint")
    label.setWordWrap(True)
    return label


def inform(parent: QWidget, title: str, text: str) -> QMessageBox:
    """A non-blocking information box (opened, never exec'd, so the loop keeps running)."""
    box = QMessageBox(
        QMessageBox.Icon.Information, title, text, QMessageBox.StandardButton.Ok, parent
    )
    box.setObjectName("infoDialog")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
