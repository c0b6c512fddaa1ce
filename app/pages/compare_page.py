"""Compare & Rate: two completions of one prompt side by side, generated in the background
from two recipes (base vs adapter, two checkpoints, two temperatures), shown in a random
left/right order that is recorded; keyboard voting saved at once; per-side AI scores.
After a vote the recipes are revealed, and a tally says which recipe wins this session.
Generation and scoring: app/pages/compare_generation.py. A DPO round rated here:
app/widgets/person_round_box.py.

Single answers mode (the Rate combo): one answer per prompt from recipe B (by default
the policy), rated thumbs up (+ key) or down (- key), stored as a rating of 1 / 0 with
the rater's name: KTO's data (core.offline.data.kto_examples)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.app_state import DEMO_PROMPT_SET, AppState, login_name
from app.compare_pairs import (
    VERDICT_TEXT,
    VOTE_MARKS,
    Pair,
    recipe_tally,
    single_title,
    stored_recipe,
)
from app.jobs.model import RewardCache, SideCompletion
from app.pages.compare_generation import PairGeneration
from app.pages.compare_inspect import CompareInspect
from app.pages.compare_order import PairOrder
from app.pages.compare_rank import RankMode
from app.pages.compare_thumbs import ThumbsMode
from app.widgets.common import named, page_title
from app.widgets.compare_pane import ComparePane
from app.widgets.person_round_box import PersonRoundBox
from app.widgets.rating_keys import RatingKeys
from app.widgets.recipe_bar import RecipeBar
from app.widgets.reward_table import RewardTable
from core.errors import StudioError
from core.rating.repeats import REPEAT_EVERY, pick_repeat
from core.store.rows import ComparisonRow, RatingRow


class ComparePage(PairGeneration, ThumbsMode, RankMode, PairOrder, QWidget):
    """Blind pairwise rating; every vote goes to the store immediately."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._prompts: list = []
        self._index = 0
        self._pairs: dict[int, Pair] = {}  # prompt id -> latest pair this session
        self._singles: dict[int, Pair] = {}  # prompt id -> latest single answer (thumbs)
        self._voted: list[Pair] = []  # every pair voted on this session, for the tally
        self._generating = False
        self._kept_queued: set[int] = set()
        """Prompts whose queued stored pair a generation in flight must not replace."""
        self._scoring = False
        self._rng = random.Random()  # side order: unpredictable on purpose
        self._votes_since_repeat = 0
        self._rewards = RewardCache()
        layout = QVBoxLayout(self)
        layout.addWidget(page_title("Compare & Rate"))
        layout.addLayout(self._build_prompt_row())
        self.prompt_label = named(QLabel(), "comparePrompt")
        self.prompt_label.setWordWrap(True)
        layout.addWidget(self.prompt_label)
        self.recipes = RecipeBar()
        self.recipes.generate_button.clicked.connect(self.generate)
        self.generate_button = self.recipes.generate_button
        self.variant_combos = self.recipes.variant_combos
        layout.addWidget(self.recipes)
        panes = QHBoxLayout()
        self.left_pane = ComparePane("Left", "leftCompletion")
        self.right_pane = ComparePane("Right", "rightCompletion")
        panes.addWidget(self.left_pane)
        panes.addWidget(self.right_pane)
        panes.addWidget(self._build_rank_box())
        layout.addLayout(panes, 1)
        layout.addLayout(self._build_vote_row())
        self.inspector = CompareInspect(self)  # a checkpoint's answer, token by token
        self._build_shortcuts()
        # Another set or workspace: the chosen order's queue is computed again.
        self.set_combo.currentTextChanged.connect(lambda _t: self._reorder_if_chosen())
        state.workspace_changed.connect(lambda _w: self._reorder_if_chosen())
        state.prompts_changed.connect(self._on_prompts_changed)
        state.feedback_changed.connect(self._update_counter)
        state.session_changed.connect(lambda _s: self._update_buttons())
        state.workspace_changed.connect(lambda _w: self._forget_pairs())
        self._on_prompts_changed()
        self._update_counter()

    # layout
    def _build_prompt_row(self) -> QHBoxLayout:
        self.set_combo = named(QComboBox(), "compareSetCombo")
        self.set_combo.currentTextChanged.connect(lambda _t: self._load_prompts())
        self.prev_button = named(QPushButton("◀"), "previousPromptButton")
        self.prev_button.setToolTip("Previous prompt (Left arrow)")
        self.prev_button.clicked.connect(lambda: self.move(-1))
        self.next_button = named(QPushButton("▶"), "nextPromptButton")
        self.next_button.setToolTip("Next prompt (Right arrow)")
        self.next_button.clicked.connect(lambda: self.move(1))
        self.position_label = named(QLabel(), "promptPosition")
        self.rater_edit = named(QLineEdit(), "raterEdit")
        self.rater_edit.setText(self.state.rater_name())
        self.rater_edit.setMaximumWidth(160)
        self.rater_edit.editingFinished.connect(self._on_rater_changed)
        self.counter_label = named(QLabel(), "ratedCounter")
        self.mode_combo = self._build_mode_combo()
        row = QHBoxLayout()
        for widget in (
            QLabel("Prompt set"),
            self.set_combo,
            self.prev_button,
            self.position_label,
            self.next_button,
        ):
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(QLabel("Rate"))
        row.addWidget(self.mode_combo)
        row.addWidget(QLabel("Rater"))
        row.addWidget(self.rater_edit)
        row.addWidget(self.counter_label)
        return row

    def _build_vote_row(self) -> QVBoxLayout:
        self.vote_buttons = {}
        row = QHBoxLayout()
        for verdict, name, text in (
            ("left", "rateLeftButton", "1 · Left better"),
            ("right", "rateRightButton", "2 · Right better"),
            ("tie", "rateTieButton", "3 · Tie"),
            ("both_bad", "rateBothBadButton", "0 · Both bad"),
        ):
            button = named(QPushButton(text), name)
            button.clicked.connect(lambda _c=False, v=verdict: self.vote(v))
            self.vote_buttons[verdict] = button
            row.addWidget(button)
        for button in self._build_thumb_buttons():
            row.addWidget(button)
        self.note_edit = named(QLineEdit(), "noteEdit")
        self.note_edit.setPlaceholderText("Note (N), saved with the next vote; Esc to leave")
        self.note_edit.returnPressed.connect(lambda: self.rating_keys.leave_field())
        row.addWidget(self.note_edit, 1)
        ai_box = self.ai_box = QGroupBox("AI scores beside each side")
        self.reward_table = RewardTable(("sentiment",), rows=2)
        self.auto_score_check = named(QCheckBox("Score each new pair"), "autoScoreCheck")
        self.auto_score_check.setChecked(True)
        self.score_button = named(QPushButton("Score now"), "scorePairButton")
        self.score_button.clicked.connect(self.score_current)
        self.auto_next_check = named(
            QCheckBox("After a vote, generate the next pair"), "autoNextCheck"
        )
        ai_row = QHBoxLayout(ai_box)
        ai_row.addWidget(self.reward_table, 1)
        side = QVBoxLayout()
        side.addWidget(self.auto_score_check)
        side.addWidget(self.score_button)
        side.addWidget(self.auto_next_check)
        self.repeats_check = named(QCheckBox("Hidden repeats"), "hiddenRepeatsCheck")
        self.repeats_check.setToolTip(
            f"With the next pair generated after a vote: after every {REPEAT_EVERY} votes, show "
            "one of your earlier pairs again with its sides swapped, unannounced, to measure "
            "your self-agreement (AI Feedback → Between people)"
        )
        side.addWidget(self.repeats_check)
        side.addLayout(self._build_order_row())
        ai_row.addLayout(side)
        self.status_label = named(QLabel(), "compareStatus")
        column = QVBoxLayout()
        column.addLayout(row)
        column.addWidget(self.status_label)
        self.tally_label = named(QLabel(), "recipeTally")
        self.tally_label.setToolTip("Recipes are shown only after a vote, so votes stay blind.")
        column.addWidget(self.tally_label)
        self.person_round_box = PersonRoundBox(
            self.state, self._queue_round_pairs,
            lambda: self.rater_edit.text().strip() or login_name(), self.set_combo.currentText,
        )  # fmt: skip
        boxes = QHBoxLayout()
        # The scores box wider: its table's Argument column clipped at 1280 wide.
        boxes.addWidget(ai_box, 3)
        boxes.addWidget(self.person_round_box, 2)
        column.addLayout(boxes)
        return column

    def _build_shortcuts(self) -> None:
        # The rating keys work wherever the focus is while the page shows (RatingKeys).
        self.rating_keys = RatingKeys(
            self,
            {
                "1": lambda: self._digit("1"),
                "2": lambda: self._digit("2"),
                "3": lambda: self._digit("3"),
                "4": lambda: self._digit("4"),
                "0": lambda: self.vote("both_bad"),
                "+": lambda: self.thumb("up"),
                "=": self._equals,  # thumbs up (the + key without Shift), or a tie in Rank
                "Backspace": lambda: self.rank_box.undo() if self.rank_mode() else None,
                "-": lambda: self.thumb("down"),
                "N": lambda: self.rating_keys.enter_field(self.note_edit),
                "G": self.generate,
                "Escape": self.rating_keys_leave,
            },
        )
        self.rating_keys.watch_fields()
        moves = {"Left": -1, "Right": 1, "Up": -1, "Down": 1}
        self._shortcuts = []
        for key, delta in moves.items():
            shortcut = QShortcut(QKeySequence(key), self)
            # Only while focus is on this page: the sidebar and combos keep their arrows.
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(lambda d=delta: self.move(d))
            self._shortcuts.append(shortcut)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        """Watch text fields added since (reward rows): a key falling into one votes."""
        super().showEvent(event)
        self.rating_keys.watch_fields()

    def rating_keys_leave(self) -> None:
        """Esc: out of the note (or any field) and back to the rating keys."""
        self.rating_keys.leave_field()

    # prompts
    def _on_prompts_changed(self) -> None:
        if self.state.store is None:
            return
        current = self.set_combo.currentText()
        sets = self.state.store.prompt_sets()
        self.set_combo.blockSignals(True)
        self.set_combo.clear()
        self.set_combo.addItems(sets)
        preferred = current if current in sets else DEMO_PROMPT_SET
        if preferred in sets:
            self.set_combo.setCurrentText(preferred)
        self.set_combo.blockSignals(False)
        self._load_prompts()

    def _load_prompts(self) -> None:
        name = self.set_combo.currentText()
        self._prompts = self.state.require_store().prompts(name) if name else []
        self._index = min(self._index, max(len(self._prompts) - 1, 0))
        self._show_current()

    def current_prompt(self):
        return self._prompts[self._index] if self._prompts else None

    # Shadows QWidget.move(x, y) (no caller moves this page as a widget); tests, keys and
    # the screenshot tour step prompts with it.
    def move(self, delta: int) -> None:  # type: ignore[override]
        """Go to the previous/next prompt, showing its latest pair if there is one."""
        if not self._prompts:
            return
        self._index = (self._index + delta) % len(self._prompts)
        self._show_current()

    def _show_current(self) -> None:
        prompt = self.current_prompt()
        total = len(self._prompts)
        self.position_label.setText(f"{self._index + 1} / {total}" if total else "no prompts")
        self.prompt_label.setText(
            f"<b>Prompt:</b> {prompt.text}"
            if prompt
            else "This set has no prompts; add some on the Prompts page."
        )
        if self.rank_mode():
            self._show_rank(prompt.id if prompt else None)
        pair = self.current_pair()
        if pair is None:
            self.left_pane.clear()
            self.right_pane.clear()
            self.left_pane.show_verdict("Answer" if self.single_mode() else "Left")
            self.right_pane.show_verdict("Right")
        else:
            self._show_pair(pair)
        self._update_buttons()

    def current_pair(self) -> Pair | None:
        """The current prompt's latest pair, or in single answers mode its answer."""
        prompt = self.current_prompt()
        return self._shown_pairs().get(prompt.id) if prompt else None

    def _show_pair(self, pair: Pair) -> None:
        self._show_texts(pair)
        self.inspector.update(pair)

    def _show_texts(self, pair: Pair) -> None:
        if len(pair.sides) == 1:
            self.left_pane.show_text(pair.prompt, pair.sides[0].text)
            self.left_pane.show_verdict(single_title(pair))
            if pair.scores:
                self._show_scores(pair)
            return
        left, right = pair.shown()
        self.left_pane.show_text(pair.prompt, pair.sides[left].text)
        self.right_pane.show_text(pair.prompt, pair.sides[right].text)
        if pair.verdict is None:
            self.left_pane.show_verdict("Left")
            self.right_pane.show_verdict("Right")
        else:  # voted: the recipes may be seen now
            marks = VOTE_MARKS[pair.verdict]
            self.left_pane.show_verdict(f"Left: {pair.recipe(left)}{marks[0]}")
            self.right_pane.show_verdict(f"Right: {pair.recipe(right)}{marks[1]}")
        if pair.scores:
            self._show_scores(pair)

    def _forget_pairs(self) -> None:
        self._pairs.clear()
        self._singles.clear()
        self._voted.clear()
        self.tally_label.setText("")

    # voting
    def vote(self, verdict: str) -> None:
        """Save `verdict` on the current pair at once (one vote per pair)."""
        pair = self.current_pair()
        if pair is None or self._generating or self.single_mode():
            return
        if pair.verdict is not None:
            self.status_label.setText(f"Already rated: {VERDICT_TEXT[pair.verdict]}.")
            return
        left, right = pair.shown()
        rater = self.rater_edit.text().strip() or login_name()
        note = self.note_edit.text().strip() or None
        detail: dict[str, str | int] = {
            "left_recipe": pair.sides[left].variant,
            "right_recipe": pair.sides[right].variant,
        }
        if pair.repeat_of is not None:
            detail["repeat_of"] = pair.repeat_of
        try:
            self.state.require_store().add_comparison(
                pair.prompt_id,
                pair.generation_ids[left],
                pair.generation_ids[right],
                verdict,
                rater,
                note=note,
                detail=detail,
                swapped=pair.swapped,
            )
        except (StudioError, ValueError) as error:
            self.state.errors.report(error, "Saving the vote")
            return
        pair.verdict = verdict
        self._voted.append(pair)
        self._after_vote(pair, f"Saved: {VERDICT_TEXT[verdict]}.")
        self.tally_label.setText(recipe_tally(self._voted))

    def _after_vote(self, pair: Pair, saved: str) -> None:
        """Show the revealed pair; the focus leaves any field (so the next key votes);
        with auto-next on, on to the next prompt not yet rated."""
        self.note_edit.clear()
        if self.isVisible():
            self.rating_keys.leave_field()
        self._show_pair(pair)
        self.status_label.setText(saved)
        self.state.feedback_changed.emit()
        self._update_buttons()
        if not self.single_mode() and self._next_in_order():
            return  # a pair order was chosen: its next pair
        if self.auto_next_check.isChecked():
            self._auto_next(saved)

    def _auto_next(self, saved: str) -> None:
        """Go to the next prompt without a rated pair (never wrapping onto a rated one) and
        generate its pair; when every prompt is rated, say the set is done."""
        self._votes_since_repeat += 1
        if self._hidden_repeat():
            return
        total = len(self._prompts)
        shown = self._shown_pairs()
        for step in range(1, total):
            index = (self._index + step) % total
            pair = shown.get(self._prompts[index].id)
            if pair is None or pair.verdict is None:
                self._index = index
                self._show_current()
                if pair is None:
                    self.generate()
                return
        self.status_label.setText(
            f"{saved} Every prompt of set {self.set_combo.currentText()} is rated this "
            "session: choose another set, or press G for a fresh pair here."
        )

    def _hidden_repeat(self) -> bool:
        """With Hidden repeats on and REPEAT_EVERY votes since the last: show one of this
        rater's earlier pairs of the set again, sides swapped (core.rating.repeats)."""
        if not self.repeats_check.isChecked() or self._votes_since_repeat < REPEAT_EVERY:
            return False
        rater = self.rater_edit.text().strip() or login_name()
        ids = {prompt.id: index for index, prompt in enumerate(self._prompts)}
        store = self.state.require_store()
        row = pick_repeat(store.comparisons("human"), rater, ids, self._rng)
        if row is None:
            return False
        generations = [store.generation(row.right_id), store.generation(row.left_id)]
        sides = [
            SideCompletion(stored_recipe(g), g.text, g.seed or 0, g.params, g.adapter)
            for g in generations
        ]
        pair = Pair(row.prompt_id, row.prompt, sides, [g.id for g in generations],
                    swapped=False, repeat_of=row.id)  # fmt: skip
        self._pairs[row.prompt_id] = pair
        self._votes_since_repeat = 0
        self._index = ids[row.prompt_id]
        self._show_current()
        return True

    def default_rater(self) -> str:
        """The login name, the rater when the Rater field is empty."""
        return login_name()

    def refresh_rater(self) -> None:
        """Show the rater name Settings saved."""
        self.rater_edit.setText(self.state.rater_name())
        self._update_counter()

    def _on_rater_changed(self) -> None:
        name = self.rater_edit.text().strip()
        if name:
            self.state.set_setting("ui/rater", name)
        self._update_counter()

    def _update_counter(self) -> None:
        store = self.state.store
        if store is None:
            return
        rater = self.rater_edit.text().strip()
        human = store.ratings if self.single_mode() else store.comparisons
        rows: Sequence[RatingRow] | Sequence[ComparisonRow] = human("human")
        mine = sum(1 for row in rows if row.rater == rater)
        self.counter_label.setText(f"Rated: <b>{mine}</b> by you · {len(rows)} in total")

    # stored pairs, e.g. a paused run's latest samples
    def rate_stored_pairs(self, set_name: str, pairs: Sequence[tuple[int, int, int]]) -> None:
        """Queue stored (prompt id, policy generation, reference generation) pairs for blind
        rating: the page switches to their prompt set, each prompt shows its pair."""
        store = self.state.require_store()
        for prompt_id, policy_id, base_id in pairs:
            if self._generating:  # a pair on its way for this prompt must not replace it
                self._kept_queued.add(prompt_id)
            rows = [store.generation(base_id), store.generation(policy_id)]  # recipe A, B
            sides = [
                SideCompletion(stored_recipe(row), row.text, row.seed or 0, row.params, row.adapter)
                for row in rows
            ]
            pair = Pair(prompt_id, rows[0].prompt, sides, [base_id, policy_id],
                        swapped=self._rng.random() < 0.5)  # fmt: skip
            self._pairs[prompt_id] = pair
        self.state.prompts_changed.emit()  # the set may be new to the combo
        self.set_combo.setCurrentText(set_name)
        ids = [prompt.id for prompt in self._prompts]
        if pairs and pairs[0][0] in ids:
            self._index = ids.index(pairs[0][0])
            self._show_current()
        self.status_label.setText(
            f"{len(pairs)} stored pairs to rate in set {set_name}: 1 left · 2 right · 3 tie · "
            "0 both bad, arrows for the next."
        )

    def _queue_round_pairs(self, set_name: str, pairs: Sequence[tuple[int, int, int]]) -> None:
        """A DPO round's pairs (or its blind test) to rate: in pairs mode, blind."""
        self.mode_combo.setCurrentIndex(0)
        self.rate_stored_pairs(set_name, pairs)

    # checkpoints from the Runs page
    def add_checkpoint(self, label: str, adapter_path: str) -> None:
        """Offer a checkpoint as a recipe and put it on side B against the base on A."""
        self.recipes.add_checkpoint(label, adapter_path)
        if self.single_mode():
            self.mode_combo.setCurrentIndex(0)
        self.status_label.setText(f"Comparing the base model with {label}.")
        if self.state.session is None:
            self.status_label.setText(f"Load a model to compare the base with {label}.")
        elif self.current_prompt() is not None:
            self.generate()  # the new pair at once, not the last recipes' pair

    def _update_buttons(self) -> None:
        pair = self.current_pair()
        ready = self.state.session is not None and self.current_prompt() is not None
        self.generate_button.setEnabled(ready and not self._generating)
        can_vote = pair is not None and pair.verdict is None and not self._generating
        for button in (*self.vote_buttons.values(), *self.thumb_buttons.values()):
            button.setEnabled(can_vote)
        self.score_button.setEnabled(pair is not None and not self._scoring)
