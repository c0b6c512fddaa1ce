"""Compare & Rate's generation and AI scoring (a mixin of ComparePage): a pair (or in
single answers mode one answer) for the current prompt, generated in the background from
the recipes, stored, shown in a random left/right order; and each side's score from the
configured reward sources, stored beside it. ComparePage supplies the panes, the recipe
bar, the reward table and the pair bookkeeping."""

from __future__ import annotations

from functools import partial

from app.compare_pairs import Pair
from app.jobs.model import SideCompletion, SideScores, generate_pair, score_responses
from app.pages.compare_host import CompareHost
from app.pages.compare_rank import RANK_SAMPLES_PER_RECIPE
from app.workers import start_job
from core.errors import StudioError


class PairGeneration(CompareHost):
    """Generate and score the current prompt's pair."""

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
        if self.rank_mode():
            self.rank_box.set_answers([])
        self.left_pane.clear("Generating…")
        self.right_pane.clear("Generating…")
        variants = self.recipes.variants()
        start_job(
            self.state,
            generate_pair,
            session,
            prompt.text,
            self._variants_to_generate(variants),
            self._rng.randrange(2**31),
            description="Generating a pair",
            context="Generating a pair",
            on_done=partial(self._on_generated, prompt),
            on_error=self._on_generate_failed,
            uses_model=True,
        )

    def _variants_to_generate(self, variants):
        """Recipe B alone (thumbs), each recipe twice (Rank mode), else A and B."""
        if self.single_mode():
            return variants[-1:]
        if self.rank_mode():
            return [variant for variant in variants for _ in range(RANK_SAMPLES_PER_RECIPE)]
        return variants

    def _on_generated(self, prompt, sides: list[SideCompletion]) -> None:
        self._generating = False
        if prompt.id in self._kept_queued:  # a stored pair was queued meanwhile: it stays
            self._kept_queued.discard(prompt.id)
            self._update_buttons()
            return
        if self.rank_mode() and len(sides) > 2:
            self._on_rank_generated(prompt, sides)
            self._update_buttons()
            return
        store = self.state.require_store()
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
            on_done=partial(self._on_scored, pair),
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
                self.state.require_store().add_score(
                    generation_id, source, value, {"weight": weight}
                )
        if self.current_pair() is pair:
            self._show_scores(pair)

    def _show_scores(self, pair: Pair) -> None:
        scores = pair.scores[-1]
        left, right = pair.shown()
        panes = ((self.left_pane, left),) if len(pair.sides) == 1 else (
            (self.left_pane, left), (self.right_pane, right))  # fmt: skip
        for pane, index in panes:
            pane.show_scores(scores.sources, scores.weights, [col[index] for col in scores.values])
