"""Compare & Rate opens an answer a run's checkpoint wrote in the token inspector, once the
pair is voted on (before, the rating stays blind); the base model's answer offers none."""

from __future__ import annotations

import json

from app.compare_pairs import Pair
from app.jobs.model import SideCompletion
from app.pages.compare_inspect import checkpoint_of
from tests.app.test_app_support import window_fixture  # noqa: F401 (fixture)


def _checkpoint(tmp_path):
    folder = tmp_path / "runs" / "1" / "checkpoints" / "step-4"
    (folder / "adapter").mkdir(parents=True)
    (folder / "meta.json").write_text(json.dumps({"step": 4}), encoding="utf-8")
    return folder


def test_checkpoint_of_finds_the_checkpoint_of_an_adapter(tmp_path):
    folder = _checkpoint(tmp_path)
    assert checkpoint_of(str(folder / "adapter")) == folder
    assert checkpoint_of(str(folder)) == folder
    assert checkpoint_of(None) is None
    plain = tmp_path / "my-adapter"
    plain.mkdir()
    assert checkpoint_of(str(plain)) is None  # an adapter folder, no training checkpoint


def test_a_checkpoint_answer_opens_in_the_inspector_after_the_vote(qtbot, window, tmp_path):
    page = window.compare_page
    window.show_page(page)
    folder = _checkpoint(tmp_path)
    base = SideCompletion("base", " a plain answer", 1, {}, None)
    tuned = SideCompletion("step 4", " a tuned answer", 1, {}, str(folder / "adapter"))
    pair = Pair(1, "The film was", [base, tuned], [1, 2], swapped=True)  # tuned on the left
    page._show_pair(pair)
    left, right = page.left_pane.inspect_button, page.right_pane.inspect_button
    assert left.isVisible() and not left.isEnabled()  # blind until the vote
    assert "Vote first" in left.toolTip()
    assert not right.isVisible()  # the base model's answer: no checkpoint to inspect
    pair.verdict = "left"
    page._show_pair(pair)
    assert left.isEnabled()
    left.click()
    dialog = page.inspector.dialogs[-1]
    assert dialog.isVisible() and "step-4" in dialog.windowTitle()
    # No model loaded: the dialog says what to do instead of computing.
    assert "Load the run's base model" in dialog.status.text()
    dialog.close()
    page.left_pane.clear()
    assert not left.isVisible()
