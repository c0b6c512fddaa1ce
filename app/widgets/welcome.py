"""The welcome on first start (no model ever loaded): what the app is, and one button that
builds (or, once built, loads) the demo model in a worker, with the time it takes, a
Cancel button and progress with the time left (app/load_progress.py)."""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.app_state import AppState
from app.jobs.model import LoadedModel, load_model_cancellable
from app.load_progress import DEMO_BUILD_ESTIMATE, ProgressText
from app.widgets.common import named, wrapping_label
from app.workers import start_job
from core.config import DEMO_MODEL, LoraSpec, ModelSpec

INTRO = (
    "<p><b>RLHF Studio</b> lets you watch reinforcement learning from human feedback work "
    "on your own machine: load a small language model, generate answers, compare and rate "
    "them yourself or have an AI judge them, train a reward model, and fine-tune the model "
    "(PPO, GRPO, DPO and more) while live plots show the reward rising.</p>"
    "<p>Start with the <b>demo model</b>: a tiny GPT (1 million parameters) that learns "
    "to write short product reviews right here, with no download. Every feature works "
    "with it, offline, on a laptop CPU.</p>"
)


def demo_is_built() -> bool:
    """Whether the demo model is built already (a few file checks)."""
    from core.demo.cache import is_demo_model_built

    return is_demo_model_built()


class WelcomePanel(QGroupBox):
    """First start: the app in two paragraphs and the demo model one click away.
    `loaded(LoadedModel)` once the demo model is ready."""

    loaded = Signal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__("Welcome", parent)
        self.setObjectName("welcomePanel")
        self.state = state
        self._cancel: threading.Event | None = None
        self._progress_text = ProgressText()
        intro = wrapping_label("welcomeIntro", INTRO)
        intro.setTextFormat(Qt.TextFormat.RichText)
        self.demo_button = named(QPushButton(), "welcomeDemoButton")
        self.demo_button.clicked.connect(self.start)
        self.cancel_button = named(QPushButton("Cancel"), "welcomeCancelButton")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setVisible(False)
        self.progress = named(QProgressBar(textVisible=False), "welcomeProgress")
        self.progress.setVisible(False)
        self.status_label = wrapping_label("welcomeStatus")
        row = QHBoxLayout()
        row.addWidget(self.demo_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.progress, 1)
        row.addStretch(0)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(row)
        layout.addWidget(self.status_label)
        self._show_idle()

    def busy(self) -> bool:
        return self._cancel is not None

    def _show_idle(self, message: str = "") -> None:
        built = demo_is_built()
        self.demo_button.setText(
            "Load the demo model (a few seconds)"
            if built
            else f"Build the demo model ({DEMO_BUILD_ESTIMATE})"
        )
        self.demo_button.setEnabled(True)
        self.cancel_button.setVisible(False)
        self.progress.setVisible(False)
        self.status_label.setText(
            message
            or "Or choose one of your own models below: a folder, or one already "
            "in the Hugging Face cache."
        )

    def start(self) -> None:
        """Build (if need be) and load the demo model in a worker."""
        if self.busy():
            return
        if self.state.model_busy():
            self.status_label.setText("A job is using the model; wait for it, then try again.")
            return
        self._cancel = threading.Event()
        self._progress_text = ProgressText()
        self.demo_button.setEnabled(False)
        self.cancel_button.setVisible(True)
        self.cancel_button.setEnabled(True)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.status_label.setText("Starting…")
        start_job(
            self.state,
            load_model_cancellable,
            ModelSpec(name_or_path=DEMO_MODEL, lora=LoraSpec()),
            self._cancel,
            description="Getting the demo model ready",
            context="Loading the demo model",
            on_done=self._on_done,
            on_error=lambda _e: self._finish("Building the demo model failed; see the message."),
            on_progress=self._on_progress,
            uses_model=True,
        )

    def cancel(self) -> None:
        """Stop the build at its next step (its half-built folder is removed)."""
        if self._cancel is not None:
            self._cancel.set()
            self.cancel_button.setEnabled(False)
            self.status_label.setText("Cancelling…")

    def _on_progress(self, done: int, total: int, message: str) -> None:
        if self._cancel is None or self._cancel.is_set():
            return
        waiting = message.startswith("waiting")
        self.progress.setRange(0, 0 if waiting else max(total, 0))
        if not waiting:
            self.progress.setValue(done)
        self.status_label.setText(self._progress_text.describe(done, total, message))

    def _on_done(self, loaded: LoadedModel | None) -> None:
        if loaded is None:
            self._finish("Cancelled. The demo model was not built; start again any time.")
            return
        self._finish("")
        self.loaded.emit(loaded)

    def _finish(self, message: str) -> None:
        self._cancel = None
        self._show_idle(message)
