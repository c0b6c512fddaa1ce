"""Compare & Rate's Rank mode (a mixin of ComparePage): four answers to one prompt (two
samples of each recipe, shown in a random order), ranked with the keys or by dragging
them into order (app.widgets.rank_box), ties allowed,
stored as the pairs the ranking implies (Store.add_ranking, core.data.rankings)."""

from __future__ import annotations

from dataclasses import dataclass

from app.pages.compare_host import CompareHost
from app.widgets.rank_box import RankBox
from core.errors import StudioError

RANK_SAMPLES_PER_RECIPE = 2
"""Each recipe answers twice: 4 answers, 6 pairs for one reading."""


@dataclass
class RankItem:
    """One prompt's answers in the order shown, and the ranking once given."""

    generation_ids: list[int]
    texts: list[str]
    recipes: list[str]
    groups: tuple | None = None


class RankMode(CompareHost):
    """The rank box, its keys and saving; ComparePage supplies the rest."""

    def _build_rank_box(self) -> RankBox:
        self._ranks: dict[int, RankItem] = {}
        self.rank_box = RankBox()
        self.rank_box.setVisible(False)
        self.rank_box.completed.connect(self._on_ranked)
        return self.rank_box

    def rank_mode(self) -> bool:
        """Whether the page ranks several answers."""
        return self.mode_combo.currentIndex() == 2

    def _digit(self, digit: str) -> None:
        """1-4: place an answer (Rank mode); 1/2/3: left, right, tie (pairs)."""
        if self.rank_mode():
            self.rank_box.pick(int(digit) - 1)
        elif digit in ("1", "2", "3"):
            self.vote({"1": "left", "2": "right", "3": "tie"}[digit])

    def _equals(self) -> None:
        """= ties the next answer with the last (Rank mode); thumbs up otherwise."""
        if self.rank_mode():
            self.rank_box.tie()
        else:
            self.thumb("up")

    def _show_rank(self, prompt_id: int | None) -> None:
        item = self._ranks.get(prompt_id) if prompt_id is not None else None
        self.rank_box.set_answers(item.texts if item else [])
        if item is not None and item.groups is not None:
            self.rank_box.groups = [list(group) for group in item.groups]
            self.rank_box.done = True
            self.rank_box._show_order()

    def _on_rank_generated(self, prompt, sides) -> None:
        store = self.state.require_store()
        model = self.state.session.name if self.state.session else "unknown"
        order = list(range(len(sides)))
        self._rng.shuffle(order)  # blind: which recipe wrote which answer is not shown
        shown = [sides[i] for i in order]
        ids = [
            store.add_generation(prompt.id, side.text, model, side.adapter, side.params, side.seed)
            for side in shown
        ]
        self._ranks[prompt.id] = RankItem(ids, [s.text for s in shown], [s.variant for s in shown])
        self.state.feedback_changed.emit()
        current = self.current_prompt()
        if current is not None and current.id == prompt.id:
            self._show_rank(prompt.id)
        self.status_label.setText(
            "Rank them: the numbers best first (= for a tie), or drag the list into order "
            "and Save ranking."
        )

    def _on_ranked(self, groups: tuple) -> None:
        prompt = self.current_prompt()
        item = self._ranks.get(prompt.id) if prompt is not None else None
        if prompt is None or item is None or item.groups is not None:
            return
        rater = self.rater_edit.text().strip() or self.default_rater()
        try:
            self.state.require_store().add_ranking(
                prompt.id, item.generation_ids, groups, rater, {"recipes": item.recipes}
            )
        except (StudioError, ValueError) as error:
            self.state.errors.report(error, "Saving the ranking")
            return
        item.groups = groups
        self.status_label.setText(
            f"Saved ranking {self.rank_box.text()} ({len(item.texts) * (len(item.texts) - 1) // 2}"
            " pairs). Recipes: " + ", ".join(f"{i + 1} {r}" for i, r in enumerate(item.recipes))
        )
        self.state.feedback_changed.emit()
