"""The Help menu's windows: the user guide (docs/user_guide.md, shipped in the bundle),
the keyboard shortcuts, and "report a problem" (opens the log folder)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.widgets.common import named, wrapping_label
from core.paths import log_dir

GUIDE_RELATIVE = Path("docs") / "user_guide.md"
"""Where the guide lies beside app/: in a clone, and in the bundle (packaging/*.spec)."""

SHORTCUTS = (
    ("Ctrl+1 … Ctrl+6", "Everywhere", "Model, Prompts, Compare & Rate, Train, Runs, AI Feedback"),
    ("Ctrl+N / Ctrl+O", "Everywhere", "New / open a workspace folder"),
    ("Ctrl+Q", "Everywhere", "Quit (asks running jobs to stop first)"),
    ("F1", "Everywhere", "This user guide"),
    ("1 / 2 / 3 / 0", "Compare & Rate", "Left better / right better / tie / both bad"),
    ("+ (or =) / -", "Compare & Rate, single answers", "Thumbs up / thumbs down"),
    ("G", "Compare & Rate", "Generate the pair (or the answer) for this prompt"),
    ("N", "Compare & Rate", "Write a note, saved with the next vote"),
    ("Esc", "Compare & Rate", "Leave the note field: the rating keys vote again"),
    ("← → ↑ ↓", "Compare & Rate", "Previous / next prompt"),
)
"""(keys, where, what) of every keyboard shortcut, as the Shortcuts window lists them."""


def user_guide_path() -> Path | None:
    """The shipped user guide, or None where this copy has none (a wheel install)."""
    path = Path(__file__).resolve().parent.parent / GUIDE_RELATIVE
    return path if path.is_file() else None


class UserGuideDialog(QDialog):
    """docs/user_guide.md rendered, its screenshots beside it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("userGuideDialog")
        self.setWindowTitle("RLHF Studio user guide")
        self.browser = named(QTextBrowser(openExternalLinks=True), "userGuideBrowser")
        path = user_guide_path()
        if path is None:
            self.browser.setPlainText(
                "The user guide is not installed with this copy of RLHF Studio. It is "
                f"{GUIDE_RELATIVE.as_posix()} in the project's source."
            )
        else:
            self.browser.setSearchPaths([str(path.parent)])  # the screenshots it shows
            self.browser.setMarkdown(path.read_text(encoding="utf-8"))
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(_close_buttons(self))
        _fit(self, parent, 900, 720)


class ShortcutsDialog(QDialog):
    """Every keyboard shortcut, where it works and what it does."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        self.table = named(QTableWidget(len(SHORTCUTS), 3), "shortcutsTable")
        self.table.setHorizontalHeaderLabels(["Keys", "Where", "What"])
        self.table.verticalHeader().setVisible(False)
        for row, cells in enumerate(SHORTCUTS):
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(_close_buttons(self))
        _fit(self, parent, 760, 420)


class ReportProblemDialog(QDialog):
    """Where the logs are (the folder opens beside it) and what to send with a report."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reportProblemDialog")
        self.setWindowTitle("Report a problem")
        self.folder = log_dir()
        text = wrapping_label(
            "reportProblemText",
            (
                "<p>To report a problem, describe what you did and what happened, and attach the "
                "log files of this folder (third-party libraries' output and start-up "
                f"errors):</p><p><b>{self.folder}</b></p><p>An error dialog's <i>Show "
                "Details…</i> text helps too.</p>"
            ),
        )
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(_close_buttons(self))

    def open_folder(self) -> bool:
        """Open the log folder in the file manager; False where none could be started."""
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.folder)))


def _close_buttons(dialog: QDialog) -> QDialogButtonBox:
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    return buttons


def _fit(dialog: QDialog, parent: QWidget | None, width: int, height: int) -> None:
    """The preferred size, never larger than the window it opens over."""
    if parent is not None:
        width = min(width, max(400, parent.width() - 80))
        height = min(height, max(300, parent.height() - 80))
    dialog.resize(width, height)
