"""Compare & Rate's pair order (a mixin of ComparePage): new pairs prompt by prompt (the
default), or the stored pairs of the set that no person has compared, in random order,
where the reward model is least sure, or where a judge and the reward model disagree
(core.rating.label_order; computed in a job thread by app/jobs/label_order.py).

An order that needs a reward model says so in one line when the workspace has none, and
stays chosen: it never falls back to another order by itself."""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel

from app.compare_pairs import Pair, stored_recipe
from app.jobs.label_order import order_stored_pairs
from app.jobs.model import SideCompletion
from app.pages.compare_host import CompareHost
from app.widgets.common import named
from app.workers import start_job
from core.rating.label_order import NEEDS_REWARD_MODEL, Ordering, latest_reward_model
from core.rating.label_order import no_reward_model_message as _no_rm

ORDER_CHOICES = (
    ("prompts", "New pairs, prompt by prompt",
     "Generate a fresh pair for each prompt of the set, in the set's order."),
    ("random", "Stored pairs, random",
     "The set's stored pairs no person has compared yet, shuffled."),
    ("active", "Stored pairs, reward model least sure",
     "The set's stored pairs no person has compared, those the reward model is least sure "
     "of first: a bootstrap ensemble of its head, refitted on the labelled pairs (BALD). "
     "Needs a trained reward model (AI Feedback → Train reward model)."),
    ("disagreement", "Stored pairs, judge and reward model disagree",
     "The set's stored pairs a judge labelled and no person has compared, those where the "
     "judge and the reward model differ most first. Needs a trained reward model and the "
     "judge's labels (AI Feedback → Label)."),
)  # fmt: skip
"""(order, combo text, tooltip)."""
REORDER_EVERY = 10
"""Votes after which an active order is computed again, with the new labels."""


class PairOrder(CompareHost):
    """The Order combo and the queue of stored pairs it fills; ComparePage supplies the
    rest (its store access, pair bookkeeping and status line)."""

    def _build_order_row(self) -> QHBoxLayout:
        self._order_queue: list[tuple[int, int, int]] = []
        self._votes_since_order = 0
        self._ordering = False
        combo = self.order_combo = named(QComboBox(), "compareOrderCombo")
        for index, (order, text, tip) in enumerate(ORDER_CHOICES):
            combo.addItem(text, order)
            combo.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)
        combo.setToolTip(ORDER_CHOICES[0][2])
        # Not as wide as its longest choice (its popup still is): that width was taken from
        # the AI scores' table beside it, which then scrolled sideways at 1280 wide.
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(18)
        combo.currentIndexChanged.connect(lambda _i: self.reorder())
        row = QHBoxLayout()
        row.addWidget(QLabel("Next pair"))
        row.addWidget(combo, 1)
        return row

    def pair_order(self) -> str:
        """The chosen order: prompts | random | active | disagreement."""
        return self.order_combo.currentData()

    def reorder(self) -> None:
        """Compute the chosen order's queue in the background (or explain why not)."""
        order = self.pair_order()
        self._order_queue = []
        self._votes_since_order = 0
        self.order_combo.setToolTip(ORDER_CHOICES[self.order_combo.currentIndex()][2])
        if order == "prompts" or self.state.store is None:
            return
        if order in NEEDS_REWARD_MODEL and latest_reward_model(self.state.workspace) is None:
            # One line that fits the status row at 1280 wide; the whole reason in the tooltip.
            self.order_combo.setToolTip(_no_rm(order).replace("random order",
                                                              "'Stored pairs, random'"))  # fmt: skip
            self.status_label.setText(
                "No reward model in this workspace yet: train one on AI Feedback, or choose "
                "'Stored pairs, random'."
            )
            return
        if self._ordering:
            return
        self._ordering = True
        self.status_label.setText("Ordering the stored pairs…")
        start_job(
            self.state,
            order_stored_pairs,
            self.state.workspace,
            self.set_combo.currentText(),
            order,
            # The ensemble's bootstrap is seeded (the same labels give the same order);
            # the random order is new each time.
            self._rng.randrange(2**31) if order == "random" else 0,
            description="Ordering pairs to rate",
            context="Ordering the pairs to rate",
            on_done=partial(self._on_ordered, order),
            on_error=self._on_order_failed,
        )

    def _on_order_failed(self, _error: BaseException) -> None:
        self._ordering = False  # the error reporter has shown why; a new choice may retry

    def _on_ordered(self, order: str, result: Ordering | str) -> None:
        self._ordering = False
        if order != self.pair_order():
            return  # the choice changed while this one was computed
        if isinstance(result, str):
            self.status_label.setText(result)
            self.order_combo.setToolTip(result)
            return
        if not result.pairs:
            self.status_label.setText(
                f"Set {self.set_combo.currentText()} has no stored pair that no person has "
                "compared: generate answers (G), label pairs on AI Feedback, or choose "
                "'New pairs, prompt by prompt'."
            )
            return
        self._order_queue = list(result.pairs)
        self._show_queued()
        self.status_label.setText(
            f"{result.message}. 1 left · 2 right · 3 tie · 0 both bad; the next comes after "
            "each vote."
        )

    def _reorder_if_chosen(self) -> None:
        if self.pair_order() != "prompts":
            self.reorder()

    def _show_queued(self) -> bool:
        """Show the next queued pair (blind, sides in random order); False when none."""
        ids = [prompt.id for prompt in self._prompts]
        while self._order_queue:
            prompt_id, left, right = self._order_queue.pop(0)
            if prompt_id in ids:
                break
        else:
            return False
        store = self.state.require_store()
        rows = [store.generation(left), store.generation(right)]
        sides = [SideCompletion(stored_recipe(r), r.text, r.seed or 0, r.params, r.adapter)
                 for r in rows]  # fmt: skip
        self._pairs[prompt_id] = Pair(prompt_id, rows[0].prompt, sides, [left, right],
                                      swapped=self._rng.random() < 0.5)  # fmt: skip
        self._index = ids.index(prompt_id)
        self._show_current()
        return True

    def _next_in_order(self) -> bool:
        """After a vote: the next pair of the chosen order (recomputed every REORDER_EVERY
        votes for the orders that learn from them). False in prompt order."""
        if self.pair_order() == "prompts":
            return False
        self._votes_since_order += 1
        if self.pair_order() in NEEDS_REWARD_MODEL and self._votes_since_order >= REORDER_EVERY:
            self.reorder()
            return True
        if not self._show_queued():
            self.status_label.setText("Every stored pair in this order is rated: choose "
                                      "another order or set, or press G for a new pair.")  # fmt: skip
        return True
