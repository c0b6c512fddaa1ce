"""Compare & Rate's hidden repeats: after REPEAT_EVERY votes (auto-next on), one of the
rater's earlier pairs comes back with its sides swapped, unannounced, and its vote is
stored as a repeat that the self-agreement figure reads. Pairs come from the store."""

from __future__ import annotations

from core.rating.agreement import people_report
from core.rating.repeats import REPEAT_EVERY
from tests.app.test_app_compare_keys import _queue_pairs
from tests.app.test_app_support import window_fixture  # noqa: F401 (fixtures)


def test_a_hidden_repeat_comes_back_swapped_and_counts_for_self_agreement(qtbot, window):
    _queue_pairs(window, REPEAT_EVERY + 4)
    page = window.compare_page
    page.auto_next_check.setChecked(True)
    page.repeats_check.setChecked(True)
    store = window.state.store
    for _ in range(REPEAT_EVERY):
        assert page.current_pair().repeat_of is None
        page.vote("left")
    repeat = page.current_pair()
    assert repeat.repeat_of is not None and repeat.verdict is None
    original = next(row for row in store.comparisons("human") if row.id == repeat.repeat_of)
    left, right = repeat.shown()
    assert repeat.generation_ids[left] == original.right_id  # sides swapped
    assert repeat.generation_ids[right] == original.left_id
    page.vote("right")  # the same answer as before, now on the right
    newest = store.comparisons("human")[-1]
    assert newest.detail["repeat_of"] == original.id
    rater = page.rater_edit.text().strip()
    habits = {h.rater: h for h in people_report(store).raters}[rater]
    assert (habits.n_repeats, habits.self_agreement) == (1, 1.0)
    assert page.current_pair().repeat_of is None  # back to new pairs
