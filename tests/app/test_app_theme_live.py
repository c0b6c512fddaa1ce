"""Dark theme readability: a theme switched live restyles text whose colour was written
into it (Compare & Rate's muted prompt), and check boxes in table cells are drawn."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from app.theme import apply_theme, dark_palette
from app.widgets.compare_pane import ComparePane
from app.widgets.reward_table import RewardTable


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


def test_an_unchecked_box_in_a_dark_table_cell_is_drawn(qtbot):
    """The Train page's "Watch only" boxes: Fusion outlined them in a shade of the window
    colour, invisible on the dark table's cells."""
    app = QApplication.instance()
    try:
        apply_theme(app, "dark")
        table = RewardTable(("sentiment",), watch_column=True)
        qtbot.addWidget(table)
        table.show()
        box = table.table.cellWidget(0, 3)
        assert not box.isChecked()
        image = box.grab().toImage()
        base = dark_palette().color(QPalette.ColorRole.Base).lightness()
        lightest = max(
            QColor(image.pixel(x, y)).lightness()
            for x in range(image.width())
            for y in range(image.height())
        )
        assert lightest > base + 60  # an outline stands out from the cell
    finally:
        apply_theme(app, "light")
