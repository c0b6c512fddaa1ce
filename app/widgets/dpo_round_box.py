"""One action for a round of the DPO loop (core.offline.loop): sample pairs from the
current adapter, have the AI judge rate them, train DPO on everything rated so far, and
report the blind win-rate against the base and the held-out accuracy. With the demo
judge under a preset rubric the same blind pairs are also refereed by the rubric's ground
truth (core.rlaif.truth: VADER, word counts), labelled as such, so the figure does not
rest on the judge alone. The round is stored (kind dpo_round) and listed on the Runs page."""

from __future__ import annotations

from collections.abc import Callable

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
from core.rlaif.truth import truth_name


class DPORoundBox(QGroupBox):
    """Pairs per round, DPO steps, the button and the last round's result."""

    round_finished = Signal(object)  # a DPORound, or None when the round failed

    def __init__(
        self,
        state: AppState,
        judge_choice: Callable[[], object],
        prompt_set: Callable[[], str | None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("DPO loop: one round", parent)
        self.state, self._judge_choice, self._prompt_set = state, judge_choice, prompt_set
        self.pairs_spin = named(QSpinBox(minimum=4, maximum=10_000), "dpoRoundPairsSpin")
        self.pairs_spin.setValue(64)
        self.steps_spin = named(QSpinBox(minimum=1, maximum=100_000), "dpoRoundStepsSpin")
        self.steps_spin.setValue(25)
        self.button = named(QPushButton("Run a DPO round"), "runDpoRoundButton")
        self.button.setToolTip(
            "Sample pairs from the current adapter, the judge rates them, DPO on every "
            "comparison so far, then the new adapter's blind win-rate against the base."
        )
        self.button.clicked.connect(self.run_round)
        self.result_label = wrapping_label("dpoRoundResult")
        # The numbers and the button on one row: one per row, the box pushed the AI
        # Feedback page's right column past the bottom of a 1280x800 window.
        row = QHBoxLayout()
        for text, spin in (("Pairs to sample", self.pairs_spin), ("DPO steps", self.steps_spin)):
            label = QLabel(text)
            label.setBuddy(spin)
            row.addWidget(label)
            row.addWidget(spin)
        row.addWidget(self.button, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.result_label)

    def run_round(self) -> None:
        from app.jobs.offline import run_dpo_round

        if self.state.session is None:
            self.state.errors.report(
                StudioError("Load a model first (Model page); the round trains its adapter."),
                "DPO round",
            )
            return
        try:
            choice = self._judge_choice()
        except StudioError as error:
            self.state.errors.report(error, "DPO round")
            return
        config = DPOConfig(steps=self.steps_spin.value())
        self.button.setEnabled(False)
        self.result_label.setText("Sampling, judging and training…")
        start_job(
            self.state, run_dpo_round, self.state.session, self.state.workspace, choice,
            self.pairs_spin.value(), config, self._prompt_set(),
            description="DPO round", context="DPO round", uses_model=True,
            on_done=self._on_done, on_error=lambda _e: self._on_done(None),
        )  # fmt: skip

    def _on_done(self, record) -> None:
        self.button.setEnabled(True)
        if record is not None:
            accuracy = record.held_out_accuracy
            held = "n/a" if accuracy is None else f"{accuracy:.0%}"
            self.result_label.setText(
                f"Round {record.round}: {record.pairs} pairs rated by {record.labelled_by}; "
                f"the new adapter wins <b>{record.win_rate:.0%}</b> against the base (blind, "
                f"judged by the judge){_by_truth(record)}, held-out accuracy {held}."
            )
            self.state.feedback_changed.emit()
        else:
            self.result_label.setText("The round failed.")
        self.round_finished.emit(record)


def _by_truth(record) -> str:
    """ ", 70 % judged by VADER (the rubric's ground truth)" when the round measured it."""
    if record.truth_by is None or record.truth_win_rate is None:
        return ""
    return (
        f", <b>{record.truth_win_rate:.0%}</b> judged by {truth_name(record.truth_by)} "
        "(the rubric's ground truth)"
    )
