"""Compare & Rate's single answers mode: one answer, thumbs up (+) or down (-) with the
keyboard, stored as a rating of 1 / 0 with the rater's name; blind until rated."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QPlainTextEdit

from core.offline.data import kto_examples
from tests.app.test_app_support import (  # noqa: F401 (fixtures)
    click,
    load_model,
    wait_idle,
    window_fixture,
)


def test_thumbs_mode_rates_single_answers_with_the_keyboard(qtbot, window):
    load_model(qtbot, window)
    page = window.compare_page
    window.show_page(page)
    window.findChild(QComboBox, "rateModeCombo").setCurrentIndex(1)
    assert page.single_mode() and not page.right_pane.isVisible()
    assert not page.vote_buttons["left"].isVisible() and page.thumb_buttons["up"].isVisible()
    click(qtbot, window, "generatePairButton")
    qtbot.waitUntil(lambda: page.current_pair() is not None, timeout=60_000)
    wait_idle(qtbot, window)
    answer = page.current_pair()
    assert len(answer.sides) == 1 and page.left_pane.title() == "Answer"  # blind
    shown = window.findChild(QPlainTextEdit, "leftCompletion").toPlainText()
    if os.environ.get("RLHF_SCREENSHOT_DIR"):
        window.grab().save(os.path.join(os.environ["RLHF_SCREENSHOT_DIR"], "thumbs.png"))

    page.setFocus()
    qtbot.keyClick(page, Qt.Key.Key_Plus)
    store = window.state.store
    ratings = store.ratings("human")
    assert [(r.value, r.rater) for r in ratings] == [(1.0, page.rater_edit.text())]
    assert shown.endswith(ratings[0].response)
    assert page.left_pane.title().startswith("Answer: ") and "thumbs up" in page.left_pane.title()
    assert "1" in page.counter_label.text()
    qtbot.keyClick(page, Qt.Key.Key_Minus)  # one rating per answer
    qtbot.keyClick(page, Qt.Key.Key_1)  # pair votes do nothing in this mode
    assert len(store.ratings("human")) == 1 and not store.comparisons("human")

    qtbot.keyClick(page, Qt.Key.Key_Right)
    click(qtbot, window, "generatePairButton")
    qtbot.waitUntil(lambda: page.current_pair() is not None, timeout=60_000)
    wait_idle(qtbot, window)
    page.setFocus()
    qtbot.keyClick(page, Qt.Key.Key_Minus)
    assert [r.value for r in store.ratings("human")] == [1.0, 0.0]
    examples, _ = kto_examples(store.ratings("human"))
    assert [e.desirable for e in examples] == [True, False]

    # Back to pairs: both panes, the pair buttons, and the earlier pairs' state.
    window.findChild(QComboBox, "rateModeCombo").setCurrentIndex(0)
    assert page.right_pane.isVisible() and page.current_pair() is None
