"""The Train page's run bar: Start / Pause / Resume / Stop, the run's state and step, its
latest message and checkpoint, in one strip that never scrolls away.

Every control keeps its place whatever the run does: buttons are enabled and disabled,
never shown or hidden, and the texts beside them are elided to a fixed height (the full
text in their tooltip), so a run starting never moves the button a user reaches for.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from app.widgets.common import named

PHASE_TEXT = {
    "idle": "No run",
    "preparing": "Preparing",
    "running": "Running",
    "pausing": "Pausing…",
    "paused": "Paused",
    "stopping": "Stopping…",
}
"""What the state badge says in each phase of the Train page."""
CHECKPOINT = "Checkpoint: "


class ElidedLabel(QLabel):
    """A label of `lines` lines (one by default) that shows as much of its text as fits
    (wrapped at spaces, the last line elided where `mode` says) and the whole text in its
    tooltip; `text()` returns the whole text. A text starting with `prefix` keeps the
    prefix whole and elides the rest (one line).

    It never asks for more width than it has, so a long message or path cannot push the
    buttons beside it around."""

    def __init__(
        self,
        text: str = "",
        mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight,
        parent: QWidget | None = None,
        prefix: str = "",
        lines: int = 1,
    ) -> None:
        super().__init__(parent)
        self._full = ""
        self._mode = mode
        self._prefix = prefix
        self._lines = lines
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        if lines > 1:  # the height of all its lines, whatever the text: nothing moves
            self.setFixedHeight(lines * self.fontMetrics().lineSpacing() + 2)
        self.setMinimumWidth(40)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt override)
        self._full = text
        self.setToolTip(text)
        self._elide()

    def text(self) -> str:
        return self._full

    def shown_text(self) -> str:
        """What is drawn now (elided to the label's width)."""
        return super().text()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(self.width() - 4, 10)
        metrics = self.fontMetrics()
        if self._lines > 1:
            super().setText("\n".join(wrap_lines(self._full, metrics, width, self._lines)))
            return
        prefix = self._prefix if self._prefix and self._full.startswith(self._prefix) else ""
        rest = self._full.removeprefix(prefix)
        if prefix and metrics.horizontalAdvance(self._full) > width:
            width = max(width - metrics.horizontalAdvance(prefix), 10)
        super().setText(prefix + metrics.elidedText(rest, self._mode, width))


def wrap_lines(text: str, metrics, width: int, most: int) -> list[str]:
    """`text` in lines at most `width` wide, broken at spaces; past `most` lines the rest
    joins the last, elided on the right."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and metrics.horizontalAdvance(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    if len(lines) > most:
        lines[most - 1 :] = [" ".join(lines[most - 1 :])]
    return [metrics.elidedText(line, Qt.TextElideMode.ElideRight, width) for line in lines]


class RunBar(QFrame):
    """The strip of run controls: buttons left, state and step, message and checkpoint."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("runBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.start_button = _button(
            "Start", "startTrainingButton", "Start a run with the settings on the left"
        )
        self.pause_button = _button("Pause", "pauseTrainingButton", "Pause after this step")
        self.resume_button = _button("Resume", "resumeTrainingButton", "Go on training")
        self.stop_button = _button("Stop", "stopTrainingButton", "Stop and save a checkpoint")
        self.ai_round_button = _button(
            "AI feedback round",
            "aiRoundButton",
            "While paused: the judge chosen on the AI Feedback page rates this run's latest "
            "samples, the reward model is retrained on all comparisons, and the run goes on "
            "with it as its reward when you resume.",
        )
        self.rate_samples_button = _button(
            "Rate latest samples",
            "rateSamplesButton",
            "Paused or ended: rate the latest step's samples against the reference's "
            "responses on Compare & Rate, blind. Your votes join the comparisons the reward "
            "model learns from in the next AI feedback round.",
        )
        self.state_label = named(QLabel(PHASE_TEXT["idle"]), "runStateLabel")
        self.step_label = named(QLabel(""), "runStepLabel")
        # Widths for the longest texts: the labels changing never shifts the buttons.
        metrics = self.fontMetrics()
        self.state_label.setFixedWidth(metrics.horizontalAdvance("Stopping…") + 16)
        self.step_label.setFixedWidth(metrics.horizontalAdvance("step 00000/00000") + 12)
        # Two lines: "Run 2 finished." was cut to "Run 2 finish…" at 1280 wide; the
        # buttons beside it are nearly as tall, so the bar grows by a few pixels only.
        self.message_label = ElidedLabel(lines=2)
        self.message_label.setObjectName("trainStatus")
        # The path's end (run and step) is what tells checkpoints apart: elided on the left,
        # after a "Checkpoint:" that stays whole.
        self.checkpoint_label = ElidedLabel(mode=Qt.TextElideMode.ElideLeft, prefix=CHECKPOINT)
        self.checkpoint_label.setObjectName("checkpointPathLabel")
        self._ended: str | None = None
        self._lay_out()

    def _lay_out(self) -> None:
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        for button in (self.start_button, self.pause_button, self.resume_button):
            row.addWidget(button)
        row.addWidget(self.stop_button)
        row.addSpacing(12)
        row.addWidget(self.state_label)
        row.addWidget(self.step_label)
        # The texts take the width between the two groups of buttons, elided to it.
        row.addWidget(self.message_label, 2)
        row.addWidget(self.checkpoint_label, 3)  # a path needs the room more
        self.checkpoint_label.setVisible(False)
        row.addWidget(self.ai_round_button)
        row.addWidget(self.rate_samples_button)

    def set_phase(self, phase: str) -> None:
        """Say the run's phase (the buttons' enabled states are the page's); idle after a
        run, how that run ended."""
        if phase != "idle":
            self._ended = None
        text = PHASE_TEXT.get(phase, phase)
        self.state_label.setText(self._ended.capitalize() if self._ended else text)
        self.state_label.setProperty("phase", phase)

    def set_ended(self, status: str) -> None:
        """The run ended ('finished', 'stopped', 'failed'): said until the next starts."""
        self._ended = status
        self.state_label.setText(status.capitalize())

    def set_step(self, step: int | None, total: int | None = None) -> None:
        """The latest step done (None: no step yet)."""
        if step is None:
            self.step_label.setText("")
        else:
            self.step_label.setText(f"step {step}/{total}" if total else f"step {step}")

    def set_checkpoint(self, path: str | None) -> None:
        """The latest checkpoint, the path elided on the left (whole in the tooltip)."""
        self.checkpoint_label.setText(f"{CHECKPOINT}{path}" if path else "")
        self.checkpoint_label.setVisible(bool(path))


def _button(text: str, name: str, tooltip: str) -> QPushButton:
    button = named(QPushButton(text), name)
    button.setToolTip(tooltip)
    # Fixed to its text: enabling or relabelling never changes its width.
    button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
    return button
