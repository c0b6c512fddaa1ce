"""Compare & Rate: generate a pair in the background, rate it with the keyboard, find the
vote (with its recorded side order) in the store; AI scores show beside each side."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPlainTextEdit

from tests.app.test_app_support import (  # noqa: F401 (fixtures)
    click,
    load_model,
    wait_idle,
    window_fixture,
)


def _generate_pair(qtbot, window) -> None:
    window.show_page(window.compare_page)
    click(qtbot, window, "generatePairButton")
    qtbot.waitUntil(lambda: window.compare_page.current_pair() is not None, timeout=60_000)
    wait_idle(qtbot, window)  # the automatic AI scoring too


def test_generate_pair_and_rate_with_keyboard(qtbot, window):
    load_model(qtbot, window)
    _generate_pair(qtbot, window)
    left = window.findChild(QPlainTextEdit, "leftCompletion").toPlainText()
    right = window.findChild(QPlainTextEdit, "rightCompletion").toPlainText()
    prompt = window.compare_page.current_prompt().text
    assert left.startswith(prompt) and right.startswith(prompt)
    # Per-side AI scores (sentiment by default) and their sum are shown and stored.
    assert "sum" in window.findChild(QLabel, "leftScores").text()
    store = window.state.store
    pair = window.compare_page.current_pair()
    assert {row.source for row in store.scores(pair.generation_ids[0])} == {"sentiment"}

    # A note with N, then "2" = right better, typed with the keyboard.
    page = window.compare_page
    page.setFocus()
    qtbot.keyClick(page, Qt.Key.Key_N)
    qtbot.keyClicks(window.findChild(type(page.note_edit), "noteEdit"), "crisper")
    qtbot.keyClick(page.note_edit, Qt.Key.Key_Escape)
    qtbot.keyClick(page, Qt.Key.Key_2)
    rows = store.comparisons("human")
    assert len(rows) == 1
    row = rows[0]
    assert row.verdict == "right" and row.note == "crisper"
    assert row.rater == page.rater_edit.text()
    # The side order is recorded: the right text shown is the one the vote names.
    assert right.endswith(row.right_text)
    assert row.swapped == pair.swapped
    assert row.detail["right_recipe"] == pair.sides[pair.shown()[1]].variant
    assert "1" in window.findChild(QLabel, "ratedCounter").text()
    # Blind until the vote; then each pane names its recipe, and the tally counts the win.
    assert page.right_pane.title() == f"Right: {pair.recipe(pair.shown()[1])} — preferred"
    assert page.left_pane.title() == f"Left: {pair.recipe(pair.shown()[0])}"
    assert pair.recipe(pair.shown()[1]).endswith("T=1.0")
    tally = window.findChild(QLabel, "recipeTally").text()
    assert tally.startswith("1 vote this session: ")
    assert f"{pair.recipe(pair.shown()[1])} won <b>1</b>" in tally
    assert f"{pair.recipe(pair.shown()[0])} won <b>0</b>" in tally and "ties 0" in tally

    # A second vote on the same pair is refused; arrows move to the next prompt.
    qtbot.keyClick(page, Qt.Key.Key_1)
    assert len(store.comparisons("human")) == 1
    index = page._index
    qtbot.keyClick(page, Qt.Key.Key_Right)
    assert page._index == index + 1 and page.current_pair() is None


def test_side_order_is_randomised_per_pair(qtbot, window):
    load_model(qtbot, window)
    orders = set()
    for _ in range(8):
        _generate_pair(qtbot, window)
        assert window.compare_page.left_pane.title() == "Left"  # no recipe before a vote
        orders.add(window.compare_page.current_pair().swapped)
        if len(orders) == 2:
            break
        window.compare_page.move(1)
    assert orders == {True, False}
