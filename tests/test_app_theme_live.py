"""A theme switched live restyles text whose colour was written into it: Compare & Rate's
muted prompt (the light theme's grey was near invisible on the dark background)."""

from __future__ import annotations

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from app.theme import apply_theme, dark_palette
from app.widgets.compare_pane import ComparePane


def test_compare_pane_mutes_the_prompt_in_the_current_themes_colour(qtbot):
    app = QApplication.instance()
    apply_theme(app, "light")
    pane = ComparePane("Left", "leftCompletion")
    qtbot.addWidget(pane)
    pane.show()
    pane.show_text("The film was", " great.")
    dark_muted = dark_palette().color(QPalette.ColorRole.PlaceholderText).name()
    assert dark_muted not in pane.text_view.document().toHtml()
    try:
        apply_theme(app, "dark")
        qtbot.waitUntil(lambda: dark_muted in pane.text_view.document().toHtml())
        assert "great." in pane.text_view.toPlainText()
    finally:
        apply_theme(app, "light")
