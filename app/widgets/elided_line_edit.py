"""A line edit for paths: while not being edited, a text too long for it is shown elided
in the middle (the folder's start and the name's end stay readable), whole in its tooltip.
The text itself is never changed: `text()` is what the user typed."""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import QLineEdit, QStyle, QStyleOptionFrame, QWidget


class ElidedLineEdit(QLineEdit):
    """A QLineEdit that draws a too-long text elided in the middle while it has no focus."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.textChanged.connect(self.setToolTip)
        self.setToolTip(text)

    def shown_text(self) -> str:
        """What is drawn while not being edited."""
        text = self.text()
        if self.hasFocus():
            return text
        return self.fontMetrics().elidedText(
            text, Qt.TextElideMode.ElideMiddle, self._text_rect().width()
        )

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt override)
        shown = self.shown_text()
        if shown == self.text():  # fits, being edited, or empty (the placeholder)
            super().paintEvent(event)
            return
        painter = QPainter(self)
        option = QStyleOptionFrame()
        self.initStyleOption(option)
        self.style().drawPrimitive(QStyle.PrimitiveElement.PE_PanelLineEdit, option, painter, self)
        painter.setPen(self.palette().color(QPalette.ColorRole.Text))
        align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(self._text_rect(), align, shown)
        painter.end()

    def _text_rect(self) -> QRect:
        option = QStyleOptionFrame()
        self.initStyleOption(option)
        rect = self.style().subElementRect(QStyle.SubElement.SE_LineEditContents, option, self)
        return rect.adjusted(2, 0, -2, 0)  # QLineEdit's own horizontal margin
