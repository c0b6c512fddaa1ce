"""The DPO loop from the GUI: one click on the AI Feedback page runs a round (sample from
the current adapter, the judge rates, DPO, blind win-rate vs the base) and stores it."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLabel

import app.jobs.offline as offline_job
from core.offline.loop import rounds
from tests.app.test_app_support import (  # noqa: F401 (fixtures)
    click,
    load_model,
    wait_idle,
    window_fixture,
)
from tests.core.test_rlaif_e2e import vader_judge

pytestmark = pytest.mark.slow


def test_one_click_runs_a_stored_dpo_round(qtbot, window, demo_model_dir, monkeypatch):
    # The judge is the VADER stand-in LM (a real LLMJudge over a stub model).
    monkeypatch.setattr(offline_job, "make_judge", lambda *_a: vader_judge(demo_model_dir))
    load_model(qtbot, window)
    page = window.feedback_page
    window.show_page(page)
    box = page.dpo_round_box
    box.pairs_spin.setValue(24)
    box.steps_spin.setValue(6)
    with qtbot.waitSignal(box.round_finished, timeout=300_000) as finished:
        click(qtbot, window, "runDpoRoundButton")
    wait_idle(qtbot, window)
    record = finished.args[0]
    assert record is not None and record.round == 1 and record.pairs == 24
    assert 0.0 <= record.win_rate <= 1.0
    text = window.findChild(QLabel, "dpoRoundResult").text()
    assert (
        text.startswith("Round 1: 24 pairs rated by ai:vader-stub#default")
        and "against the base" in text
    )
    store = window.state.store
    assert rounds(store) == [record]
    assert store.run(record.dpo_run_id).kind == "dpo"
    # The session now holds the round's adapter: the next round continues from it.
    assert box.button.isEnabled()
