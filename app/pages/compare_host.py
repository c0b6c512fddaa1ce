"""What Compare & Rate's mixins (generation, thumbs, rank, order) use of the page and of
each other.

ComparePage is built from PairGeneration, ThumbsMode, RankMode and PairOrder, which share
its widgets and bookkeeping. Each mixin derives from CompareHost, which declares those shared parts
for the type checker only: annotations, and method signatures behind TYPE_CHECKING, so at
run time it adds nothing and every name resolves to the page's or a mixin's own definition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import random

    from PySide6.QtWidgets import QCheckBox, QComboBox, QGroupBox, QLabel, QLineEdit, QPushButton

    from app.app_state import AppState
    from app.compare_pairs import Pair
    from app.jobs.model import RewardCache, SideCompletion
    from app.widgets.compare_pane import ComparePane
    from app.widgets.rank_box import RankBox
    from app.widgets.recipe_bar import RecipeBar
    from app.widgets.reward_table import RewardTable
    from core.store import PromptRow


class CompareHost:
    """The Compare & Rate page as its mixins see it (see the module docstring)."""

    # the page's (ComparePage.__init__)
    state: AppState
    status_label: QLabel
    left_pane: ComparePane
    right_pane: ComparePane
    recipes: RecipeBar
    rater_edit: QLineEdit
    note_edit: QLineEdit
    mode_combo: QComboBox
    vote_buttons: dict[str, QPushButton]
    reward_table: RewardTable
    auto_score_check: QCheckBox
    ai_box: QGroupBox
    _rng: random.Random
    _rewards: RewardCache
    _pairs: dict[int, Pair]
    _singles: dict[int, Pair]
    set_combo: QComboBox
    _prompts: list[PromptRow]
    _index: int
    _kept_queued: set[int]
    _generating: bool
    _scoring: bool
    # RankMode's
    rank_box: RankBox

    if TYPE_CHECKING:
        # the page's
        def current_prompt(self) -> PromptRow | None: ...
        def current_pair(self) -> Pair | None: ...
        def default_rater(self) -> str: ...
        def vote(self, verdict: str) -> None: ...
        def _show_current(self) -> None: ...
        def _show_pair(self, pair: Pair) -> None: ...
        def _update_buttons(self) -> None: ...
        def _update_counter(self) -> None: ...
        def _after_vote(self, pair: Pair, saved: str) -> None: ...

        # the mixins'
        def single_mode(self) -> bool: ...
        def rank_mode(self) -> bool: ...
        def thumb(self, thumb: str) -> None: ...
        def _on_rank_generated(self, prompt: PromptRow, sides: list[SideCompletion]) -> None: ...
