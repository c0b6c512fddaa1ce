"""AI Feedback page at 1280x800, light and dark: the reward-model plot, its summary (the
longest it gets: coin flips left out, a deep folder) and "Use as PPO reward" each keep
their own place (none drawn over another)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect

from app.jobs.feedback import RMSummary
from tests.app.test_app_support import window_fixture  # noqa: F401 (fixture)


def _box(widget, root) -> QRect:
    return QRect(widget.mapTo(root, widget.rect().topLeft()), widget.size())


LONG_SUMMARY = RMSummary(
    folder="/home/someone/experiments/rlhf-studio/workspaces/reviews/reward_models/rm-12",
    best_epoch=3, epochs_run=3, eval_accuracy=0.75, eval_accuracy_human=0.8, n_train=40,
    n_eval=8, stopped=False, stopped_early=False, seconds=12.0, coin_flips_dropped=4,
)  # fmt: skip


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_reward_model_plot_summary_and_button_do_not_overlap(qtbot, window, theme):
    window.state.set_setting("ui/theme", theme)
    window._apply_theme()
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.width() == 1280)
    page = window.feedback_page
    window.show_page(page)
    page.rm_box.show_summary(LONG_SUMMARY)
    qtbot.wait(50)
    plot, summary, button = page.rm_plot, page.rm_result, page.use_rm_button
    boxes = [_box(widget, window) for widget in (plot, summary, button)]
    assert not boxes[0].intersects(boxes[1]) and not boxes[0].intersects(boxes[2])
    assert not boxes[1].intersects(boxes[2])
    assert plot.height() >= plot.minimumHeight() and summary.height() >= summary.heightForWidth(
        summary.width()
    )


def test_verdict_table_leaves_the_responses_room_at_1280x800(qtbot, window):
    """A long judge name is elided (whole in its tooltip), not fitted at the responses'
    expense: they keep at least 70 pixels each (fitted to it, 26)."""
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.width() == 1280)
    page = window.feedback_page
    window.show_page(page)
    store = window.state.store
    [prompt_id] = store.add_prompts(["The film was"])
    ids = [store.add_generation(prompt_id, f"a fine answer {i}", "demo") for i in range(2)]
    rater = "ai:demo-judge#positive-concise"
    store.add_comparison(prompt_id, ids[0], ids[1], "left", rater, soft_label=0.9)
    page.verdict_table.set_rows(store.comparisons("ai"))
    qtbot.wait(50)
    table = page.verdict_table
    for name in ("Left", "Right"):
        assert table.columnWidth(table.COLUMNS.index(name)) >= 70, name
    judge = table.item(0, table.COLUMNS.index("Judge"))
    assert judge.toolTip() == "demo-judge#positive-concise"
