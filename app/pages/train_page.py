"""Train page: the training form (algorithm: PPO, GRPO, RLOO, or DPO/IPO, KTO, SFT from
stored feedback), Start / Pause / Resume / Stop, the live dashboard of the run's
algorithm, the latest rollouts beside the reference's responses, and "try the policy"
while paused."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QLabel,
    QLineEdit,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.algorithms import ALGORITHMS
from app.app_state import AppState
from app.build_in_pieces import PieceByPiece
from app.jobs.model import LoadedModel, describe_session, load_model
from app.jobs.offline import OfflineRequest
from app.jobs.training import TrainRequest, reward_labels
from app.pages.train_inspect import InspectLauncher
from app.pages.train_try import TryPolicyBox
from app.widgets.common import named, page_title
from app.widgets.dashboard import RolloutTable, TrainingDashboard
from app.widgets.memory_plan import MemoryPlanLabel
from app.widgets.offline_dashboard import OfflineDashboard
from app.widgets.rollout_tabs import OFFLINE_TAB, OfflineNote, show_tabs_for
from app.widgets.run_bar import RunBar
from app.widgets.train_form import TrainForm
from app.workers import start_generator_job, start_job
from core.algorithms import DEFAULT_KIND, kind_of_checkpoint
from core.config import from_dict
from core.errors import StudioError
from core.memory_plan import budget_of, request_for_config
from core.model.shapes import ModelShape
from core.train import RunControl, RunEnded, RunPaused, RunResumed, RunStarted, StepDone
from core.train.checkpoints import resolve_checkpoint
from core.train.events import GuardFired
from core.train.guardrails import GuardrailConfig
from core.train.launch import own_run_of

if TYPE_CHECKING:
    from app.workers import BackgroundJob

HELD_OUT_TAB = "Held-out answers"
FORM_MIN_WIDTH = 400
PLOTS_SHARE = 3
"""The dashboard's share of the right column's height, to the tables' 1."""
"""The settings column's width at least (its labels and spin boxes side by side)."""


class TrainPage(QWidget):
    """Runs core's trainer of the chosen algorithm in a worker thread and shows it live."""

    ai_round_requested = Signal(int, object)
    """While paused: the user asked for an AI feedback round on this run (run id, and the
    RunControl through which the round hands the run its new reward)."""
    rate_samples_requested = Signal(int)
    """Paused or ended: the user wants to rate this run's latest samples (run id) by hand."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        """The page's frame: the rest is made a piece per `build_step` (the page stack
        runs them, one per event-loop turn after the window's first paint, or all at once
        before handing the page out): built in one go, the page took the GUI thread for
        0.2 s, and its plots 0.3 s more."""
        super().__init__(parent)
        self.state = state
        self.control: RunControl | None = None
        self.worker: BackgroundJob | None = None
        self.run_id: int | None = None
        self._phase = "idle"  # idle | preparing | running | pausing | paused | stopping
        self._model_info: dict | None = None
        self._splitter = QSplitter(Qt.Orientation.Horizontal)
        self._build_run_bar()
        layout = QVBoxLayout(self)
        layout.addWidget(
            page_title("Train (LoRA: PPO, GRPO, RLOO · DPO/IPO, KTO, SFT, SimPO, ORPO)")
        )
        layout.addWidget(self.run_bar)  # above the splitter: never scrolled away
        layout.addWidget(self._splitter, 1)
        self.run_bar.setEnabled(False)  # shown half-made (app/page_stack.py): no Start yet
        self._pieces = PieceByPiece(self._build_steps())

    def _build_steps(self) -> Iterator[None]:
        """The settings, then the dashboard's frame and the tables, then the dashboard's
        plots one by one; last the wiring to the app's state (none before: no handler
        runs on a half-made page)."""
        self._splitter.addWidget(self._build_left())
        yield
        self._splitter.addWidget(self._build_right())
        self.inspector = InspectLauncher(self)  # the token inspector from this page
        self._splitter.setStretchFactor(1, 1)
        self._splitter.setSizes([FORM_MIN_WIDTH, 1000])
        yield
        while self.dashboard.build_step():
            yield
        heights = sum(self._plots_splitter.sizes())
        if heights:  # shown half-made: the empty dashboard got a small share; its own now
            plots = heights * PLOTS_SHARE // (PLOTS_SHARE + 1)
            self._plots_splitter.setSizes([plots, heights - plots])
        self.state.prompts_changed.connect(self._on_prompts_changed)
        self.state.session_changed.connect(self._on_session_changed)
        self.form.changed.connect(self._update_estimate)
        self.form.algorithm_changed.connect(lambda _kind: self._update_estimate())
        self._on_prompts_changed()
        self._on_session_changed(self.state.session)
        self._set_phase("idle")
        self.run_bar.setEnabled(True)

    def build_step(self) -> bool:
        """Make the next piece of the page; False once it is whole (nothing was left)."""
        return self._pieces.step()

    def is_whole(self) -> bool:
        return self._pieces.whole

    # layout
    def _build_run_bar(self) -> RunBar:
        self.run_bar = RunBar()
        bar = self.run_bar
        self.start_button, self.pause_button = bar.start_button, bar.pause_button
        self.resume_button, self.stop_button = bar.resume_button, bar.stop_button
        self.ai_round_button = bar.ai_round_button
        self.rate_samples_button = bar.rate_samples_button
        self.status_label = bar.message_label
        self.start_button.clicked.connect(self._on_start)
        self.pause_button.clicked.connect(self._on_pause)
        self.resume_button.clicked.connect(self._on_resume)
        self.stop_button.clicked.connect(self._on_stop)
        self.ai_round_button.clicked.connect(self._on_ai_round)
        self.rate_samples_button.clicked.connect(self._on_rate_samples)
        return bar

    def _build_left(self) -> QWidget:
        """The settings, scrolled on their own: the run bar above them stays in view."""
        self.form = TrainForm()
        self.estimate_label = MemoryPlanLabel()
        self.name_edit = named(QLineEdit(), "runNameEdit")
        self.name_edit.setPlaceholderText("run name (optional)")
        content = QWidget()
        column = QVBoxLayout(content)
        column.addWidget(self.name_edit)
        column.addWidget(self.form)
        column.addWidget(QLabel("<b>Memory plan</b>"))
        column.addWidget(self.estimate_label)
        column.addStretch(1)
        scroll = named(QScrollArea(), "trainFormScroll")
        scroll.setWidget(content)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # As wide as the form's fields need (no horizontal scroll bar to hide them behind).
        scroll.setMinimumWidth(
            max(FORM_MIN_WIDTH, content.minimumSizeHint().width())
            + scroll.verticalScrollBar().sizeHint().width()
            + 2 * scroll.frameWidth()
        )
        return scroll

    def _build_right(self) -> QWidget:
        # Its plots made one per event-loop turn while the window builds its pages
        # (build_step): together they took the GUI thread for 0.3-0.6 s in one piece.
        self.dashboard = TrainingDashboard(in_pieces=True)
        # The on-policy dashboard, or an offline algorithm's (made on its first run).
        self.dashboard_stack = named(QStackedWidget(), "dashboardStack")
        self.dashboard_stack.addWidget(self.dashboard)
        self.offline_dashboards: dict[str, OfflineDashboard] = {}
        self.rollout_table = RolloutTable()
        # The policy's answers to the held-out prompts at its latest evaluation.
        self.held_out_table = RolloutTable()
        self.held_out_table.setObjectName("heldOutTable")
        self.try_box = TryPolicyBox(self)
        tabs = named(QTabWidget(), "trainTabs")
        tabs.addTab(self.rollout_table, "Latest rollouts")
        tabs.addTab(self.held_out_table, HELD_OUT_TAB)
        tabs.addTab(self.try_box, "Try the policy (while paused)")
        # A run from stored feedback samples nothing: a note in place of the tables.
        self.offline_note = OfflineNote()
        tabs.insertTab(0, self.offline_note, OFFLINE_TAB)
        tabs.setTabVisible(0, False)
        tabs.setCurrentWidget(self.rollout_table)
        self.bottom_tabs = tabs
        splitter = self._plots_splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.dashboard_stack)
        splitter.addWidget(tabs)
        splitter.setStretchFactor(0, PLOTS_SHARE)
        splitter.setStretchFactor(1, 1)
        return splitter

    # state
    def _set_phase(self, phase: str, message: str | None = None) -> None:
        self._phase = phase
        active = phase != "idle"
        self.start_button.setEnabled(not active)
        self.form.setEnabled(not active)
        self.pause_button.setEnabled(phase == "running")
        self.resume_button.setEnabled(phase in ("paused", "pausing"))
        self.stop_button.setEnabled(phase in ("running", "pausing", "paused"))
        self.try_box.set_paused(phase == "paused")
        # Runs from stored feedback have no reward to retrain and no samples to rate.
        on_policy = not self.form.algorithm().offline
        self.ai_round_button.setEnabled(phase == "paused" and on_policy)
        self.rate_samples_button.setEnabled(
            on_policy and (phase == "paused" or (phase == "idle" and self.run_id is not None))
        )
        self.run_bar.set_phase(phase)
        self._tell_status_bar(phase)
        if message is not None:
            self.status_label.setText(message)

    def _tell_status_bar(self, phase: str) -> None:
        """A paused run holds its job but does no work: the status bar says so."""
        if self.worker is not None:
            label = self.form.algorithm().label
            paused = phase == "paused"
            what = f"Paused ({label})" if paused else f"Training ({label})"
            self.state.set_job_state(self.worker, what, paused=paused)

    @property
    def phase(self) -> str:
        """idle | preparing | running | pausing | paused | stopping."""
        return self._phase

    def _on_prompts_changed(self) -> None:
        if self.state.store is not None:
            self.form.set_prompt_sets(self.state.store.prompt_sets())

    def _on_session_changed(self, session) -> None:
        self._model_info = describe_session(session) if session is not None else None
        self._update_estimate()

    def _update_estimate(self) -> None:
        """The planner on the loaded model's shape and the form's settings (arithmetic
        only: the shape came with the session's description)."""
        info = self._model_info
        if info is None or not info.get("shape"):
            self.estimate_label.setText("Load a model to see its memory plan.")
            return
        kind = self.form.algorithm().kind  # every registered kind has a plan profile
        request = request_for_config(
            kind,
            self.form.config(),
            self.form.lora().r,
            info["dtype"],
            info["device"],
            quantize=info.get("quantize", "none"),
        )
        budget = budget_of(info.get("memory") or {})
        self.estimate_label.show_plan(ModelShape(**info["shape"]), request, budget)

    # start
    def _on_start(self) -> None:
        try:
            request = self._request()
        except StudioError as error:
            self.state.errors.report(error, "Starting training")
            return
        session = self.state.session
        assert session is not None  # _request() checked
        wanted = self.form.lora()
        stale = not self.state.adapter_fresh and not self.form.continue_check.isChecked()
        if session.spec.lora != wanted or not session.has_adapter or stale:
            # A fresh or differently shaped adapter: reload the model with a new one.
            self._set_phase(
                "preparing", f"Reloading {session.name} with a fresh LoRA adapter (r={wanted.r})…"
            )
            spec = replace(session.spec, lora=wanted, adapter_path=None)
            start_job(
                self.state,
                load_model,
                spec,
                tokenizer=session.tokenizer,  # the same model's: not read again
                description=f"Reloading {session.name}",
                context="Reloading the model",
                on_done=lambda loaded: self._on_reloaded(loaded, request),
                on_error=lambda _e: self._set_phase("idle", "Could not reload the model."),
                uses_model=True,
            )
            return
        self._start(request)

    def resume_from(self, checkpoint: Path) -> None:
        """Continue the run saved in `checkpoint` with this form's reward, prompt set and
        step total (the other settings are the checkpoint's)."""
        if self._phase != "idle":
            return
        try:
            self.form.set_algorithm(kind_of_checkpoint(Path(checkpoint)))
            if self.form.algorithm().offline:  # on the data the run learnt from
                self.form.data_box.set_recorded_source(self._recorded_source(checkpoint))
            request = replace(self._request(), resume_from=Path(checkpoint))
        except StudioError as error:
            self.state.errors.report(error, "Resuming the run")
            return
        self._start(request)

    def _recorded_source(self, checkpoint: Path) -> str | None:
        """The data source an offline run of this workspace recorded (None: foreign)."""
        store = self.state.require_store()
        run_id = own_run_of(store, resolve_checkpoint(Path(checkpoint)))
        data = store.run(run_id).config.get("data") if run_id is not None else None
        return data.get("source") if isinstance(data, dict) else None

    def _request(self) -> TrainRequest | OfflineRequest:
        if self.state.session is None:
            raise StudioError("Load a model first (Model page), then start training.")
        choice = self.form.algorithm()
        config = self.form.config()
        choice.check_config(config)
        name = self.name_edit.text().strip() or None
        if choice.offline:
            data = self.form.offline_data()
            return OfflineRequest(
                self.state.workspace, choice.kind, config, data.source, data.data_file,
                name, with_pairs=data.with_pairs,
            )  # fmt: skip
        rewards = tuple(self.form.rewards.specs())
        return TrainRequest(
            kind=choice.kind,
            workspace=self.state.workspace,
            prompt_set=self.form.prompt_set(),
            rewards=rewards,
            config=config,
            name=name,
            guardrails=GuardrailConfig() if self.form.guardrails_check.isChecked() else None,
        )

    def _on_reloaded(self, loaded: LoadedModel, request: TrainRequest | OfflineRequest) -> None:
        self.state.set_session(loaded.session)
        self._start(request)

    def _start(self, request: TrainRequest | OfflineRequest) -> None:
        choice = ALGORITHMS[request.kind]
        self.state.adapter_fresh = False
        self.control = RunControl()
        dashboard = self._show_dashboard(choice)
        if isinstance(dashboard, OfflineDashboard):
            dashboard.reset(request.config.steps)
        else:
            dashboard.reset(request.config)
        self.rollout_table.setRowCount(0)
        self.held_out_table.setRowCount(0)
        self.run_bar.set_step(None)
        self.run_bar.set_checkpoint(None)
        self.bottom_tabs.setTabText(self.bottom_tabs.indexOf(self.held_out_table), HELD_OUT_TAB)
        if isinstance(request, OfflineRequest):  # choice.offline's (_request)
            what = request.data_file or f"the feedback of {request.source}"
            self._set_phase("running", f"Starting: {choice.label} on {what}…")
        else:
            self._set_phase("running", f"Starting: reward {reward_labels(request.rewards)}…")
        self.worker = start_generator_job(
            self.state,
            choice.job_function(),
            self.state.session,
            request,
            self.control,
            description=f"Training ({choice.label})",
            context="Training",
            control=self.control,
            on_yielded=self._on_event,
            on_finished=self._on_finished,
        )

    def _show_dashboard(self, choice) -> TrainingDashboard | OfflineDashboard:
        """Bring the dashboard of `choice`'s algorithm to the front and return it."""
        tables = (self.rollout_table, self.held_out_table)
        show_tabs_for(self.bottom_tabs, tables, self.offline_note, choice)
        if not choice.offline:
            self.dashboard_stack.setCurrentWidget(self.dashboard)
            return self.dashboard
        if choice.kind not in self.offline_dashboards:
            dashboard = OfflineDashboard(choice.plots, parent=self.dashboard_stack)
            dashboard.setObjectName(f"{choice.kind}Dashboard")
            self.dashboard_stack.addWidget(dashboard)
            self.offline_dashboards[choice.kind] = dashboard
        self.dashboard_stack.setCurrentWidget(self.offline_dashboards[choice.kind])
        return self.offline_dashboards[choice.kind]

    @property
    def shown_dashboard(self) -> TrainingDashboard | OfflineDashboard:
        """The dashboard of the latest run's algorithm."""
        shown = self.dashboard_stack.currentWidget()  # one of _show_dashboard's
        return cast("TrainingDashboard | OfflineDashboard", shown)

    # events from the worker
    def _on_event(self, event: object) -> None:
        offline = isinstance(self.shown_dashboard, OfflineDashboard)
        if isinstance(event, RunStarted):
            self.run_id = event.run_id
            if event.history and offline:
                self.shown_dashboard.load_history(int(event.config["steps"]), event.history)
            elif event.history:
                config_class = self.form.algorithm().config_class
                self.dashboard.load_history(from_dict(config_class, event.config), event.history)
            self.status_label.setText(f"Run {event.name} (id {self.run_id}) running.")
            self.run_bar.set_step(len(event.history) or None, _steps_of(event.config))
            self.state.runs_changed.emit()
        elif isinstance(event, StepDone):
            self.run_bar.set_step(event.step, event.total)
            if offline:
                self.shown_dashboard.add_step(event.step, event.total, event.metrics)
            else:
                self._show_step(event)
        elif isinstance(event, GuardFired):
            self.dashboard.show_guardrail(event.message)
        elif isinstance(event, RunPaused):
            self._set_phase("paused", f"Paused after step {event.step}. Try the policy below.")
            self.bottom_tabs.setCurrentWidget(self.try_box)
        elif isinstance(event, RunResumed):
            self._set_phase("running", "Running.")
        elif isinstance(event, RunEnded):
            # The checkpoint has its own label (elided in the middle, whole in its tooltip).
            self.status_label.setText(f"Run {event.run_id} {event.status}.")
            self.run_bar.set_ended(event.status)
            self.run_bar.set_checkpoint(event.checkpoint)

    def _show_step(self, event: StepDone) -> None:
        warnings = self.dashboard.add_step(event.step, event.total, event.metrics)
        self.rollout_table.set_samples(event.step, event.samples)
        if event.held_out:
            self.held_out_table.set_samples(event.step, event.held_out)
            index = self.bottom_tabs.indexOf(self.held_out_table)
            self.bottom_tabs.setTabText(index, f"{HELD_OUT_TAB} (step {event.step})")
        if warnings:
            self.state.errors.reported.emit(warnings[0])

    def _on_finished(self) -> None:
        message = self.status_label.text() if self._phase != "running" else None
        self._set_phase("idle", message)
        self.worker = None
        self.state.runs_changed.emit()
        self._on_session_changed(self.state.session)

    # controls
    def _on_pause(self) -> None:
        if self.control is not None and self._phase == "running":
            self.control.pause()
            self._set_phase("pausing", "Pausing after the current step…")

    def _on_resume(self) -> None:
        if self.control is not None and self._phase in ("paused", "pausing"):
            self.control.resume()
            self._set_phase("running", "Running.")

    def use_reward_model(self, folder: str) -> str:
        """Make the reward model in `folder` the next run's reward; returns what was done.

        The trainers from stored feedback have no reward, so with one of them chosen the
        algorithm switches to PPO (while no run is live: a live run keeps its form)."""
        if self.form.algorithm().offline:
            if self._phase != "idle":
                message = (
                    f"A {self.form.algorithm().label} run is live and uses no reward; choose "
                    f"PPO after it ends to train against {folder}."
                )
                self.status_label.setText(message)
                return message
            self.form.set_algorithm(DEFAULT_KIND)  # PPO: the on-policy default
            switched = " The algorithm switched to PPO (DPO, KTO and SFT use no reward)."
        else:
            switched = ""
        self.form.rewards.set_specs([f"rm={folder}"])
        message = f"Reward set to the reward model {folder}.{switched}"
        if self._phase == "idle":
            message += " Press Start."
        self.status_label.setText(message)
        return message

    def _on_ai_round(self) -> None:
        if self._phase == "paused" and self.control is not None and self.run_id is not None:
            self.status_label.setText("AI feedback round: judging the latest samples…")
            self.ai_round_requested.emit(self.run_id, self.control)

    def _on_rate_samples(self) -> None:
        if self.run_id is not None:
            self.rate_samples_requested.emit(self.run_id)

    def on_ai_round_finished(self, record) -> None:
        """Say how the AI round ended (record None: it failed, and the error was shown)."""
        if record is None:
            self.status_label.setText("The AI feedback round failed; the reward is unchanged.")
        else:
            self.status_label.setText(
                "AI feedback round done: the run now uses the retrained reward model. Resume."
            )

    def _on_stop(self) -> None:
        if self.control is not None:
            self.control.stop()
            self._set_phase("stopping", "Stopping after the current step (saving a checkpoint)…")

    def shutdown(self) -> None:
        """Ask a running run to stop (the window is closing)."""
        if self.control is not None:
            self.control.stop()


def _steps_of(config: dict) -> int | None:
    steps = config.get("steps")
    return int(steps) if isinstance(steps, int | float) else None
