"""A ready Train page panel for one offline algorithm (DPO/IPO, KTO or SFT): its settings
form (generated from the config's declared settings), where its data comes from, Start /
Stop, and its live dashboard. The Train page's algorithm combo shows the panel of the
chosen entry (app/offline_algorithms.py) in place of the PPO form and dashboard."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.app_state import AppState
from app.jobs.offline import OfflineRequest, run_offline
from app.offline_algorithms import OFFLINE_ALGORITHMS as ALGORITHMS
from app.widgets.offline_dashboard import OfflineDashboard
from app.widgets.settings_form import SettingRows
from app.workers import start_generator_job
from core.errors import StudioError
from core.offline.config import FROM_CHOICES
from core.settings import setting_problems
from core.train import RunControl, RunEnded, RunStarted, StepDone


class OfflineTrainPanel(QWidget):
    """Settings, data source, Start/Stop and live plots of one offline algorithm."""

    def __init__(self, state: AppState, kind: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.entry = state, ALGORITHMS[kind]
        self.control: RunControl | None = None
        self.run_id: int | None = None
        form = QFormLayout()
        self.source_combo = QComboBox(objectName=f"{kind}SourceCombo")
        self.source_combo.addItems(FROM_CHOICES)
        self.source_combo.setCurrentText("all")
        form.addRow("Learn from", self.source_combo)
        self.data_edit = QLineEdit(objectName=f"{kind}DataEdit")
        self.data_edit.setPlaceholderText("demonstrations .jsonl / .csv (empty: chosen sides)")
        if kind == "sft":
            form.addRow("Demonstrations", self.data_edit)
        self.rows = SettingRows(self.entry.config_class, "main", form, lambda _n: None)
        self.start_button = QPushButton(
            f"Start {kind.upper()}", objectName=f"start{kind.title()}Button"
        )
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop", objectName=f"stop{kind.title()}Button")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.setEnabled(False)
        self.status_label = QLabel(self.entry.data and f"Learns from {self.entry.data}.")
        self.status_label.setObjectName(f"{kind}Status")
        self.status_label.setWordWrap(True)
        self.dashboard = OfflineDashboard(self.entry.plots)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status_label)
        layout.addWidget(self.dashboard, 1)

    def config(self):
        """The config the form shows; raises StudioError naming a bad setting."""
        config = self.entry.config_class(**self.rows.values())
        problems = setting_problems(config)
        if problems:
            raise StudioError("Invalid settings: " + "; ".join(problems) + ".")
        return config

    def start(self) -> None:
        if self.state.session is None:
            self.state.errors.report(StudioError("Load a model first (Model page)."), "Training")
            return
        try:
            config = self.config()
        except StudioError as error:
            self.state.errors.report(error, "Training")
            return
        data_file = Path(self.data_edit.text()) if self.data_edit.text().strip() else None
        request = OfflineRequest(
            self.state.workspace, self.entry.kind, config, self.source_combo.currentText(),
            data_file,
        )  # fmt: skip
        self.control = RunControl()
        self.dashboard.reset(config.steps)
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.worker = start_generator_job(
            self.state, run_offline, self.state.session, request, self.control,
            description=f"Training ({self.entry.kind.upper()})", context="Training",
            control=self.control, on_yielded=self._on_event, on_finished=self._on_finished,
        )  # fmt: skip

    def stop(self) -> None:
        if self.control is not None:
            self.control.stop()

    def _on_event(self, event: object) -> None:
        if isinstance(event, RunStarted):
            self.run_id = event.run_id
            self.status_label.setText(f"Run {event.name} (id {event.run_id}) running.")
            self.state.runs_changed.emit()
        elif isinstance(event, StepDone):
            self.dashboard.add_step(event.step, event.total, event.metrics)
        elif isinstance(event, RunEnded):
            note = f" Adapter: {event.checkpoint}/adapter" if event.checkpoint else ""
            self.status_label.setText(f"Run {event.run_id} {event.status}.{note}")

    def _on_finished(self) -> None:
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.worker = None
        self.state.runs_changed.emit()
