"""The DPO round box reports the win-rate judged by the rubric's ground truth beside the
judge's when the judge is the demo judge under a preset rubric (VADER for positivity,
word counts for concision), and only the judge's otherwise."""

from __future__ import annotations

import app.jobs.offline as offline_job
import core.offline.loop as loop
from app.jobs.feedback import JudgeChoice
from core.judge.cache import DEMO_JUDGE
from core.offline.config import DPOConfig
from core.offline.loop import DPORound
from core.rewards.judge_templates import preset_template
from core.store import Store
from tests.app.test_app_support import window_fixture  # noqa: F401 (fixture)


class _NoJudge:
    cache = None

    def unload(self) -> None:
        pass


def _truth_passed(monkeypatch, workspace, model: str, rubric: str) -> object:
    seen = {}
    monkeypatch.setattr(offline_job, "make_judge", lambda *_a: _NoJudge())
    monkeypatch.setattr(loop, "ai_dpo_round", lambda *_a, **kw: seen.update(kw))
    Store.open(workspace).close()
    text = preset_template(rubric).text
    choice = JudgeChoice(model, text, f"preset:{rubric}")
    offline_job.run_dpo_round(None, workspace, choice, 4, DPOConfig(steps=1), None)
    return seen["truth"]


def test_the_round_asks_for_the_truth_only_of_the_demo_judge(monkeypatch, workspace):
    truth = _truth_passed(monkeypatch, workspace, DEMO_JUDGE, "concision")
    assert truth is not None and truth.rater == "truth:concision"
    assert _truth_passed(monkeypatch, workspace, "/models/judge", "concision") is None


def test_the_box_labels_each_win_rate_with_who_judged_it(qtbot, window):
    box = window.feedback_page.dpo_round_box
    record = DPORound(1, 2, 1, 24, "ai:demo-judge#positivity", 0.5, 0.9, "/a",
                      0.75, "truth:positivity")  # fmt: skip
    box._on_done(record)
    text = box.result_label.text()
    assert "<b>50%</b> against the base (blind, judged by the judge)" in text
    assert "<b>75%</b> judged by VADER" in text
    box._on_done(DPORound(2, 3, 2, 24, "ai:demo-judge#concision", 0.5, None, "/b",
                          0.25, "truth:concision"))  # fmt: skip
    assert "<b>25%</b> judged by word count" in box.result_label.text()
    box._on_done(DPORound(3, 4, 3, 24, "ai:other#default", 0.6, None, "/c"))
    assert "judged by the judge" in box.result_label.text()
    assert "VADER" not in box.result_label.text() and "word count" not in box.result_label.text()
