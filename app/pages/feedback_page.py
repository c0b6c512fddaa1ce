"""AI Feedback page: an LLM judge labels pairs, a reward model trains on the labels with a
live loss plot, and the agreement panel says how far the AI labels can be trusted.

Everything slow (loading a judge, judging, training, scoring the reward model) runs in
pool workers over app/jobs/feedback.py; the page only collects the forms, starts
jobs and shows what they return. Errors go to the app's one error reporter.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.app_state import AppState
from app.jobs.feedback import (
    POLICY_JUDGE,
    LabelRequest,
    RMRequest,
    RMSummary,
    RoundOutcome,
    compute_agreement,
    compute_people_report,
    run_ai_round,
    run_labelling,
    run_rm_training,
)
from app.pages.feedback_reward_model import RewardModelBox
from app.widgets.common import hint, named, page_title, wrapping_label
from app.widgets.dpo_round_box import DPORoundBox
from app.widgets.feedback_forms import JudgeForm
from app.widgets.feedback_tables import (
    AGREEMENT_EXPLANATIONS,
    AgreementTable,
    VerdictTable,
    percent,
)
from app.widgets.people_panel import PeoplePanel
from app.workers import BackgroundJob, ToGui, start_job
from core.errors import StudioError
from core.paths import next_reward_model_dir
from core.rlaif.labelling import LabelReport
from core.train.control import RunControl

if TYPE_CHECKING:  # torch-heavy modules: only their types are needed here
    from core.model.session import ModelSession
    from core.reward_model.training import EpochReport
    from core.rlaif.agreement import AgreementReport

LOW_ANSWER_MASS = 0.05
"""Below this mean probability on the answer letters the judge ignores the format."""


class FeedbackPage(QWidget):
    """AI labelling, reward-model training and judge agreement."""

    reward_model_ready = Signal(str)
    rerate_requested = Signal(int, int, int)
    """(prompt id, generation, generation): a pair people disagree on, to rate again."""
    """A trained reward model folder the user chose as PPO reward (`rm=<folder>`)."""
    ai_round_finished = Signal(object)
    """A RoundRecord after `run_ai_round`, or None when the round failed."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.last_reward_model: str | None = None
        self._busy: dict[str, BackgroundJob] = {}  # "label" | "rm" | "round" | "agreement"
        self._stop_events: dict[str, threading.Event] = {}  # the _busy jobs' should_stop
        self._stopping: set[str] = set()  # keys whose Stop was pressed
        self._people_stale = False  # a resolution saved while the people's report ran
        columns = QSplitter(Qt.Orientation.Horizontal)
        columns.addWidget(self._build_labelling())
        columns.addWidget(self._build_right())
        columns.setStretchFactor(0, 1)
        columns.setStretchFactor(1, 1)
        columns.setSizes([620, 560])
        layout = QVBoxLayout(self)
        layout.addWidget(page_title("AI Feedback"))
        layout.addWidget(columns, 1)
        state.feedback_changed.connect(self._refresh_verdicts)
        state.workspace_changed.connect(self._on_workspace_changed)
        state.session_changed.connect(self._on_session_changed)
        self._restore_settings()
        self._on_session_changed(state.session)
        self._on_workspace_changed(state.workspace)

    # layout
    def _build_labelling(self) -> QWidget:
        box = QGroupBox("AI labelling")
        self.judge_form = JudgeForm(self.state.errors.report)
        self.label_button = named(QPushButton("Label pairs"), "labelPairsButton")
        self.label_button.clicked.connect(self._on_label)
        self.stop_label_button = named(QPushButton("Stop"), "stopLabellingButton")
        self.stop_label_button.clicked.connect(lambda: self._stop("label"))
        self.label_progress = named(QProgressBar(textVisible=False), "labelProgress")
        self.label_status = wrapping_label("labelStatus")
        self.verdict_table = VerdictTable()
        layout = QVBoxLayout(box)
        layout.addWidget(self.judge_form, 2)
        layout.addLayout(_row(self.label_button, self.stop_label_button, self.label_progress))
        layout.addWidget(self.label_status)
        # The people's figures share the verdicts' room: in the right column they squeezed
        # the reward model's plot in an 800-pixel window.
        self.people_panel = PeoplePanel()
        self.people_panel.rerate_requested.connect(self.rerate_requested)
        self.people_panel.resolve_requested.connect(self._on_resolve)
        self.feedback_tabs = named(QTabWidget(), "feedbackTabs")
        self.feedback_tabs.addTab(self.verdict_table, "Latest AI verdicts (newest first)")
        self.feedback_tabs.addTab(self.people_panel, "Between people")
        layout.addWidget(self.feedback_tabs, 3)
        return box

    def _build_right(self) -> QWidget:
        """Reward model, agreement and the DPO round, scrolled together when the window is
        too short for them: squeezed below their heights, the plot, its summary and the
        "Use as PPO reward" button were drawn over one another."""
        column = QWidget()
        layout = QVBoxLayout(column)
        layout.setContentsMargins(0, 0, 4, 0)
        layout.addWidget(self._build_reward_model(), 1)  # the plot takes the spare height
        layout.addWidget(self._build_agreement())
        self.dpo_round_box = DPORoundBox(
            self.state, lambda: self.judge_form.choice(self._device()), lambda: None
        )
        layout.addWidget(self.dpo_round_box)
        scroll = named(QScrollArea(), "feedbackRightScroll")
        scroll.setWidget(column)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        return scroll

    def _build_reward_model(self) -> QWidget:
        box = RewardModelBox()
        self.rm_box = box
        self.rm_form, self.rm_plot, self.rm_result = box.rm_form, box.rm_plot, box.rm_result
        self.train_rm_button, self.stop_rm_button = box.train_rm_button, box.stop_rm_button
        self.rm_progress, self.use_rm_button = box.rm_progress, box.use_rm_button
        self.train_rm_button.clicked.connect(self._on_train_rm)
        self.stop_rm_button.clicked.connect(lambda: self._stop("rm"))
        self.use_rm_button.clicked.connect(self._on_use_reward_model)
        return box

    def _build_agreement(self) -> QWidget:
        box = QGroupBox("Agreement with people")
        self.refresh_button = named(QPushButton("Refresh"), "refreshAgreementButton")
        self.refresh_button.setToolTip("Compare AI labels with human ones; score the newest RM")
        self.refresh_button.clicked.connect(self._on_refresh_agreement)
        self.agreement_summary = wrapping_label("agreementSummary")
        self.agreement_table = AgreementTable()
        self.agreement_table.fit_height()
        explanation = hint("<br>".join(AGREEMENT_EXPLANATIONS))
        explanation.setObjectName("agreementExplanation")
        explanation.setTextFormat(Qt.TextFormat.RichText)
        # Folded by default: unfolded it pushed the DPO round below a 800-pixel window.
        explanation.setVisible(False)
        toggle = named(QToolButton(), "agreementExplainButton")
        toggle.setCheckable(True)
        toggle.setText("What do these figures mean?")
        toggle.setAutoRaise(True)
        toggle.toggled.connect(explanation.setVisible)
        # The toggle beside Refresh, not on a row of its own: that row pushed the DPO round
        # below a 1280x800 window.
        row = _row(self.refresh_button, self.agreement_summary)
        row.addWidget(toggle)
        layout = QVBoxLayout(box)
        layout.addLayout(row)
        layout.addWidget(self.agreement_table)
        layout.addWidget(explanation)
        return box

    # state
    def _update_buttons(self) -> None:
        labelling, training = "label" in self._busy, "rm" in self._busy or "round" in self._busy
        self.label_button.setEnabled(not labelling and "round" not in self._busy)
        self.stop_label_button.setEnabled(labelling)
        self.judge_form.setEnabled(not labelling)
        self.train_rm_button.setEnabled(not training)
        self.stop_rm_button.setEnabled("rm" in self._busy)
        self.rm_form.setEnabled(not training)
        self.use_rm_button.setEnabled(self.last_reward_model is not None and not training)
        self.refresh_button.setEnabled("agreement" not in self._busy and "people" not in self._busy)
        self.label_progress.setVisible(labelling)
        self.rm_progress.setVisible(training)

    def _device(self) -> str:
        return str(self.state.setting("model/device", "auto") or "auto")

    def _on_workspace_changed(self, workspace: Path) -> None:
        self._refresh_verdicts()
        self.agreement_table.setRowCount(0)
        self.agreement_summary.setText("Press Refresh to compare the AI labels with yours.")
        self.rm_form.set_default_out(next_reward_model_dir(workspace))

    def _on_session_changed(self, session: ModelSession | None) -> None:
        if session is None:
            self.rm_form.base.set_extra(None, None)
        else:
            name = session.spec.name_or_path
            self.rm_form.base.set_extra(f"Loaded model's base ({session.name})", name)

    def _refresh_verdicts(self) -> None:
        if self.state.store is not None:
            self.verdict_table.set_rows(self.state.store.comparisons("ai"))

    def _start(self, key: str, func, *args, stoppable: bool = True, **kwargs) -> BackgroundJob:
        """Start a job under `key`; with `stoppable`, its `should_stop` flag is wired to the
        page's Stop button and to the app's stop-all (closing the window)."""
        stop = threading.Event()
        if stoppable:
            kwargs["should_stop"] = stop.is_set
        on_done, on_error = kwargs.pop("on_done"), kwargs.pop("on_error", None)
        worker = start_job(
            self.state, func, *args,
            on_done=lambda result: self._finish(key, on_done, result),
            on_error=lambda error: self._finish(key, on_error, error),
            **kwargs,
        )  # fmt: skip
        self._stop_events[key] = stop
        # Also on `finished`: a worker aborted before it ran emits neither result signal.
        worker.finished.connect(lambda: self._finish(key, None, None, worker))
        for job in self.state.jobs():
            if job.worker is worker and stoppable:
                job.stop = stop.set
        self._busy[key] = worker
        self._stopping.discard(key)
        self._update_buttons()
        return worker

    def _finish(self, key: str, handler, value, worker: BackgroundJob | None = None) -> None:
        if worker is None or self._busy.get(key) is worker:
            self._busy.pop(key, None)
            self._update_buttons()
        if handler is not None:
            handler(value)

    def _stop(self, key: str) -> None:
        worker = self._busy.get(key)
        if worker is not None:
            self._stop_events[key].set()
            self._stopping.add(key)
            status = self.label_status if key == "label" else self.rm_result
            status.setText("Stopping after the current batch…")

    # AI labelling
    def _on_label(self) -> None:
        form = self.judge_form
        try:
            choice = form.choice(self._device())
        except StudioError as error:
            self.state.errors.report(error, "Labelling pairs")
            return
        sample_new = form.sample_check.isChecked() and self.state.session is not None
        request = LabelRequest(
            workspace=self.state.workspace, judge=choice, n_pairs=form.pairs_spin.value(),
            tie_margin=form.tie_spin.value(), sample_new=sample_new,
        )  # fmt: skip
        self._save_settings()
        self.label_progress.setRange(0, 0)
        self.label_status.setText("Loading the judge…")
        uses_model = choice.model == POLICY_JUDGE or sample_new
        self._start(
            "label", run_labelling, request, self.state.session if uses_model else None,
            description="AI labelling", context="Labelling pairs", uses_model=uses_model,
            on_done=self._on_labelled, on_error=lambda _e: self.label_status.setText("Failed."),
            on_progress=lambda done, total, text: _show_progress(
                self.label_progress, self.label_status, done, total, text
            ),
        )  # fmt: skip

    def _on_labelled(self, report: LabelReport) -> None:
        if "label" in self._stopping:
            self.label_status.setText(f"Stopped: {report.labelled} pairs judged and saved.")
        elif not report.labelled:
            self.label_status.setText(
                "Nothing to label: rate or generate pairs first (Compare & Rate), or load a "
                "model and tick 'Sample new pairs'."
            )
        else:
            self.label_status.setText(
                f"{report.labelled} pairs judged in {report.seconds:.1f} s "
                f"({report.from_human_pairs} that people compared, {report.from_existing} stored, "
                f"{report.generated} new). Mean confidence {report.mean_confidence:.2f}; same "
                f"side in both orders {percent(report.position_bias_rate)}; answer-token mass "
                f"{report.mean_answer_mass:.3f}."
                + (
                    f" {report.undecided} undecided (coin flips): they will not train."
                    if report.undecided
                    else ""
                )
            )
            if report.mean_answer_mass is not None and report.mean_answer_mass < LOW_ANSWER_MASS:
                self.label_status.setText(
                    self.label_status.text() + " The judge puts almost no probability on A or "
                    "B, so its verdicts are near coin flips: an instruction-tuned judge (a "
                    "folder or hub id) or a rubric ending in 'Answer:' helps."
                )
        self.state.feedback_changed.emit()

    # reward model
    def _rm_relay(self) -> ToGui:
        """core's `on_epoch` callback for a job: each epoch is plotted on the GUI thread."""
        self.rm_plot.clear_data()
        return ToGui(self._on_epoch)

    def _on_train_rm(self) -> None:
        try:
            config = self.rm_form.config()
        except StudioError as error:
            self.state.errors.report(error, "Training the reward model")
            return
        workspace = self.state.workspace
        out = self.rm_form.out() or next_reward_model_dir(workspace)
        request = RMRequest(workspace, self.rm_form.source(), config, out, self._device())
        self._save_settings()
        self.rm_plot.set_x_extent(config.epochs)
        relay = self._rm_relay()
        self.rm_progress.setRange(0, 0)
        self.rm_result.setText(f"Training on {request.source} comparisons → {out}")
        self._start(
            "rm", run_rm_training, request, on_epoch=relay,
            description="Training a reward model", context="Training the reward model",
            on_done=self._on_rm_trained, on_error=lambda _e: self.rm_result.setText("Failed."),
            on_progress=lambda done, total, text: _show_progress(
                self.rm_progress, None, done, total, text
            ),
        )  # fmt: skip

    def _on_epoch(self, report: EpochReport) -> None:
        self.rm_box.show_epoch(report)

    def _on_rm_trained(self, summary: RMSummary) -> None:
        self.last_reward_model = summary.folder
        self.rm_box.show_summary(summary)
        self.rm_form.set_default_out(next_reward_model_dir(self.state.workspace))
        self._update_buttons()
        self.state.runs_changed.emit()

    def _on_use_reward_model(self) -> None:
        if self.last_reward_model is not None:
            self.reward_model_ready.emit(self.last_reward_model)  # the Train page says so

    # agreement
    def _on_refresh_agreement(self) -> None:
        self.agreement_summary.setText("Computing…")
        self._start(
            "agreement", compute_agreement, self.state.workspace, self._device(),
            stoppable=False, description="Agreement report", context="Computing agreement",
            on_done=self._on_agreement, on_error=lambda _e: self.agreement_summary.setText(""),
        )  # fmt: skip
        self._refresh_people()

    def _refresh_people(self) -> None:
        self._start(
            "people", compute_people_report, self.state.workspace, stoppable=False,
            description="Agreement between people", context="Comparing the people's labels",
            on_done=self._on_people_report,
        )  # fmt: skip

    def _on_people_report(self, report) -> None:
        self.people_panel.set_report(report)
        if self._people_stale:  # it was read before the latest resolution: once more
            self._people_stale = False
            self._refresh_people()

    def _on_resolve(self, first_id: int, second_id: int, pick: str) -> None:
        """Resolve on a conflict: the rater's final verdict, stored (one small write) through
        the CLI's path (core.rating.resolutions); then the people's figures again."""
        from core.rating.resolutions import settle

        try:
            settle(self.state.require_store(), first_id, second_id, pick, self.state.rater_name())
        except (StudioError, ValueError) as error:
            self.state.errors.report(error, "Resolving the pair")
            return
        self.state.feedback_changed.emit()
        if "people" in self._busy:
            self._people_stale = True
        else:
            self._refresh_people()

    def _on_agreement(self, report: AgreementReport) -> None:
        self.agreement_table.set_report(report)
        text = f"{report.n_human} human and {report.n_ai} AI comparisons."
        if not report.judges:
            text += " No AI labels yet: label some pairs first."
        if report.reward_model is None:
            text += " No reward model trained yet."
        self.agreement_summary.setText(text)

    # interactive loop
    def run_ai_round(self, run_id: int, control: RunControl) -> BackgroundJob | None:
        """Rate a paused run's latest samples with the chosen judge, retrain the reward
        model on all comparisons, and swap it in as the run's reward (in a worker).

        Call while the run is paused; `ai_round_finished` reports the RoundRecord.
        """
        if "rm" in self._busy or "round" in self._busy:
            self.state.errors.report(
                StudioError("A reward model is training; wait for it, then run the round."),
                "AI feedback round",
            )
            return None
        try:
            choice = self.judge_form.choice(self._device())
            config = self.rm_form.config()
        except StudioError as error:
            self.state.errors.report(error, "AI feedback round")
            return None
        relay = self._rm_relay()
        self.rm_plot.set_x_extent(config.epochs)
        self.rm_progress.setRange(0, 0)
        self.rm_result.setText(f"AI round on run {run_id}: judging its latest samples…")
        return self._start(
            "round", run_ai_round, self.state.workspace, run_id, control, self.state.session,
            choice, config, relay, self._device(), stoppable=False,
            description="AI feedback round", context="AI feedback round", uses_model=True,
            on_done=self._on_round_done, on_error=lambda _e: self.ai_round_finished.emit(None),
            on_progress=lambda done, total, text: _show_progress(
                self.rm_progress, None, done, total, text
            ),
        )  # fmt: skip

    def _on_round_done(self, outcome: RoundOutcome) -> None:
        record = outcome.record
        self._on_rm_trained(outcome.summary)
        self.rm_result.setText(
            f"Round at step {record.step}: {record.pairs} pairs judged by {record.labelled_by}; "
            f"the run's reward is now <code>rm={record.reward_model}</code> (held-out accuracy "
            f"{percent(record.held_out_accuracy)})."
        )
        self.state.feedback_changed.emit()
        self.ai_round_finished.emit(record)

    # settings
    def _restore_settings(self) -> None:
        setting = self.state.setting
        self.judge_form.judge.select(setting("feedback/judge", POLICY_JUDGE) or POLICY_JUDGE)
        self.judge_form.pairs_spin.setValue(setting("feedback/pairs", 16, int))
        self.judge_form.tie_spin.setValue(setting("feedback/tie_margin", 0.0, float))
        self.rm_form.epochs_spin.setValue(setting("feedback/rm_epochs", 3, int))
        self.rm_form.lr_spin.setValue(setting("feedback/rm_lr", 5e-4, float))
        self._update_buttons()

    def _save_settings(self) -> None:
        values = {
            "feedback/judge": self.judge_form.judge.value(),
            "feedback/pairs": self.judge_form.pairs_spin.value(),
            "feedback/tie_margin": self.judge_form.tie_spin.value(),
            "feedback/rm_epochs": self.rm_form.epochs_spin.value(),
            "feedback/rm_lr": self.rm_form.lr_spin.value(),
        }
        for key, value in values.items():
            self.state.set_setting(key, value)


def _row(*widgets: QWidget) -> QHBoxLayout:
    """Widgets in a row; the last one stretches."""
    row = QHBoxLayout()
    for widget in widgets[:-1]:
        row.addWidget(widget)
    row.addWidget(widgets[-1], 1)
    return row


def _show_progress(bar: QProgressBar, label: QLabel | None, done: int, total: int, text: str):
    bar.setRange(0, max(total, 1))
    bar.setValue(min(done, max(total, 1)))
    if label is not None:
        label.setText(text)
