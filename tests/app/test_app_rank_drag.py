"""Rank mode by drag: the answers as a list dragged into order (a tick ties a row with the
one above), saved with Save ranking as the pairs the ranking implies; the number keys
edit the same order."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt

from app.compare_pairs import SideCompletion
from app.widgets.rank_box import RankBox
from tests.app.test_app_conflict_actions import screenshots
from tests.app.test_app_support import window_fixture  # noqa: F401 (fixture)

TEXTS = ["It was fine.", "Loved every minute of it!", "Dull and slow.", "Good, not great."]


def _drag(box: RankBox, row: int, to: int) -> None:
    """Row `row` dropped so that it ends at row `to`, as the list's internal move carries
    it out (a model move; its destination is the row it goes before)."""
    if row != to:
        destination = to + 1 if to > row else to
        assert box.rank_list.model().moveRow(QModelIndex(), row, QModelIndex(), destination)


def _tick(box: RankBox, row: int) -> None:
    box.rank_list.item(row).setCheckState(Qt.CheckState.Checked)


def test_dragging_rows_orders_the_answers_and_a_tick_ties_them(qtbot):
    box = RankBox()
    qtbot.addWidget(box)
    done = []
    box.completed.connect(done.append)
    box.set_answers(TEXTS)
    assert box.rank_list.count() == 4 and box.rank_list.groups() == [[0], [1], [2], [3]]

    _drag(box, 1, 0)  # "Loved every minute" to the top
    assert box.groups == [[1], [0], [2], [3]] and box.text() == "2 > 1 > 3 > 4"
    _drag(box, 3, 1)  # "Good, not great." second
    _tick(box, 2)  # "It was fine." ties with it
    assert box.text() == "2 > 4 = 1 > 3" and not box.done and done == []
    _tick(box, 0)  # the top row ties with nothing
    assert box.rank_list.item(0).checkState() == Qt.CheckState.Unchecked
    assert box.text() == "2 > 4 = 1 > 3"

    qtbot.mouseClick(box.save_button, Qt.MouseButton.LeftButton)
    assert done == [((1,), (3, 0), (2,))] and box.done
    assert not box.rank_list.isEnabled() and not box.save_button.isEnabled()
    _drag(box, 0, 3)  # a saved ranking stays as saved
    assert box.groups == [[1], [3, 0], [2]] and len(done) == 1


def test_keys_and_drag_edit_one_order(qtbot):
    box = RankBox()
    qtbot.addWidget(box)
    done = []
    box.completed.connect(done.append)
    box.set_answers(TEXTS)
    box.pick(2)
    box.tie()
    box.pick(0)  # keys: 3 = 1 so far; the list shows them on top, tied
    order = [box.rank_list.item(r).data(Qt.ItemDataRole.UserRole) for r in range(4)]
    assert order == [2, 0, 1, 3]
    assert box.rank_list.item(1).checkState() == Qt.CheckState.Checked
    _drag(box, 3, 0)  # then a drag: "Good, not great." best; the list's order is the order
    assert box.text() == "4 > 3 = 1 > 2" and not box.done
    box.undo()  # Backspace takes the last one back; its number places it again
    assert box.text() == "4 > 3 = 1"
    box.pick(1)
    assert done == [((3,), (2, 0), (1,))]


def test_rank_mode_saves_a_dragged_ranking_as_its_pairs(qtbot, window):  # noqa: F811
    page = window.compare_page
    window.show_page(page)
    page.mode_combo.setCurrentIndex(2)
    prompt = page.current_prompt()
    sides = [SideCompletion(recipe, text, seed, {}, None)
             for seed, (recipe, text) in enumerate(zip("AABB", TEXTS, strict=True))]  # fmt: skip
    page._on_rank_generated(prompt, sides)
    box = page.rank_box
    assert box.count == 4 and box.rank_list.isEnabled()
    item = page._ranks[prompt.id]
    shown = item.texts
    best = shown.index("Loved every minute of it!")
    _drag(box, best, 0)
    rows_text = [box.rank_list.item(r).text() for r in range(4)]
    worst = next(r for r, text in enumerate(rows_text) if "Dull" in text)
    _drag(box, worst, 3)
    _tick(box, 2)  # the two middle ones tie
    screenshots(qtbot, window, "rank_drag")
    qtbot.mouseClick(box.save_button, Qt.MouseButton.LeftButton)

    rows = window.state.store.comparisons("human")
    assert len(rows) == 6 and len({row.detail["ranking"] for row in rows}) == 1
    by_texts = {(row.left_text, row.right_text): row.verdict for row in rows}
    assert {v for (left, _), v in by_texts.items() if left == "Loved every minute of it!"} == {
        "left"
    }
    middle = {by_texts.get(("It was fine.", "Good, not great.")),
              by_texts.get(("Good, not great.", "It was fine."))}  # fmt: skip
    assert middle - {None} == {"tie"}
    assert all(right != "Loved every minute of it!" for _left, right in by_texts)
    assert all(left != "Dull and slow." for left, _right in by_texts)
    assert "Saved ranking" in page.status_label.text() and "(6 pairs)" in page.status_label.text()
