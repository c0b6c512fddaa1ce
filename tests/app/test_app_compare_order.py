"""Compare & Rate's pair order: stored pairs no person has compared, in random order or
where the reward model is least sure; with no reward model the choice says so in one line
and stays chosen (nothing falls back by itself)."""

from __future__ import annotations

import threading

from PySide6.QtWidgets import QApplication

from app.pages import compare_order
from app.theme import apply_theme
from core.rating.label_order import order_pairs
from tests.app.test_app_support import wait_idle, window_fixture  # noqa: F401 (fixtures)
from tests.core.test_label_order import NEGATIVE, POSITIVE, save_rm

SET = "ordered"


def _fill(store):
    """People's verdicts on six pairs, and three candidate pairs (one of two identical
    answers, which the reward model's ensemble cannot be unsure about: it comes last)."""
    [rated] = store.add_prompts(["The film was"], "rated")
    for good, bad in zip(POSITIVE, NEGATIVE, strict=True):
        a, b = (store.add_generation(rated, t, "m") for t in (" " + good, " " + bad))
        store.add_comparison(rated, a, b, "left", "ann")
    prompts = store.add_prompts(["The hotel was", "The game was", "The book was"], SET)
    answers = [(" lovely", " dull"), (" fine", " fine"), (" great", " awful")]
    pairs = []
    for prompt, (left, right) in zip(prompts, answers, strict=True):
        ids = [store.add_generation(prompt, t, "m") for t in (left, right)]
        pairs.append((prompt, *ids))
    return pairs


def _choose(page, order):
    page.order_combo.setCurrentIndex(page.order_combo.findData(order))


def test_active_order_without_a_reward_model_explains_itself(qtbot, window, tmp_path):
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.width() == 1280)
    _fill(window.state.store)
    window.state.prompts_changed.emit()
    page = window.compare_page
    window.show_page(page)
    page.set_combo.setCurrentText(SET)
    _choose(page, "active")
    assert not window.state.jobs()  # nothing to compute: said at once
    text = page.status_label.text()
    assert text.startswith("No reward model in this workspace yet: train one")
    assert "'Stored pairs, random'" in text and page.pair_order() == "active"
    assert "none yet: train one" in page.order_combo.toolTip()
    assert page.current_pair() is None
    # The line fits the page at 1280 wide (the status row does not wrap).
    assert page.status_label.fontMetrics().horizontalAdvance(text) < page.status_label.width()
    page.grab().save(str(tmp_path / "order_no_rm_1280.png"))
    # The user asks for the random order: the stored pairs come, one after each vote.
    _choose(page, "random")
    wait_idle(qtbot, window)
    first = page.current_pair()
    assert first is not None and first.verdict is None
    page.vote("left")
    assert page.current_pair() is not first and page.current_pair().verdict is None


def test_active_order_offers_the_least_certain_pair_first(
    qtbot, window, tiny_tokenizer, tmp_path, monkeypatch
):
    # Computed again after 2 votes (with them as labels): the job runs mid-queue too.
    monkeypatch.setattr(compare_order, "REORDER_EVERY", 2)
    orderings = []
    real = compare_order.order_stored_pairs

    def counted(*args):
        orderings.append(threading.current_thread() is not threading.main_thread())
        return real(*args)

    monkeypatch.setattr(compare_order, "order_stored_pairs", counted)
    window.resize(1280, 800)
    store = window.state.store
    pairs = _fill(store)
    save_rm(window.state.workspace / "reward_models" / "rm-1", tiny_tokenizer)
    expected = order_pairs(store, pairs, "active").pairs
    assert expected[-1] == pairs[1]  # the identical answers last
    window.state.prompts_changed.emit()
    page = window.compare_page
    window.show_page(page)
    page.set_combo.setCurrentText(SET)
    _choose(page, "disagreement")  # a reward model, but no judge's verdicts: said so
    wait_idle(qtbot, window)
    assert "no judge has compared these pairs" in page.status_label.text()
    assert page.current_pair() is None and page.pair_order() == "disagreement"
    _choose(page, "active")
    wait_idle(qtbot, window)
    assert "rm-1 is least sure of first" in page.status_label.text()
    page.grab().save(str(tmp_path / "order_active_1280.png"))
    window.resize(1920, 1080)
    qtbot.waitUntil(lambda: window.width() == 1920)
    apply_theme(QApplication.instance(), "dark", window)
    try:
        page.grab().save(str(tmp_path / "order_active_1920_dark.png"))
    finally:
        apply_theme(QApplication.instance(), "light", window)
    shown = []
    for _ in range(3):
        wait_idle(qtbot, window)
        pair = page.current_pair()
        shown.append((pair.prompt_id, *pair.generation_ids))
        page.vote("left")
    assert shown == expected
    assert "Every stored pair in this order is rated" in page.status_label.text()
    # At each choice and after 2 votes, off the GUI thread.
    assert orderings == [True, True, True]
    assert len(store.comparisons("human")) == 6 + 3
