"""AI Feedback page, "Between people": kappa for every two raters, alpha, each rater's
habits and pace, and the pairs they disagree on, from hand-made votes."""

from __future__ import annotations

from tests.app.test_app_feedback import add_pairs, page, wait_done  # noqa: F401 (fixture)
from tests.app.test_app_support import click, wait_idle, window_fixture  # noqa: F401 (fixture)


def test_people_panel_shows_kappa_habits_and_conflicts(qtbot, page):  # noqa: F811
    store = page.state.store
    ids = add_pairs(store, "The movie was", [f"text {i}" for i in range(6)])
    prompt_id = store.generation(ids[0]).prompt_id
    pairs = [(ids[0], ids[1]), (ids[2], ids[3]), (ids[4], ids[5])]
    for (left, right), ann, bob in zip(pairs, ("left", "left", "right"), ("left", "right", "right"),
                                       strict=True):  # fmt: skip
        store.add_comparison(prompt_id, left, right, ann, "ann")
        store.add_comparison(prompt_id, left, right, bob, "bob")
    store.add_comparison(prompt_id, ids[1], ids[0], "right", "ann")  # a swapped repeat

    click(qtbot, page, "refreshAgreementButton")
    wait_done(qtbot, page)

    panel = page.people_panel
    assert not panel.isVisible()  # behind its tab, beside the AI verdicts
    page.feedback_tabs.setCurrentWidget(panel)
    assert panel.isVisible()
    assert "2 people" in panel.summary.text() and "1 pairs they disagree on" in panel.summary.text()
    assert panel.pairs_table.rowCount() == 1
    assert panel.value(panel.pairs_table, 0, 0) == "ann / bob"
    assert panel.value(panel.pairs_table, 0, 1) == "3"
    assert panel.value(panel.pairs_table, 0, 2) == "66.7 %"
    assert panel.habits_table.rowCount() == 2
    assert panel.value(panel.habits_table, 0, 0) == "ann"
    assert panel.value(panel.habits_table, 0, 1) == "4"
    assert panel.value(panel.habits_table, 0, 4) == "100.0 % of 1"
    # Effort: time per label and labels per hour, from the gaps between ann's 4 labels.
    headers = [panel.habits_table.horizontalHeaderItem(c).text() for c in (2, 3)]
    assert headers == ["s / label", "Per hour"]
    assert float(panel.value(panel.habits_table, 0, 2)) >= 0.0
    assert float(panel.value(panel.habits_table, 0, 3)) > 0.0
    assert panel.conflicts_table.rowCount() == 1
    assert panel.value(panel.conflicts_table, 0, 1) == "conflict"
    assert "ann: " in panel.value(panel.conflicts_table, 0, 5)
    page.resize(1280, 800)
    page.grab().save("/tmp/people_1280.png")
    panel.grab().save("/tmp/people_panel.png")


def test_double_clicking_a_conflict_queues_it_on_compare_and_rate(qtbot, window):  # noqa: F811
    store = window.state.store
    ids = add_pairs(store, "The film was", ["dull", "bright"])
    prompt_id = store.generation(ids[0]).prompt_id
    store.add_comparison(prompt_id, ids[0], ids[1], "left", "ann")
    store.add_comparison(prompt_id, ids[0], ids[1], "right", "bob")
    feedback = window.feedback_page
    window.show_page(feedback)
    click(qtbot, feedback, "refreshAgreementButton")
    qtbot.waitUntil(lambda: feedback.people_panel.conflicts_table.rowCount() == 1, timeout=60_000)
    wait_idle(qtbot, window)
    feedback.people_panel.conflicts_table.cellDoubleClicked.emit(0, 1)
    compare = window.compare_page
    pair = compare.current_pair()
    assert pair is not None and pair.verdict is None
    assert sorted(pair.generation_ids) == sorted(ids) and compare.current_prompt().id == prompt_id
    compare.rater_edit.setText("bob")
    compare.vote("left" if pair.generation_ids[pair.shown()[0]] == ids[0] else "right")
    assert compare_conflicts(store) == []  # bob now agrees with ann: no conflict left


def compare_conflicts(store):
    from core.rating.agreement import conflicts

    return conflicts(store.comparisons("human"))
