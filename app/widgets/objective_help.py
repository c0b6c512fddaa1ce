"""The dashboard's "What am I looking at?" box: the run's algorithm explained in a few
lines for a newcomer (texts: app/algorithms.py, `Visuals.help`), folded away until the
header's button opens it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QToolButton, QVBoxLayout, QWidget

from app.widgets.common import named

HELP_LINES = 9
"""The open box is at most this many lines tall (it scrolls past): the plots keep room."""


class ObjectiveHelp(QFrame):
    """A collapsible box of plain text; `toggle_button` (for the dashboard's header)
    opens and closes it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("objectiveHelp")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.toggle_button = named(QToolButton(), "objectiveHelpButton")
        self.toggle_button.setText("What am I looking at?")
        self.toggle_button.setCheckable(True)
        self.toggle_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle_button.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle_button.setToolTip("What each plot of this algorithm shows, in plain words")
        self.toggle_button.toggled.connect(self.set_open)
        self._label = named(QLabel(), "objectiveHelpText")
        self._label.setWordWrap(True)
        self._label.setTextFormat(Qt.TextFormat.PlainText)
        self._label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        scroll = QScrollArea()
        scroll.setWidget(self._label)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMaximumHeight(HELP_LINES * self.fontMetrics().lineSpacing() + 8)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(scroll)
        self.setVisible(False)

    def set_text(self, text: str) -> None:
        """The algorithm's explanation (the button hides where there is none)."""
        self._label.setText(text)
        self.toggle_button.setVisible(bool(text))
        if not text:
            self.toggle_button.setChecked(False)

    def text(self) -> str:
        return self._label.text()

    def set_open(self, is_open: bool) -> None:
        if self.toggle_button.isChecked() != is_open:
            self.toggle_button.setChecked(is_open)  # toggled calls back here
            return
        self.toggle_button.setArrowType(
            Qt.ArrowType.DownArrow if is_open else Qt.ArrowType.RightArrow
        )
        self.setVisible(is_open)

    def is_open(self) -> bool:
        return self.toggle_button.isChecked()
