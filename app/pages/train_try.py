"""The Train page's "Try the policy" tab: while a run is paused, sample the current policy
on a prompt the user types, or inspect a fresh sample of it token by token."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.jobs.model import generate_text
from app.widgets.common import hint, named, read_only_text
from app.workers import start_job
from core.config import GenerationConfig


class TryPolicyBox(QWidget):
    """A prompt, Generate, "Inspect token by token" and the policy's answer."""

    def __init__(self, page: Any) -> None:
        """`page`: the Train page (its phase, form, inspector and AppState); not imported
        here, which would make a cycle of the two modules."""
        super().__init__()
        self.page = page
        self.try_prompt_edit = named(QLineEdit(), "tryPromptEdit")
        self.try_prompt_edit.setPlaceholderText("Type a prompt, then Generate (training paused)")
        self.try_prompt_edit.returnPressed.connect(self._on_try)
        self.try_button = named(QPushButton("Generate"), "tryPolicyButton")
        self.try_button.clicked.connect(self._on_try)
        self.inspect_button = named(QPushButton("Inspect token by token"), "inspectSampleButton")
        self.inspect_button.setToolTip(
            "A fresh sample of this prompt under the run's latest checkpoint, token by token: "
            "log-probs, KL, and what the trainer credits each token with"
        )
        self.inspect_button.clicked.connect(
            lambda: page.inspector.open(self.try_prompt_edit.text().strip() or "The")
        )
        self.try_output = read_only_text("tryPolicyOutput")
        row = QHBoxLayout()
        row.addWidget(self.try_prompt_edit, 1)
        row.addWidget(self.try_button)
        row.addWidget(self.inspect_button)
        layout = QVBoxLayout(self)
        layout.addWidget(hint("Pause training to see what the current policy writes."))
        layout.addLayout(row)
        layout.addWidget(self.try_output, 1)

    def set_paused(self, paused: bool) -> None:
        """Sampling needs the model to itself: only while the run is paused."""
        self.try_button.setEnabled(paused)
        self.try_prompt_edit.setEnabled(paused)

    def _on_try(self) -> None:
        page = self.page
        prompt = self.try_prompt_edit.text().strip()
        if not prompt or page.phase != "paused" or page.state.session is None:
            return
        config = page.form.config()
        # Offline configs have no sampling settings: the generation defaults then.
        defaults = GenerationConfig()
        generation = GenerationConfig(
            max_new_tokens=getattr(config, "max_new_tokens", defaults.max_new_tokens),
            temperature=getattr(config, "temperature", defaults.temperature),
            seed=None,
        )
        self.try_button.setEnabled(False)
        self.try_output.setPlainText("Generating…")
        start_job(
            page.state,
            generate_text,
            page.state.session,
            prompt,
            generation,
            description="Sampling the policy",
            context="Sampling the policy",
            on_done=self._on_tried,
            on_error=lambda _e: self._on_tried(""),
            uses_model=True,
        )

    def _on_tried(self, text: str) -> None:
        prompt = self.try_prompt_edit.text().strip()
        self.try_output.setPlainText(f"{prompt}{text}" if text else "")
        self.try_button.setEnabled(self.page.phase == "paused")
