"""The RLAIF screenshot tour (python -m app.screenshot_rlaif_tour) drives the whole offline
loop through the real window (people's votes, the demo judge's labels under a rubric, a
reward model on the AI labels, GRPO on it, a DPO round) and saves one PNG per stage; the
user guide's RLAIF screenshots are made with it. Here at toy sizes with the quick judge."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QImage

from app.screenshot_rlaif_tour import SHOTS, run_rlaif_tour
from core.offline.loop import rounds
from core.store import Store

# The quick judge's build may fall in this test's setup (minutes on a busy machine).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def test_the_rlaif_tour_runs_every_stage_and_saves_its_screenshots(
    qtbot, tmp_path, quick_judge_folder
):
    shots = run_rlaif_tour(tmp_path / "shots", pairs=12, steps=2, judge=str(quick_judge_folder),
                           quick=True, workspace=tmp_path / "kept")  # fmt: skip
    assert [path.stem for path in shots] == list(SHOTS)
    for path in shots:
        image = QImage(str(path))
        assert (image.width(), image.height()) == (1440, 900), path
        colours = {image.pixel(x, y) for x in range(0, 1440, 37) for y in range(0, 900, 29)}
        assert len(colours) > 5, path
    with Store.open(tmp_path / "kept") as store:
        raters = {row.rater for row in store.comparisons("ai")}
        assert "ai:demo-judge#positivity" in raters
        assert store.comparisons("human")  # the reader's votes, for the agreement table
        kinds = [run.kind for run in store.runs()]
        assert {"reward_model", "grpo", "dpo", "dpo_round"} <= set(kinds), kinds
        assert rounds(store)[0].labelled_by == "ai:demo-judge#positivity"
