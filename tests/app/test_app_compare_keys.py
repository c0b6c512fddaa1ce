"""Compare & Rate's keys at 1280x800: every vote key lands after a mouse vote, wherever
the focus went; a digit goes into a text field only when the user put the cursor there;
auto-next never wraps onto a rated pair; the tally counts every vote. Pairs come from the
store (rate_stored_pairs), so no model is needed."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox, QPushButton

from tests.app.test_app_support import click, window_fixture  # noqa: F401 (fixtures)

SET = "keys"


def _queue_pairs(window, count: int) -> list[int]:
    """`count` stored pairs (policy vs reference answers) queued on the page."""
    store = window.state.store
    prompt_ids = store.add_prompts([f"Prompt {i}:" for i in range(count)], SET)
    pairs = []
    for i, prompt_id in enumerate(prompt_ids):
        policy = store.add_generation(prompt_id, f"Prompt {i}: policy", "demo", "step-1")
        base = store.add_generation(prompt_id, f"Prompt {i}: base", "demo")
        pairs.append((prompt_id, policy, base))
    page = window.compare_page
    window.show_page(page)
    page.rate_stored_pairs(SET, pairs)
    return prompt_ids


def _at_1280(qtbot, window) -> None:
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.width() == 1280)


def test_a_key_votes_after_a_mouse_vote_wherever_the_focus_went(qtbot, window):
    _at_1280(qtbot, window)
    _queue_pairs(window, 4)
    page = window.compare_page
    page.auto_next_check.setChecked(True)
    store = window.state.store
    click(qtbot, window, "rateTieButton")  # the mouse: the button is disabled under it
    assert [row.verdict for row in store.comparisons("human")] == ["tie"]
    assert page._index == 1  # auto-next
    focus = QApplication.focusWidget()
    qtbot.keyClick(focus or window, Qt.Key.Key_1)  # the key goes wherever the focus is
    assert [row.verdict for row in store.comparisons("human")] == ["tie", "left"]
    assert page.note_edit.text() == ""

    # Focus handed on to the Note field by a disabled button (as after a mouse vote under
    # X): not the user's choice, so the digit votes and types nothing.
    both_bad = window.findChild(QPushButton, "rateBothBadButton")
    both_bad.setFocus(Qt.FocusReason.MouseFocusReason)
    both_bad.setEnabled(False)
    assert QApplication.focusWidget() is page.note_edit
    assert not page.rating_keys.field_chosen(page.note_edit)
    page._update_buttons()
    qtbot.keyClick(page.note_edit, Qt.Key.Key_2)
    assert [row.verdict for row in store.comparisons("human")][-1] == "right"
    assert page.note_edit.text() == ""

    # Focus in the sidebar (after a click on it): the key still votes.
    window.nav.setFocus(Qt.FocusReason.MouseFocusReason)
    qtbot.keyClick(window.nav, Qt.Key.Key_0)
    assert [row.verdict for row in store.comparisons("human")][-1] == "both_bad"
    assert window.stack.currentWidget() is page  # no page switch by keyboard search
    assert len(store.comparisons("human")) == 4


def test_a_digit_lands_in_a_text_field_only_where_the_user_put_the_cursor(qtbot, window):
    _at_1280(qtbot, window)
    _queue_pairs(window, 2)
    page = window.compare_page
    store = window.state.store
    page.setFocus()
    qtbot.keyClick(page, Qt.Key.Key_N)  # N: into the note, on purpose
    assert QApplication.focusWidget() is page.note_edit
    qtbot.keyClicks(page.note_edit, "take 2")
    assert page.note_edit.text() == "take 2" and not store.comparisons("human")
    qtbot.keyClick(page.note_edit, Qt.Key.Key_Escape)  # Esc leaves the note
    assert QApplication.focusWidget() is not page.note_edit
    qtbot.keyClick(page, Qt.Key.Key_3)
    rows = store.comparisons("human")
    assert [(row.verdict, row.note) for row in rows] == [("tie", "take 2")]
    # A click in the Rater field: digits are the user's text there.
    qtbot.mouseClick(page.rater_edit, Qt.MouseButton.LeftButton)
    page.rater_edit.clear()
    qtbot.keyClicks(page.rater_edit, "ann2")
    assert page.rater_edit.text() == "ann2" and len(store.comparisons("human")) == 1


def test_auto_next_stops_at_a_rated_set_and_the_tally_counts_every_vote(qtbot, window):
    _at_1280(qtbot, window)
    _queue_pairs(window, 3)
    page = window.compare_page
    page.auto_next_check.setChecked(True)
    page.move(1)  # start in the middle: the next unrated one is after the end
    for key in (Qt.Key.Key_1, Qt.Key.Key_2):
        qtbot.keyClick(page, key)
    assert page._index == 0  # wrapped, to the one prompt not rated
    qtbot.keyClick(page, Qt.Key.Key_1)
    assert page._index == 0  # every pair rated: stays, and says the set is done
    assert "Every prompt of set keys is rated" in page.status_label.text()
    assert len(window.state.store.comparisons("human")) == 3
    # A second pair for a rated prompt replaces the shown pair; the tally keeps both votes.
    store = window.state.store
    prompt = page.current_prompt()
    again = (prompt.id, store.add_generation(prompt.id, "x", "demo", "step-2"),
             store.add_generation(prompt.id, "y", "demo"))  # fmt: skip
    page.rate_stored_pairs(SET, [again])
    qtbot.keyClick(page, Qt.Key.Key_3)
    assert page.tally_label.text().startswith("4 votes this session")


def test_thumbs_mode_words_and_start_a_round_needs_a_model(qtbot, window):
    page = window.compare_page
    window.show_page(page)
    start = window.findChild(QPushButton, "startPersonRoundButton")
    assert window.state.session is None and not start.isEnabled()
    window.findChild(QComboBox, "rateModeCombo").setCurrentIndex(1)
    button = window.findChild(QPushButton, "generatePairButton")
    assert "pair" not in button.text() and "shuffled" not in page.recipes.title()
    assert not page.recipes.variant_combos[0].isVisible()  # one recipe: B
    window.findChild(QComboBox, "rateModeCombo").setCurrentIndex(0)
    assert button.text().startswith("Generate pair") and page.recipes.variant_combos[0].isVisible()


def test_settings_and_compare_show_the_same_rater_name(qtbot, window):
    from app.app_state import login_name
    from app.settings_dialog import SettingsDialog

    dialog = SettingsDialog(window.state, window)
    qtbot.addWidget(dialog)
    assert dialog.rater_edit.text() == window.compare_page.rater_edit.text() == login_name()
    dialog.rater_edit.setText("Ann")
    dialog.accepted.connect(window.compare_page.refresh_rater)
    dialog._on_accept()
    assert window.compare_page.rater_edit.text() == "Ann"


def test_open_in_compare_and_rate_generates_the_new_pair_at_once(qtbot, window, tmp_path):
    from tests.app.test_app_support import load_model, wait_idle

    page = window.compare_page
    page.add_checkpoint("Run 9 · step 1", str(tmp_path / "none"))
    assert "Load a model" in page.status_label.text()  # no model: nothing to generate
    load_model(qtbot, window)
    adapter = tmp_path / "adapter"
    window.state.session.save_adapter(adapter)
    window._on_checkpoint_opened("Run 9 · step 2", str(adapter))
    assert window.stack.currentWidget() is page
    qtbot.waitUntil(lambda: page.current_pair() is not None, timeout=60_000)  # no G pressed
    wait_idle(qtbot, window)
    assert [side.variant for side in page.current_pair().sides] == [
        "Base model (adapter off)",
        "Run 9 · step 2",
    ]
