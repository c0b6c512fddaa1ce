"""A round of the DPO loop rated by a person on Compare & Rate: one click samples pairs of
the current adapter there, the person's votes (or Train round) start DPO on everything
rated so far, then a blind test of the new adapter against the base is queued on the page
(sides shuffled) and the person's picks are stored as the round's win-rate; the Runs page
lists the round and plots it."""

from __future__ import annotations

import math
import os

import pytest
from PySide6.QtCore import Qt

from core.offline.loop import ROUND_KIND, rounds
from tests.app.test_app_support import (  # noqa: F401 (fixtures)
    click,
    load_model,
    wait_idle,
    window_fixture,
)
from tests.core.test_cli_offline import fill_store

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _show_prompt(page, prompt_id: int) -> None:
    ids = [prompt.id for prompt in page._prompts]
    page.move(ids.index(prompt_id) - page._index)
    assert page.current_prompt().id == prompt_id


def _vote(qtbot, page, prompt_id: int, preferred_generation: int | None = None) -> None:
    """Click the side showing `preferred_generation` (None: the left one)."""
    _show_prompt(page, prompt_id)
    pair = page.current_pair()
    left, _right = pair.shown()
    side = "left" if preferred_generation in (None, pair.generation_ids[left]) else "right"
    button = page.vote_buttons[side]
    assert button.isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_a_person_rates_trains_and_measures_a_dpo_round(qtbot, window, tiny_model_dir, tmp_path):
    fill_store(window.state.workspace)  # earlier comparisons: the round trains on them too
    load_model(qtbot, window, str(tiny_model_dir))
    page = window.compare_page
    window.show_page(page)
    page.set_combo.setCurrentText("demo")
    box = page.person_round_box
    box.pairs_spin.setValue(4)
    box.steps_spin.setValue(3)
    box.blind_spin.setValue(3)
    click(qtbot, window, "startPersonRoundButton")
    qtbot.waitUntil(lambda: box.phase == "rating", timeout=120_000)
    assert len(box.pairs) == 4 and page.set_combo.currentText() == "demo"
    for prompt_id, _a, _b in box.pairs[:3]:
        _vote(qtbot, page, prompt_id)
    assert "Rated 3 / 4 pairs" in box.status_label.text() and box.phase == "rating"
    click(qtbot, window, "trainPersonRoundButton")  # the fourth pair stays unrated
    qtbot.waitUntil(lambda: box.phase == "blind", timeout=180_000)
    wait_idle(qtbot, window)
    store = window.state.store
    record = rounds(store)[0]
    assert record.win_rate is None and record.pairs == 4  # not measured yet
    dpo_run = store.run(record.dpo_run_id)
    assert dpo_run.kind == "dpo" and dpo_run.status == "finished"
    assert dpo_run.config["data"]["used"] == 10 + 3  # fill_store's 10 decided, 3 of the round

    # The blind test: the new adapter against the base, on the set's first prompts.
    assert [pair[0] for pair in box.blind] == [p.id for p in store.prompts("demo")[:3]]
    for prompt_id, tuned_id, base_id in box.blind:
        _show_prompt(page, prompt_id)
        pair = page.current_pair()
        assert set(pair.generation_ids) == {tuned_id, base_id} and pair.verdict is None
        assert store.generation(tuned_id).adapter == f"run-{record.dpo_run_id}/step-3"
        assert record.adapter.endswith(f"run-{record.dpo_run_id}/step-3/adapter")
        assert store.generation(base_id).adapter is None
    first, second, third = box.blind
    _vote(qtbot, page, first[0], preferred_generation=first[1])  # the adapter's answer
    _vote(qtbot, page, second[0], preferred_generation=second[2])  # the base's
    with qtbot.waitSignal(box.round_finished) as finished:
        _vote(qtbot, page, third[0], preferred_generation=third[1])  # the last: recorded
    record = finished.args[0]
    assert record.win_rate == pytest.approx(2 / 3)
    stored = store.runs(ROUND_KIND)[0]
    assert stored.status == "finished" and stored.config["win_rate_votes"] == 3
    assert stored.config["win_rate_by"] == page.rater_edit.text()
    assert rounds(store) == [record] and box.phase == "idle"
    assert "wins <b>67%</b> of 3 blind votes" in box.status_label.text()
    if os.environ.get("RLHF_SCREENSHOT_DIR"):
        page.grab().save(os.path.join(os.environ["RLHF_SCREENSHOT_DIR"], "compare_round.png"))
    assert page.grab().save(str(tmp_path / "compare_round.png"))

    # The Runs page lists the round and plots it per round.
    runs = window.runs_page
    window.show_page(runs)
    kinds = {runs.table.item(row, 2).text() for row in range(runs.table.rowCount())}
    assert {"dpo", ROUND_KIND} <= kinds
    assert runs.rounds_plot.isVisible()
    assert runs.rounds_plot.values("win_rate") == [pytest.approx(2 / 3)]
    accuracy = runs.rounds_plot.values("held_out_accuracy")
    assert len(accuracy) == 1 and (
        math.isnan(accuracy[0]) if record.held_out_accuracy is None
        else accuracy[0] == pytest.approx(record.held_out_accuracy)
    )  # fmt: skip
    if os.environ.get("RLHF_SCREENSHOT_DIR"):
        runs.grab().save(os.path.join(os.environ["RLHF_SCREENSHOT_DIR"], "runs_rounds.png"))
