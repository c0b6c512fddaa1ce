"""AI Feedback page, "Between people": each conflicting pair has one click to rate it again
(Compare & Rate opens on that very pair) and one to resolve it (stored as a resolution that
the exports then follow)."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt

from app.compare_pairs import SideCompletion
from app.widgets.people_panel import RESOLVE_PICKS
from core.export.ratings import export_pairs
from tests.app.test_app_feedback import add_pairs
from tests.app.test_app_support import click, wait_idle, window_fixture  # noqa: F401 (fixture)


def _conflict(window):
    """A pair ann and bob voted on both ways, and a third answer to the same prompt."""
    store = window.state.store
    ids = add_pairs(store, "The film was", ["dull", "bright", "fine"])
    prompt_id = store.generation(ids[0]).prompt_id
    store.add_comparison(prompt_id, ids[0], ids[1], "left", "ann")
    store.add_comparison(prompt_id, ids[0], ids[1], "right", "bob")
    return prompt_id, ids


def _people(qtbot, window):
    feedback = window.feedback_page
    window.show_page(feedback)
    feedback.feedback_tabs.setCurrentWidget(feedback.people_panel)
    click(qtbot, feedback, "refreshAgreementButton")
    qtbot.waitUntil(lambda: feedback.people_panel.conflicts_table.rowCount() == 1, timeout=60_000)
    wait_idle(qtbot, window)
    return feedback.people_panel


def test_rerate_opens_that_pair_at_once_not_the_one_shown_before(qtbot, window):  # noqa: F811
    prompt_id, ids = _conflict(window)
    compare = window.compare_page
    compare.rate_stored_pairs("test", [(prompt_id, ids[2], ids[0])])  # another pair shown
    compare.mode_combo.setCurrentIndex(2)  # and the page left in Rank mode
    panel = _people(qtbot, window)
    rerate, _resolve = panel.action_buttons(0)
    compare._generating = True  # a pair for this prompt is on its way meanwhile

    qtbot.mouseClick(rerate, Qt.MouseButton.LeftButton)

    assert window.nav.currentRow() == window.stack.indexOf(compare)
    assert compare.mode_combo.currentIndex() == 0
    pair = compare.current_pair()
    assert compare.current_prompt().id == prompt_id
    assert sorted(pair.generation_ids) == sorted(ids[:2]) and pair.verdict is None
    left, right = pair.shown()
    shown = [pane.text_view.toPlainText() for pane in (compare.left_pane, compare.right_pane)]
    assert shown == [f"The film was{pair.sides[i].text}" for i in (left, right)]
    assert {pair.sides[0].text, pair.sides[1].text} == {"dull", "bright"}
    # The generation in flight lands: it does not replace the pair queued to re-rate.
    prompt = compare.current_prompt()
    sides = [
        SideCompletion("A", "late one", 1, {}, None),
        SideCompletion("B", "late two", 2, {}, None),
    ]
    compare._on_generated(prompt, sides)
    assert compare.current_pair() is pair
    compare.rater_edit.setText("bob")
    compare.vote("left" if pair.generation_ids[left] == ids[0] else "right")
    assert window.state.store.comparisons("human")[-1].rater == "bob"


def test_resolve_stores_the_final_verdict_and_the_exports_follow_it(qtbot, window, tmp_path):  # noqa: F811
    prompt_id, ids = _conflict(window)
    store = window.state.store
    window.state.set_setting("ui/rater", "cid")
    panel = _people(qtbot, window)
    conflict = panel._conflicts[0]
    assert panel.value(panel.conflicts_table, 0, 1) == "conflict"
    _rerate, resolve = panel.action_buttons(0)
    assert resolve.isVisible() and [a.text() for a in resolve.menu().actions()] == [
        text for text, _pick in RESOLVE_PICKS
    ]
    before = store.comparisons()

    resolve.menu().actions()[1].trigger()  # "B is better"

    [row] = store.resolutions()
    assert (row.resolver, row.left_id, row.right_id, row.verdict) == (
        "cid", *conflict.generation_ids, "right"
    )  # fmt: skip
    assert store.comparisons() == before  # the raters' verdicts stay
    qtbot.waitUntil(lambda: panel.value(panel.conflicts_table, 0, 1) == "resolved: B (cid)",
                    timeout=60_000)  # fmt: skip
    wait_idle(qtbot, window)
    out = tmp_path / "pairs.jsonl"
    export_pairs(store, out)
    [exported] = map(json.loads, out.read_text().splitlines())
    assert (exported["chosen"], exported["rejected"]) == tuple(reversed(conflict.answers))
    assert "(1 resolved)" in panel.summary.text()
    screenshots(qtbot, window, "conflicts")
    # Two picks in a row: the second lands while the list is being read again after the
    # first; the list is read once more, so it shows the latest.
    actions = panel.action_buttons(0)[1].menu().actions()
    actions[0].trigger()
    actions[2].trigger()
    assert [r.verdict for r in store.resolutions()] == ["right", "left", "tie"]
    qtbot.waitUntil(lambda: panel.value(panel.conflicts_table, 0, 1) == "resolved: tie (cid)",
                    timeout=60_000)  # fmt: skip
    wait_idle(qtbot, window)


def screenshots(qtbot, window, name: str) -> None:
    """The window at 1280x800 and 1920x1080, light and dark, in /tmp (to look at)."""
    from PySide6.QtWidgets import QApplication

    from app.theme import apply_theme

    app = QApplication.instance()
    try:
        for theme in ("light", "dark"):
            apply_theme(app, theme, window)
            for width, height in ((1280, 800), (1920, 1080)):
                window.resize(width, height)
                qtbot.wait(50)
                window.grab().save(f"/tmp/{name}_{width}_{theme}.png")
    finally:
        apply_theme(app, "light", window)
