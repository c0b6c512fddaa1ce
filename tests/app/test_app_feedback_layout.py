"""AI Feedback page at 1280x800: the reward-model plot, its summary and "Use as PPO
reward" each keep their own place (none drawn over another)."""

from __future__ import annotations

from PySide6.QtCore import QRect

from tests.app.test_app_support import window_fixture  # noqa: F401 (fixture)


def _box(widget, root) -> QRect:
    return QRect(widget.mapTo(root, widget.rect().topLeft()), widget.size())


def test_reward_model_plot_summary_and_button_do_not_overlap(qtbot, window):
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.width() == 1280)
    page = window.feedback_page
    window.show_page(page)
    page.rm_result.setText(
        "<b>Held-out accuracy 75%</b> on 8 pairs (human ones: 80%); best epoch 3 of 3 "
        "(done, 12 s).<br>Saved to <code>/a/long/workspace/path/reward_models/rm-12</code>"
    )
    qtbot.wait(50)
    plot, summary, button = page.rm_plot, page.rm_result, page.use_rm_button
    boxes = [_box(widget, window) for widget in (plot, summary, button)]
    assert not boxes[0].intersects(boxes[1]) and not boxes[0].intersects(boxes[2])
    assert not boxes[1].intersects(boxes[2])
    assert plot.height() >= plot.minimumHeight() and summary.height() >= summary.heightForWidth(
        summary.width()
    )
