"""A round of the DPO loop rated by a person, on Compare & Rate (core.offline.loop):

1. **Start a round** samples two answers of the current adapter to prompts of the set
   and queues them on the page to rate, blind.
2. Once they are all rated (or on **Train round**) DPO trains on every comparison so
   far, from the current adapter; the round is stored (kind dpo_round) with the held-out
   accuracy.
3. The new adapter's and the base's answers to the set's first prompts are queued for a
   blind vote (sides shuffled by the page); once they are rated (or on **Record
   win-rate**) the share the person preferred the adapter in is stored as the round's
   win-rate.
The AI-judged round is on the AI Feedback page (app/widgets/dpo_round_box.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.app_state import AppState
from app.widgets.common import named, wrapping_label
from app.workers import start_job
from core.errors import StudioError
from core.offline.config import DPOConfig

Queue = Callable[[str, Sequence[tuple[int, int, int]]], None]
"""(prompt set, stored pairs) -> the pairs shown on Compare & Rate to rate."""


class PersonRoundBox(QGroupBox):
    """Round settings, the three buttons and where the round stands."""

    round_finished = Signal(object)  # the DPORound with the person's win-rate

    def __init__(
        self,
        state: AppState,
        queue: Queue,
        rater: Callable[[], str],
        prompt_set: Callable[[], str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("DPO loop, rated by you", parent)
        self.setObjectName("personRoundBox")
        self.state, self._queue, self._rater, self._prompt_set = state, queue, rater, prompt_set
        self.phase = "idle"  # idle | sampling | rating | training | blind_sampling | blind
        self.pairs: list[tuple[int, int, int]] = []
        self.blind: list[tuple[int, int, int]] = []
        self.record = None  # the DPORound being measured
        self._set = ""
        self.pairs_spin = _spin("personRoundPairsSpin", 2, 10_000, 16, "pairs to rate")
        self.steps_spin = _spin("personRoundStepsSpin", 1, 100_000, 25, "DPO steps")
        self.blind_spin = _spin("personRoundBlindSpin", 1, 1000, 10, "blind test prompts")
        self.start_button = _button("Start a round", "startPersonRoundButton", self.start)
        self.start_button.setToolTip(
            "Sample two answers of the current adapter to prompts of this set and rate them "
            "here; then DPO trains on every comparison so far and you compare the new "
            "adapter with the base, blind."
        )
        self.train_button = _button("Train round", "trainPersonRoundButton", self.train)
        self.finish_button = _button("Record win-rate", "finishPersonRoundButton", self.finish)
        self.status_label = wrapping_label("personRoundStatus")
        self.status_label.setMinimumHeight(2 * self.fontMetrics().lineSpacing() + 4)
        spins = QHBoxLayout()
        for label, spin in (("Pairs", self.pairs_spin), ("DPO steps", self.steps_spin),
                            ("Blind test", self.blind_spin)):  # fmt: skip
            spins.addWidget(QLabel(label))
            spins.addWidget(spin)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.train_button, self.finish_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)  # (a form layout would clip the wrapped status)
        layout.addLayout(spins)
        layout.addLayout(buttons)
        layout.addWidget(self.status_label)
        state.feedback_changed.connect(self._on_feedback)
        state.session_changed.connect(lambda _s: self._enable_start())
        self._set_phase("idle", "Rate pairs of the current adapter, train DPO, then compare "
                        "it with the base blind.")  # fmt: skip

    def _set_phase(self, phase: str, message: str) -> None:
        self.phase = phase
        self._enable_start()
        self.train_button.setEnabled(phase == "rating")
        self.finish_button.setEnabled(phase == "blind")
        for spin in (self.pairs_spin, self.steps_spin, self.blind_spin):
            spin.setEnabled(phase == "idle")
        self.status_label.setText(message)

    def _enable_start(self) -> None:
        """A round starts from idle, with a model loaded (the tooltip says why not)."""
        has_model = self.state.session is not None
        self.start_button.setEnabled(self.phase == "idle" and has_model)
        self.start_button.setStatusTip("" if has_model else "Load a model first (Model page).")

    # 1. sample
    def start(self) -> None:
        from app.jobs.offline import sample_person_round

        if not self._ready("Starting a DPO round"):
            return
        self._set = self._prompt_set()
        seed = (
            len(self.state.require_store().runs("dpo_round")) + 1
        )  # new prompts and answers each round
        self._set_phase("sampling", "Sampling pairs from the current adapter…")
        start_job(
            self.state, sample_person_round, self.state.session, self.state.workspace,
            self.pairs_spin.value(), self._set, seed,
            description="Sampling a round's pairs", context="DPO round", uses_model=True,
            on_done=self._on_sampled, on_error=lambda _e: self._set_phase("idle", "Sampling failed."),
        )  # fmt: skip

    def _on_sampled(self, pairs: list[tuple[int, int, int]]) -> None:
        self.pairs = pairs
        if not pairs:
            self._set_phase("idle", f"Set {self._set} has no prompts to sample pairs for.")
            return
        self._set_phase("rating", "")
        self._queue(self._set, pairs)
        self._on_feedback()

    # 2. train
    def train(self) -> None:
        from app.jobs.offline import train_person_round

        if self.phase != "rating" or not self._ready("Training the DPO round"):
            return
        config = DPOConfig(steps=self.steps_spin.value())
        self._set_phase("training", "Training DPO on every comparison so far…")
        start_job(
            self.state, train_person_round, self.state.session, self.state.workspace, config,
            len(self.pairs), self._rater(),
            description="DPO round", context="DPO round", uses_model=True,
            on_done=self._on_trained,
            on_error=lambda _e: self._set_phase("rating", "Training failed; rate more pairs."),
        )  # fmt: skip

    def _on_trained(self, record) -> None:
        from app.jobs.offline import blind_person_pairs

        self.record = record
        self.state.runs_changed.emit()
        self._set_phase("blind_sampling", f"Round {record.round} trained (DPO run "
                        f"{record.dpo_run_id}); sampling the blind test…")  # fmt: skip
        start_job(
            self.state, blind_person_pairs, self.state.session, self.state.workspace,
            self._set, self.blind_spin.value(), record.adapter, record.round,
            description="Sampling the blind test", context="DPO round", uses_model=True,
            on_done=self._on_blind_sampled,
            on_error=lambda _e: self._set_phase("idle", "The blind test could not be sampled."),
        )  # fmt: skip

    # 3. the blind test
    def _on_blind_sampled(self, pairs: list[tuple[int, int, int]]) -> None:
        self.blind = pairs
        self._set_phase("blind", "")
        self._queue(self._set, pairs)
        self._on_feedback()

    def finish(self) -> None:
        """Store the blind votes so far as the round's win-rate."""
        from core.offline.loop import human_win_rate, set_round_win_rate

        if self.phase != "blind" or self.record is None:
            return
        store = self.state.store
        win_rate, votes = human_win_rate(store, self.blind)
        record = set_round_win_rate(store, self.record.round_run_id, win_rate, self._rater(),
                                    votes)  # fmt: skip
        held = record.held_out_accuracy
        shown = "n/a" if win_rate is None else f"{win_rate:.0%}"
        self._set_phase("idle", (
            f"Round {record.round}: the new adapter wins <b>{shown}</b> of {votes} blind votes "
            f"against the base; held-out accuracy {'n/a' if held is None else f'{held:.0%}'} "
            f"({record.pairs} pairs rated by {record.labelled_by})."
        ))  # fmt: skip
        self.state.runs_changed.emit()
        self.round_finished.emit(record)

    # progress
    def _on_feedback(self) -> None:
        """After each vote: say how far the rating is; all rated moves the round on."""
        from core.offline.loop import rated_pairs

        if self.phase not in ("rating", "blind"):
            return
        pairs = self.pairs if self.phase == "rating" else self.blind
        done = rated_pairs(self.state.require_store(), pairs)
        if done >= len(pairs):
            (self.train if self.phase == "rating" else self.finish)()
            return
        what = "pairs" if self.phase == "rating" else "blind pairs (adapter vs base)"
        then = "Train round" if self.phase == "rating" else "Record win-rate"
        self.status_label.setText(
            f"Rated {done} / {len(pairs)} {what} in set {self._set}; all rated, or "
            f"<b>{then}</b>, moves on."
        )

    def _ready(self, context: str) -> bool:
        if self.state.session is None:
            self.state.errors.report(
                StudioError("Load a model first (Model page); the round trains its adapter."),
                context,
            )
            return False
        if not self._prompt_set():
            self.state.errors.report(
                StudioError("Choose a prompt set with prompts first (Prompts page)."), context
            )
            return False
        return True


def _spin(name: str, minimum: int, maximum: int, value: int, tip: str) -> QSpinBox:
    spin = named(QSpinBox(minimum=minimum, maximum=maximum), name)
    spin.setValue(value)
    spin.setToolTip(tip)
    return spin


def _button(text: str, name: str, slot: Callable[[], None]) -> QPushButton:
    button = named(QPushButton(text), name)
    button.clicked.connect(slot)
    return button
