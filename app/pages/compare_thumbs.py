"""Compare & Rate's single answers mode (a mixin of ComparePage): one answer per prompt,
rated thumbs up (+ or =) or down (-), stored as a rating of 1 / 0 with the rater's name
(the data KTO learns from, core.offline.data.kto_examples)."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QPushButton

from app.compare_pairs import RATE_MODES, THUMB_TEXT, THUMB_VALUES, Pair
from app.pages.compare_host import CompareHost
from app.widgets.common import named
from core.errors import StudioError


class ThumbsMode(CompareHost):
    """The Rate combo, the thumb buttons and the thumb vote; ComparePage supplies the rest
    (its panes, buttons, store access and pair bookkeeping)."""

    def _build_mode_combo(self) -> QComboBox:
        combo = named(QComboBox(), "rateModeCombo")
        combo.addItems(RATE_MODES)
        combo.setToolTip(
            "Pairs: which of two answers is better. Single answers: thumbs up (+) or "
            "down (-) on one answer, for KTO. Rank: four answers (two per recipe) put in "
            "order with the number keys, = for a tie, stored as the 6 pairs they imply."
        )
        combo.currentTextChanged.connect(lambda _t: self._on_mode_changed())
        return combo

    def _build_thumb_buttons(self) -> list[QPushButton]:
        self.thumb_buttons = {}
        for thumb, name, text in (
            ("up", "thumbUpButton", "+ · Thumbs up"),
            ("down", "thumbDownButton", "- · Thumbs down"),
        ):
            button = named(QPushButton(text), name)
            button.clicked.connect(lambda _c=False, t=thumb: self.thumb(t))
            button.setVisible(False)
            self.thumb_buttons[thumb] = button
        return list(self.thumb_buttons.values())

    def single_mode(self) -> bool:
        """Whether the page rates single answers (thumbs) rather than pairs."""
        return self.mode_combo.currentIndex() == 1

    def _shown_pairs(self) -> dict[int, Pair]:
        if self.rank_mode():
            return {}
        return self._singles if self.single_mode() else self._pairs

    def _on_mode_changed(self) -> None:
        single, rank = self.single_mode(), self.rank_mode()
        self.left_pane.setVisible(not rank)
        self.right_pane.setVisible(not single and not rank)
        self.rank_box.setVisible(rank)
        self.recipes.set_single_mode(single)
        self.ai_box.setTitle("AI scores of the answer" if single else "AI scores beside each side")
        self.left_pane.text_view.setPlaceholderText(
            "Generate an answer (G) to see it here."
            if single
            else "Generate a pair (G) to see a completion here."
        )
        for button in self.vote_buttons.values():
            button.setVisible(not single and not rank)
        for button in self.thumb_buttons.values():
            button.setVisible(single)
        self._show_current()
        self._update_counter()

    def thumb(self, thumb: str) -> None:
        """Save thumbs up / down on the current single answer (a rating of 1 / 0)."""
        pair = self.current_pair()
        if pair is None or self._generating or not self.single_mode():
            return
        if pair.verdict is not None:
            self.status_label.setText(f"Already rated: {THUMB_TEXT[pair.verdict]}.")
            return
        rater = self.rater_edit.text().strip() or self.default_rater()
        note = self.note_edit.text().strip() or None
        try:
            self.state.require_store().add_rating(
                pair.generation_ids[0], THUMB_VALUES[thumb], rater, note
            )
        except (StudioError, ValueError) as error:
            self.state.errors.report(error, "Saving the rating")
            return
        pair.verdict = thumb
        self._after_vote(pair, f"Saved: {THUMB_TEXT[thumb]}.")
