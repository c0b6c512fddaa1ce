"""At 1280x800, light and dark, every control of the journey a user reaches for is in the
window without scrolling: the welcome's demo button (first start) and the Model page's
Load, Compare & Rate's Generate and vote buttons (pairs and thumbs), the Train page's run
bar, the AI Feedback page's Label pairs and Train reward model. "In view" means drawn whole:
inside the window, shown, and no scroll area or neighbour covering any of it."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QPushButton, QScrollArea, QVBoxLayout, QWidget

from tests.app.test_app_support import window_fixture  # noqa: F401 (fixture)

JOURNEY = {
    "model_page": ("welcomeDemoButton", "loadModelButton"),
    "compare_page": (
        "generatePairButton",
        "rateLeftButton",
        "rateRightButton",
        "rateTieButton",
        "rateBothBadButton",
    ),
    "train_page": (
        "startTrainingButton",
        "pauseTrainingButton",
        "resumeTrainingButton",
        "stopTrainingButton",
    ),
    "feedback_page": ("labelPairsButton", "stopLabellingButton", "trainRewardModelButton"),
}
"""Page attribute of the main window -> objectNames of the buttons that must show whole."""


def hidden_part(window, button: QPushButton) -> str | None:
    """Why `button` is not wholly in view in `window` (None when it is)."""
    if not button.isVisible():
        return "not visible"
    box = QRect(button.mapTo(window, button.rect().topLeft()), button.size())
    if not window.rect().contains(box):
        return f"outside the window: {box} not in {window.rect()}"
    if button.visibleRegion().boundingRect() != button.rect():
        return f"partly covered or scrolled away: {button.visibleRegion().boundingRect()}"
    return None


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_journey_controls_in_view_at_1280x800(qtbot, window, theme):
    window.state.set_setting("ui/theme", theme)
    window._apply_theme()
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.size().width() == 1280 and window.size().height() == 800)
    problems = {}
    for page_name, buttons in JOURNEY.items():
        page = getattr(window, page_name)
        window.show_page(page)
        qtbot.wait(50)  # the layout settles at the new page
        for name in buttons:
            button = window.findChild(QPushButton, name)
            assert button is not None, name
            why = hidden_part(window, button)
            if why is not None:
                problems[f"{page_name}/{name}"] = why
    # Thumbs: the single-answer mode swaps the vote buttons for the thumb buttons.
    compare = window.compare_page
    window.show_page(compare)
    compare.mode_combo.setCurrentIndex(1)
    qtbot.wait(50)
    for name in ("thumbUpButton", "thumbDownButton"):
        why = hidden_part(window, window.findChild(QPushButton, name))
        if why is not None:
            problems[f"compare_page/{name}"] = why
    assert not problems, problems


def test_a_button_scrolled_out_of_view_is_caught(qtbot):
    """The check itself: a button below the fold of a scroll area is reported."""
    root = QWidget()
    qtbot.addWidget(root)
    content = QWidget()
    column = QVBoxLayout(content)
    spacer = QWidget()
    spacer.setMinimumHeight(600)
    column.addWidget(spacer)
    below = QPushButton("below the fold")
    column.addWidget(below)
    scroll = QScrollArea()
    scroll.setWidget(content)
    scroll.setWidgetResizable(True)
    QVBoxLayout(root).addWidget(scroll)
    root.resize(300, 300)
    root.show()
    qtbot.waitExposed(root)
    assert hidden_part(root, below) is not None
    scroll.ensureWidgetVisible(below)
    qtbot.waitUntil(lambda: hidden_part(root, below) is None)
