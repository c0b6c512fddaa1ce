"""Compare & Rate's Rank mode: four answers (two per recipe) put in order with the number
keys, = for a tie, Backspace to take one back; saved as the six pairs they imply."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.app.test_app_support import (  # noqa: F401 (fixtures)
    click,
    load_model,
    wait_idle,
    window_fixture,
)


def test_rank_four_answers_with_keys_and_a_tie(qtbot, window):
    load_model(qtbot, window)
    page = window.compare_page
    window.show_page(page)
    page.mode_combo.setCurrentIndex(2)
    assert page.rank_box.isVisible() and not page.left_pane.isVisible()
    click(qtbot, window, "generatePairButton")
    qtbot.waitUntil(lambda: page.rank_box.count == 4, timeout=60_000)
    wait_idle(qtbot, window)
    item = page._ranks[page.current_prompt().id]
    assert sorted(item.recipes) == sorted(page.recipes.variants()[i].label for i in (0, 0, 1, 1))
    page.setFocus()
    for key in (Qt.Key.Key_3, Qt.Key.Key_2, Qt.Key.Key_Backspace, Qt.Key.Key_Equal,
                Qt.Key.Key_1, Qt.Key.Key_4):  # fmt: skip
        qtbot.keyClick(page, key)
    assert not page.rank_box.done and page.rank_box.text() == "3 = 1 > 4"
    qtbot.keyClick(page, Qt.Key.Key_2)
    assert page.rank_box.done
    rows = window.state.store.comparisons("human")
    assert len(rows) == 6 and len({row.detail["ranking"] for row in rows}) == 1
    ids = item.generation_ids
    verdicts = {(row.left_id, row.right_id): row.verdict for row in rows}
    assert verdicts[ids[2], ids[0]] == "tie"
    assert verdicts[ids[0], ids[3]] == "left" and verdicts[ids[3], ids[1]] == "left"
    assert "Saved ranking 3 = 1 > 4 > 2" in page.status_label.text()
    qtbot.keyClick(page, Qt.Key.Key_1)  # a finished ranking takes no more keys
    assert len(window.state.store.comparisons("human")) == 6
    window.resize(1280, 800)
    page.grab().save("/tmp/rank_1280.png")
