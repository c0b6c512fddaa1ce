"""At 1280x800, light and dark, every control of the journey a user reaches for is in the
window without scrolling: the welcome's demo button (first start) and the Model page's
Load, Compare & Rate's Generate and vote buttons (pairs and thumbs), the Train page's run
bar, the AI Feedback page's Label pairs and Train reward model. "In view" means drawn whole:
inside the window, shown, and no scroll area or neighbour covering any of it."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QPushButton, QScrollArea, QVBoxLayout, QWidget

from app.jobs.feedback import RMSummary
from core.rlaif.agreement import AgreementReport, JudgeAgreement, RewardModelAccuracy
from tests.app.test_app_support import window_fixture  # noqa: F401 (fixture)

JOURNEY = {
    "model_page": ("welcomeDemoButton", "loadModelButton"),
    "compare_page": (
        "generatePairButton",
        "rateLeftButton",
        "rateRightButton",
        "rateTieButton",
        "rateBothBadButton",
    ),
    "train_page": (
        "startTrainingButton",
        "pauseTrainingButton",
        "resumeTrainingButton",
        "stopTrainingButton",
    ),
    "feedback_page": ("labelPairsButton", "stopLabellingButton", "trainRewardModelButton"),
}
"""Page attribute of the main window -> objectNames of the buttons that must show whole."""


def hidden_part(window, button: QPushButton) -> str | None:
    """Why `button` is not wholly in view in `window` (None when it is)."""
    if not button.isVisible():
        return "not visible"
    box = QRect(button.mapTo(window, button.rect().topLeft()), button.size())
    if not window.rect().contains(box):
        return f"outside the window: {box} not in {window.rect()}"
    if button.visibleRegion().boundingRect() != button.rect():
        return f"partly covered or scrolled away: {button.visibleRegion().boundingRect()}"
    return None


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_journey_controls_in_view_at_1280x800(qtbot, window, theme):
    window.state.set_setting("ui/theme", theme)
    window._apply_theme()
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.size().width() == 1280 and window.size().height() == 800)
    problems = {}
    for page_name, buttons in JOURNEY.items():
        page = getattr(window, page_name)
        window.show_page(page)
        qtbot.wait(50)  # the layout settles at the new page
        for name in buttons:
            button = window.findChild(QPushButton, name)
            assert button is not None, name
            why = hidden_part(window, button)
            if why is not None:
                problems[f"{page_name}/{name}"] = why
    # Thumbs: the single-answer mode swaps the vote buttons for the thumb buttons.
    compare = window.compare_page
    window.show_page(compare)
    qtbot.wait(50)
    scores = compare.reward_table.table  # the AI scores' Weight column in view
    if scores.horizontalScrollBar().maximum() > 0:
        problems["compare_page/rewardTable"] = "scrolls sideways"
    compare.mode_combo.setCurrentIndex(1)
    qtbot.wait(50)
    for name in ("thumbUpButton", "thumbDownButton"):
        why = hidden_part(window, window.findChild(QPushButton, name))
        if why is not None:
            problems[f"compare_page/{name}"] = why
    assert not problems, problems


FULL_AGREEMENT = AgreementReport(
    n_human=12,
    n_ai=96,
    judges=[
        JudgeAgreement("ai:demo-judge#positivity", 48, "demo-judge", "positivity", 12, 1.0,
                       1.0, 0.3125, 48),
        JudgeAgreement("ai:Qwen/Qwen2.5-0.5B-Instruct#positive-concise", 48,
                       "Qwen/Qwen2.5-0.5B-Instruct", "positive-concise", 12, 0.75, -0.125,
                       0.3125, 48),
    ],
    reward_model=RewardModelAccuracy("/home/someone/ws/reward_models/rm-12", 1.0, 12, True, 1.0),
)  # fmt: skip
"""Two judges (one with a long hub id and rubric) and a reward model: the table's widest."""
LONG_RM_SUMMARY = RMSummary(
    folder="/home/someone/experiments/rlhf-studio/workspaces/reviews/reward_models/rm-12",
    best_epoch=3, epochs_run=3, eval_accuracy=0.75, eval_accuracy_human=0.8, n_train=40,
    n_eval=8, stopped=False, stopped_early=False, seconds=12.0, coin_flips_dropped=4,
)  # fmt: skip


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_feedback_right_column_and_agreement_table_fit_1280x800(qtbot, window, theme):
    """Filled as after a real session (the reward model's longest summary, two judges and a
    reward model in the agreement table), the AI Feedback page's right column needs no
    scrolling and the agreement table no horizontal scroll bar: every figure in view."""
    window.state.set_setting("ui/theme", theme)
    window._apply_theme()
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.size().width() == 1280 and window.size().height() == 800)
    page = window.feedback_page
    window.show_page(page)
    page.rm_box.show_summary(LONG_RM_SUMMARY)
    page._on_agreement(FULL_AGREEMENT)
    qtbot.wait(50)
    column = window.findChild(QScrollArea, "feedbackRightScroll")
    assert column.verticalScrollBar().maximum() == 0, "the right column scrolls"
    table = page.agreement_table
    widths = sum(table.columnWidth(index) for index in range(table.columnCount()))
    assert widths <= table.viewport().width(), (widths, table.viewport().width())
    assert table.horizontalScrollBar().maximum() == 0, "the agreement table scrolls sideways"
    assert table.rowCount() == 3
    # Squeezed names are elided in the cell and whole in its tooltip.
    judge = table.item(1, 0)
    assert judge.toolTip() == "Qwen/Qwen2.5-0.5B-Instruct"
    for name in ("runDpoRoundButton", "refreshAgreementButton", "useRewardModelButton"):
        why = hidden_part(window, window.findChild(QPushButton, name))
        assert why is None, (name, why)


def test_a_button_scrolled_out_of_view_is_caught(qtbot):
    """The check itself: a button below the fold of a scroll area is reported."""
    root = QWidget()
    qtbot.addWidget(root)
    content = QWidget()
    column = QVBoxLayout(content)
    spacer = QWidget()
    spacer.setMinimumHeight(600)
    column.addWidget(spacer)
    below = QPushButton("below the fold")
    column.addWidget(below)
    scroll = QScrollArea()
    scroll.setWidget(content)
    scroll.setWidgetResizable(True)
    QVBoxLayout(root).addWidget(scroll)
    root.resize(300, 300)
    root.show()
    qtbot.waitExposed(root)
    assert hidden_part(root, below) is not None
    scroll.ensureWidgetVisible(below)
    qtbot.waitUntil(lambda: hidden_part(root, below) is None)
