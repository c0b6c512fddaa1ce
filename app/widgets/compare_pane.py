"""One side of Compare & Rate: the completion and its AI scores, without saying which
model wrote it (the rater is blind to the recipe)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.widgets.common import named, read_only_text


class ComparePane(QGroupBox):
    """A titled read-only completion with a scores line under it."""

    def __init__(self, title: str, text_name: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.text_view = read_only_text(text_name)
        # No keyboard focus: the rating keys (1/2/3/0, arrows) must reach the page.
        self.text_view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.text_view.setPlaceholderText("Generate a pair to see a completion here.")
        self.scores_label = named(QLabel(), text_name.replace("Completion", "Scores"))
        self.scores_label.setWordWrap(True)
        self.scores_label.setTextFormat(Qt.TextFormat.RichText)
        # Shown for an answer a run's checkpoint wrote (app/pages/compare_inspect.py).
        self.inspect_button = named(
            QPushButton("Inspect token by token"), text_name.replace("Completion", "InspectButton")
        )
        self.inspect_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # rating keys: the page's
        self.inspect_button.setVisible(False)
        self._shown: tuple[str, str] | None = None  # (prompt, completion) on view
        layout = QVBoxLayout(self)
        layout.addWidget(self.text_view, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.scores_label, 1)
        bottom.addWidget(self.inspect_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(bottom)

    def show_text(self, prompt: str, completion: str) -> None:
        """The prompt (muted) followed by the completion (bold)."""
        self._shown = (prompt, completion)
        self._render(prompt, completion)
        self.scores_label.setText("")

    def _render(self, prompt: str, completion: str) -> None:
        muted = self.palette().color(QPalette.ColorRole.PlaceholderText).name()
        self.text_view.clear()
        self.text_view.appendHtml(
            f'<p style="white-space: pre-wrap"><span style="color: {muted}">{escape(prompt)}'
            f"</span><b>{escape(completion)}</b></p>"
        )

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().changeEvent(event)
        # The muted colour is written into the text: a theme switched live redraws it
        # (the light theme's grey was near invisible on the dark background).
        if event.type() == QEvent.Type.PaletteChange and self._shown is not None:
            self._render(*self._shown)

    def clear(self, message: str = "") -> None:
        self._shown = None
        self.text_view.setPlainText(message)
        self.scores_label.setText("")
        self.inspect_button.setVisible(False)

    def set_inspectable(self, available: bool, enabled: bool, blind_hint: str) -> None:
        """Show the inspect button for a checkpoint's answer (enabled once voted on)."""
        self.inspect_button.setVisible(available)
        self.inspect_button.setEnabled(available and enabled)
        self.inspect_button.setToolTip(
            "This answer under the checkpoint that wrote it, token by token: log-probs, KL "
            "and what the trainer credits each token with"
            if enabled
            else blind_hint
        )

    def show_scores(self, names: Sequence[str], weights: Sequence[float], values: Sequence[float]):
        """Each source's raw score (with its weight when not 1) and the weighted sum."""
        parts = []
        total = 0.0
        for name, weight, value in zip(names, weights, values, strict=True):
            total += weight * value
            weight_text = f" ×{weight:g}" if weight != 1.0 else ""
            parts.append(f"{name}: <b>{value:+.3f}</b>{weight_text}")
        self.scores_label.setText(" · ".join(parts) + f" &nbsp;→&nbsp; sum <b>{total:+.3f}</b>")

    def show_verdict(self, text: str) -> None:
        self.setTitle(text)
