"""Compare & Rate: two completions of one prompt side by side, generated in the background
from two recipes (base vs adapter, two checkpoints, two temperatures), shown in a random
left/right order that is recorded; keyboard voting saved at once; per-side AI scores.
After a vote the recipes are revealed, and a tally says which recipe wins this session.

Single answers mode (the Rate combo): one answer per prompt from recipe B (by default
the policy), rated thumbs up (+ key) or down (- key), stored as a rating of 1 / 0 with
the rater's name: KTO's data (core.offline.data.kto_examples)."""

from __future__ import annotations

import getpass
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

from app.app_state import DEMO_PROMPT_SET, AppState
from app.compare_pairs import (
    VERDICT_TEXT,
    VOTE_MARKS,
    Pair,
    recipe_tally,
    single_title,
    stored_recipe,
)
from app.jobs.model import (
    RewardCache,
    SideCompletion,
    SideScores,
    generate_pair,
    score_responses,
)
from app.pages.compare_thumbs import ThumbsMode
from app.widgets.common import page_title
from app.widgets.compare_pane import ComparePane
from app.widgets.recipe_bar import RecipeBar
from app.widgets.reward_table import RewardTable
from app.workers import start_job
from core.errors import StudioError


class ComparePage(ThumbsMode, QWidget):
    """Blind pairwise rating; every vote goes to the store immediately."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._prompts: list = []
        self._index = 0
        self._pairs: dict[int, Pair] = {}  # prompt id -> latest pair this session
        self._singles: dict[int, Pair] = {}  # prompt id -> latest single answer (thumbs)
        self._generating = False
        self._scoring = False
        self._rng = random.Random()  # side order: unpredictable on purpose
        self._rewards = RewardCache()
        layout = QVBoxLayout(self)
        layout.addWidget(page_title("Compare & Rate"))
        layout.addLayout(self._build_prompt_row())
        self.prompt_label = QLabel(objectName="comparePrompt")
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
        layout.addLayout(panes, 1)
        layout.addLayout(self._build_vote_row())
        self._build_shortcuts()
        state.prompts_changed.connect(self._on_prompts_changed)
        state.feedback_changed.connect(self._update_counter)
        state.session_changed.connect(lambda _s: self._update_buttons())
        state.workspace_changed.connect(lambda _w: self._forget_pairs())
        self._on_prompts_changed()
        self._update_counter()

    # layout
    def _build_prompt_row(self) -> QHBoxLayout:
        self.set_combo = QComboBox(objectName="compareSetCombo")
        self.set_combo.currentTextChanged.connect(lambda _t: self._load_prompts())
        self.prev_button = QPushButton("◀", objectName="previousPromptButton")
        self.prev_button.setToolTip("Previous prompt (Left arrow)")
        self.prev_button.clicked.connect(lambda: self.move(-1))
        self.next_button = QPushButton("▶", objectName="nextPromptButton")
        self.next_button.setToolTip("Next prompt (Right arrow)")
        self.next_button.clicked.connect(lambda: self.move(1))
        self.position_label = QLabel(objectName="promptPosition")
        self.rater_edit = QLineEdit(objectName="raterEdit")
        self.rater_edit.setText(self.state.setting("ui/rater", "") or _user_name())
        self.rater_edit.setMaximumWidth(160)
        self.rater_edit.editingFinished.connect(self._on_rater_changed)
        self.counter_label = QLabel(objectName="ratedCounter")
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
            button = QPushButton(text, objectName=name)
            button.clicked.connect(lambda _c=False, v=verdict: self.vote(v))
            self.vote_buttons[verdict] = button
            row.addWidget(button)
        for button in self._build_thumb_buttons():
            row.addWidget(button)
        self.note_edit = QLineEdit(objectName="noteEdit")
        self.note_edit.setPlaceholderText("Note (N), saved with the next vote; Esc to leave")
        self.note_edit.returnPressed.connect(lambda: self.setFocus())
        row.addWidget(self.note_edit, 1)
        ai_box = QGroupBox("AI scores beside each side")
        self.reward_table = RewardTable(("sentiment",), rows=2)
        self.auto_score_check = QCheckBox("Score each new pair", objectName="autoScoreCheck")
        self.auto_score_check.setChecked(True)
        self.score_button = QPushButton("Score now", objectName="scorePairButton")
        self.score_button.clicked.connect(self.score_current)
        self.auto_next_check = QCheckBox(
            "After a vote, generate the next pair", objectName="autoNextCheck"
        )
        ai_row = QHBoxLayout(ai_box)
        ai_row.addWidget(self.reward_table, 1)
        side = QVBoxLayout()
        side.addWidget(self.auto_score_check)
        side.addWidget(self.score_button)
        side.addWidget(self.auto_next_check)
        ai_row.addLayout(side)
        self.status_label = QLabel(objectName="compareStatus")
        column = QVBoxLayout()
        column.addLayout(row)
        column.addWidget(self.status_label)
        self.tally_label = QLabel(objectName="recipeTally")
        self.tally_label.setToolTip("Recipes are shown only after a vote, so votes stay blind.")
        column.addWidget(self.tally_label)
        column.addWidget(ai_box)
        return column

    def _build_shortcuts(self) -> None:
        keys = {
            "1": lambda: self.vote("left"),
            "2": lambda: self.vote("right"),
            "3": lambda: self.vote("tie"),
            "0": lambda: self.vote("both_bad"),
            "+": lambda: self.thumb("up"),
            "=": lambda: self.thumb("up"),  # the + key without Shift
            "-": lambda: self.thumb("down"),
            "N": self.note_edit.setFocus,
            "G": self.generate,
            "Left": lambda: self.move(-1),
            "Right": lambda: self.move(1),
            "Up": lambda: self.move(-1),
            "Down": lambda: self.move(1),
            "Escape": self.setFocus,
        }
        self._shortcuts = []
        for key, slot in keys.items():
            shortcut = QShortcut(QKeySequence(key), self)
            # Only while focus is on this page; text fields keep their own keys.
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
            self._shortcuts.append(shortcut)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

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
        self._prompts = self.state.store.prompts(name) if name else []
        self._index = min(self._index, max(len(self._prompts) - 1, 0))
        self._show_current()

    def current_prompt(self):
        return self._prompts[self._index] if self._prompts else None

    def move(self, delta: int) -> None:
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

    # generating
    def generate(self) -> None:
        """Generate a pair for the current prompt in the background."""
        prompt = self.current_prompt()
        session = self.state.session
        if self._generating or prompt is None:
            return
        if session is None:
            self.state.errors.report(
                StudioError("Load a model first (Model page), then generate a pair."),
                "Generating a pair",
            )
            return
        self._generating = True
        self._update_buttons()
        self.status_label.setText("Generating…")
        self.left_pane.clear("Generating…")
        self.right_pane.clear("Generating…")
        variants = self.recipes.variants()
        start_job(
            self.state,
            generate_pair,
            session,
            prompt.text,
            variants[-1:] if self.single_mode() else variants,
            self._rng.randrange(2**31),
            description="Generating a pair",
            context="Generating a pair",
            on_done=lambda sides, p=prompt: self._on_generated(p, sides),
            on_error=self._on_generate_failed,
            uses_model=True,
        )

    def _on_generated(self, prompt, sides: list[SideCompletion]) -> None:
        self._generating = False
        store = self.state.store
        model = self.state.session.name if self.state.session else "unknown"
        ids = [
            store.add_generation(prompt.id, side.text, model, side.adapter, side.params, side.seed)
            for side in sides
        ]
        single = len(sides) == 1
        swapped = not single and self._rng.random() < 0.5
        pair = Pair(prompt.id, prompt.text, list(sides), ids, swapped=swapped)
        (self._singles if single else self._pairs)[prompt.id] = pair
        self.state.feedback_changed.emit()
        if self.current_pair() is pair:
            self._show_pair(pair)
        self.status_label.setText(
            "Good answer? + thumbs up · - thumbs down"
            if single
            else "Which is better? 1 left · 2 right · 3 tie · 0 both bad"
        )
        self._update_buttons()
        if self.auto_score_check.isChecked():
            self.score_current()

    def _on_generate_failed(self, _error: BaseException) -> None:
        self._generating = False
        self.left_pane.clear()
        self.right_pane.clear()
        self.status_label.setText("Generation failed.")
        self._update_buttons()

    def _show_pair(self, pair: Pair) -> None:
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
        rater = self.rater_edit.text().strip() or _user_name()
        note = self.note_edit.text().strip() or None
        detail = {
            "left_recipe": pair.sides[left].variant,
            "right_recipe": pair.sides[right].variant,
        }
        try:
            self.state.store.add_comparison(
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
        self.note_edit.clear()
        self._show_pair(pair)
        self.status_label.setText(f"Saved: {VERDICT_TEXT[verdict]}.")
        self.tally_label.setText(recipe_tally(self._pairs.values()))
        self.state.feedback_changed.emit()
        self._update_buttons()
        if self.auto_next_check.isChecked():
            self.move(1)
            if self.current_pair() is None:
                self.generate()

    def default_rater(self) -> str:
        """The login name, the rater when the Rater field is empty."""
        return _user_name()

    def _on_rater_changed(self) -> None:
        name = self.rater_edit.text().strip()
        if name:
            self.state.set_setting("ui/rater", name)
        self._update_counter()

    def _update_counter(self) -> None:
        if self.state.store is None:
            return
        rater = self.rater_edit.text().strip()
        if self.single_mode():
            rows = self.state.store.ratings("human")
        else:
            rows = self.state.store.comparisons("human")
        mine = sum(1 for row in rows if row.rater == rater)
        self.counter_label.setText(f"Rated: <b>{mine}</b> by you · {len(rows)} in total")

    # AI scores
    def score_current(self) -> None:
        """Score both sides with the configured reward sources (in the background)."""
        pair = self.current_pair()
        if pair is None or self._scoring:
            return
        try:
            specs = self.reward_table.specs()
        except StudioError as error:
            self.state.errors.report(error, "Scoring the pair")
            return
        references = {}
        prompt = self.current_prompt()
        if prompt is not None and prompt.reference:
            references[prompt.text] = prompt.reference
        self._scoring = True
        self._update_buttons()
        start_job(
            self.state,
            score_responses,
            specs,
            [pair.prompt] * len(pair.sides),
            [side.text for side in pair.sides],
            self._rewards,
            self.state.session,
            references,
            description="AI-scoring a pair",
            context="Scoring the pair",
            on_done=lambda scores, p=pair: self._on_scored(p, scores),
            on_error=lambda _e: self._on_scored(None, None),
            uses_model=True,
        )

    def _on_scored(self, pair: Pair | None, scores: SideScores | None) -> None:
        self._scoring = False
        self._update_buttons()
        if pair is None or scores is None:
            return
        pair.scores = [scores]
        for source, weight, column in zip(
            scores.sources, scores.weights, scores.values, strict=True
        ):
            for generation_id, value in zip(pair.generation_ids, column, strict=True):
                self.state.store.add_score(generation_id, source, value, {"weight": weight})
        if self.current_pair() is pair:
            self._show_scores(pair)

    def _show_scores(self, pair: Pair) -> None:
        scores = pair.scores[-1]
        left, right = pair.shown()
        panes = ((self.left_pane, left),) if len(pair.sides) == 1 else (
            (self.left_pane, left), (self.right_pane, right))  # fmt: skip
        for pane, index in panes:
            pane.show_scores(scores.sources, scores.weights, [col[index] for col in scores.values])

    # stored pairs, e.g. a paused run's latest samples
    def rate_stored_pairs(self, set_name: str, pairs: Sequence[tuple[int, int, int]]) -> None:
        """Queue stored (prompt id, policy generation, reference generation) pairs for blind
        rating: the page switches to their prompt set, each prompt shows its pair."""
        store = self.state.store
        for prompt_id, policy_id, base_id in pairs:
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

    # checkpoints from the Runs page
    def add_checkpoint(self, label: str, adapter_path: str) -> None:
        """Offer a checkpoint as a recipe and put it on side B against the base on A."""
        self.recipes.add_checkpoint(label, adapter_path)
        self.status_label.setText(f"Comparing the base model with {label}. Press G.")

    def _update_buttons(self) -> None:
        pair = self.current_pair()
        ready = self.state.session is not None and self.current_prompt() is not None
        self.generate_button.setEnabled(ready and not self._generating)
        can_vote = pair is not None and pair.verdict is None and not self._generating
        for button in (*self.vote_buttons.values(), *self.thumb_buttons.values()):
            button.setEnabled(can_vote)
        self.score_button.setEnabled(pair is not None and not self._scoring)


def _user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "rater"
