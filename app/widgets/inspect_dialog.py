"""A window onto one sample under a checkpoint: the token inspector, filled by a worker."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QDialog, QLabel, QVBoxLayout, QWidget

from app.app_state import AppState
from app.jobs.inspect import inspect_checkpoint
from app.widgets.common import named
from app.widgets.token_inspector import TokenInspector
from app.workers import start_job


class InspectDialog(QDialog):
    """Opens at once with 'Inspecting...'; the inspection fills it when the worker is done."""

    def __init__(
        self,
        state: AppState,
        checkpoint: Path,
        prompt: str,
        completion: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("inspectDialog")
        self.setWindowTitle(f"Token inspector: {Path(checkpoint).name}")
        self.resize(900, 640)
        self.status = named(
            QLabel("Inspecting the sample under the checkpoint..."), "inspectStatus"
        )
        self.inspector = TokenInspector(self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.inspector, 1)
        self.worker = None
        if state.session is None:
            self.status.setText("Load the run's base model on the Model page first.")
            return
        self.worker = start_job(
            state,
            inspect_checkpoint,
            state.session.spec,
            Path(checkpoint),
            state.workspace,
            prompt,
            completion,
            description="Inspecting a sample",
            context="Inspecting a sample",
            on_done=self._on_done,
            on_error=lambda _: self.status.setText("The inspection failed (see the message)."),
        )

    def _on_done(self, inspection) -> None:
        self.status.setText(f"Prompt {inspection.prompt!r}: hover a token for its numbers.")
        self.inspector.show_inspection(inspection)
