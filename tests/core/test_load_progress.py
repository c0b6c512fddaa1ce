"""A model load's progress in words (app/load_progress.py): the demo build's steps as a
percentage with the time left, the other process's build as a hint."""

from __future__ import annotations

from app.load_progress import ProgressText, format_duration


def test_demo_steps_read_as_a_percentage_with_the_time_left():
    now = [0.0]
    text = ProgressText(clock=lambda: now[0])
    assert text.describe(0, 403, "generating reviews") == "Writing the demo's training reviews"
    first = text.describe(12, 403, "step 10/400 loss 3.100")
    assert first.startswith("Training the demo model: 2%") and "loss" not in first
    now[0] = 1.0
    assert "estimating" in text.describe(13, 403, "step 11/400 loss 3.0")
    now[0] = 10.0  # 10 steps in 10 s: 381 left, about 6 min 20 s
    line = text.describe(22, 403, "step 20/400 loss 2.5")
    assert line == "Training the demo model: 5% · about 6 min 20 s left"


def test_waiting_on_another_process_says_so():
    line = ProgressText().describe(
        0, 1, "waiting for another process to finish building the demo model"
    )
    assert "Another RLHF Studio window" in line and "Cancel" in line


def test_durations_read_as_a_person_would():
    assert [format_duration(s) for s in (0.2, 45, 60, 130, 3900)] == [
        "1 s", "45 s", "1 min", "2 min 10 s", "1 h 5 min",
    ]  # fmt: skip
