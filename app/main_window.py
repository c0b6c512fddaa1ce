"""The main window: assembles the pages, the menus and the status bar, nothing more."""

from __future__ import annotations

import importlib
import logging
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

import psutil
from PySide6.QtCore import QSize, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence, QPaintEvent
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QWidget,
)

from app.app_state import AppState
from app.help_menu import ReportProblemDialog, ShortcutsDialog, UserGuideDialog
from app.import_steps import module_steps
from app.page_stack import PageStack
from app.pages.compare_page import ComparePage
from app.pages.model_page import ModelPage
from app.pages.prompts_page import PromptsPage
from app.quit_guard import QUIT_DIALOG_NAME, ask_to_quit
from app.settings_dialog import SettingsDialog
from app.theme import apply_theme, configure_plots, style_plots
from app.warm_up import start_warm_up
from app.widgets.common import named, qt_app
from core import __version__
from core.errors import StudioError
from core.rlaif.loop import samples_as_pairs

if TYPE_CHECKING:
    from app.pages.feedback_page import FeedbackPage
    from app.pages.runs_page import RunsPage
    from app.pages.train_page import TrainPage

log = logging.getLogger("rlhf_studio.app")

HelpDialog = TypeVar("HelpDialog", bound=QDialog)

MEMORY_REFRESH_MS = 2000

PAGES = (
    ("Model", "model"),
    ("Prompts", "prompts"),
    ("Compare && Rate", "compare"),
    ("Train", "train"),
    ("Runs", "runs"),
    ("AI Feedback", "feedback"),
)
"""(title, key) of each page, in the sidebar's order."""

DEFERRED_PAGES = {
    "train": ("app.pages.train_page", "TrainPage"),
    "runs": ("app.pages.runs_page", "RunsPage"),
    "feedback": ("app.pages.feedback_page", "FeedbackPage"),
}
"""The pages with plots (pyqtgraph): built after the first paint, or when first asked for."""
PAGE_IMPORTS = {
    "train": (
        "pyqtgraph", "app.algorithms", "app.widgets.plots", "app.widgets.objective_plots",
        "app.widgets.dashboard", "app.widgets.train_form", "app.pages.train_page",
    ),
    "runs": ("app.jobs.run_transfer", "app.pages.runs_exports", "app.pages.runs_page"),
    "feedback": ("app.pages.feedback_page",),
}  # fmt: skip
"""The modules each deferred page imports, dependencies first: one per event-loop turn
before the page is built (app/import_steps.py)."""


class MainWindow(QMainWindow):
    """Pages in a sidebar + stack, a File/Help menu, and a status bar with device, memory
    and the current job."""

    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        state.errors.set_parent_widget(self)
        self.setObjectName("mainWindow")
        self.setMinimumSize(QSize(1000, 680))
        self._closing = False
        self._quit_confirmed = False  # asked (app/quit_guard.py) while a run trained
        self._painted = False
        self._help_dialogs: dict[type, QDialog] = {}
        self._restore_pending = False
        # Style first: applying a style sheet to existing widgets re-polishes every one.
        self._apply_theme()
        self.model_page = ModelPage(state)
        self.prompts_page = PromptsPage(state)
        self.compare_page = ComparePage(state)
        self._build_body()
        self._build_menus()
        self._build_status_bar()
        self._connect_state()
        self._restore_window()
        self._update_title(state.workspace)

    # layout
    def _build_body(self) -> None:
        self.nav = named(QListWidget(), "pageNav")
        self.nav.setFixedWidth(170)
        self.stack = PageStack(on_built=self._on_page_built)
        for title, key in PAGES:
            self.nav.addItem(title.replace("&&", "&"))
            if key in DEFERRED_PAGES:
                prepare = module_steps(PAGE_IMPORTS[key])
                self.stack.add_deferred(key, partial(self._make_page, key), prepare)
            else:
                self.stack.add_page(key, getattr(self, f"{key}_page"))
        self.nav.currentRowChanged.connect(self.stack.show_index)
        self.nav.setCurrentRow(0)
        body = QWidget()
        layout = QHBoxLayout(body)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.nav)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(body)

    def show_page(self, page: QWidget) -> None:
        """Bring `page` to the front."""
        self.nav.setCurrentRow(self.stack.indexOf(page))

    # the pages with plots, built on first use (each of the class DEFERRED_PAGES names)
    @property
    def train_page(self) -> TrainPage:
        return cast("TrainPage", self.stack.page("train"))

    @property
    def runs_page(self) -> RunsPage:
        return cast("RunsPage", self.stack.page("runs"))

    @property
    def feedback_page(self) -> FeedbackPage:
        return cast("FeedbackPage", self.stack.page("feedback"))

    def all_pages_built(self) -> bool:
        """Whether every page exists (they are built shortly after the first paint)."""
        return self.stack.all_built()

    def build_all_pages(self) -> None:
        """Build the deferred pages now (for tools that look widgets up before a paint)."""
        while self.stack.build_next():
            pass

    def _make_page(self, key: str) -> QWidget:
        module, name = DEFERRED_PAGES[key]
        page_class = getattr(importlib.import_module(module), name)
        configure_plots(self._dark)  # new plots read pyqtgraph's colours when made
        return page_class(self.state)

    def _on_page_built(self, key: str, page: QWidget) -> None:
        """Connect a deferred page once it exists (its partner pages via the properties,
        which build them if need be) and give its plots the theme's colours."""
        if key == "train":
            train = cast("TrainPage", page)
            train.ai_round_requested.connect(
                lambda run_id, control: self.feedback_page.run_ai_round(run_id, control)
            )
            train.rate_samples_requested.connect(self._on_rate_samples)
        elif key == "runs":
            runs = cast("RunsPage", page)
            runs.checkpoint_opened.connect(self._on_checkpoint_opened)
            runs.resume_requested.connect(self._on_resume_requested)
            runs.rate_samples_requested.connect(self._on_rate_samples)
        elif key == "feedback":
            feedback = cast("FeedbackPage", page)
            feedback.reward_model_ready.connect(self._on_reward_model_ready)
            feedback.rerate_requested.connect(self._on_rerate_requested)
            feedback.ai_round_finished.connect(
                lambda record: self.train_page.on_ai_round_finished(record)
            )
        style_plots(page, self._dark)

    def _build_next_page(self) -> None:
        """After the first paint: one deferred page per event-loop turn, then the imports."""
        if self.stack.build_next():
            QTimer.singleShot(0, self, self._build_next_page)  # dropped once the window is gone
        else:
            start_warm_up()
            if self._restore_pending:  # the window is up and whole: now the model
                self._restore_pending = False
                self.model_page.load_last_model()

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._add_action(
            file_menu, "&New Workspace…", self._on_new_workspace, QKeySequence.StandardKey.New
        )
        self._add_action(
            file_menu, "&Open Workspace…", self._on_open_workspace, QKeySequence.StandardKey.Open
        )
        file_menu.addSeparator()
        self._add_action(
            file_menu, "&Settings…", self._on_settings, QKeySequence.StandardKey.Preferences
        )
        file_menu.addSeparator()
        self._add_action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        go_menu = self.menuBar().addMenu("&Go")
        for index, (title, _key) in enumerate(PAGES):
            # triggered(checked) passes a bool first: it must not land in `i` (it did: False,
            # so every Ctrl+digit showed the Model page).
            action = self._add_action(
                go_menu, title, lambda _checked=False, i=index: self.nav.setCurrentRow(i)
            )
            action.setShortcut(QKeySequence(f"Ctrl+{index + 1}"))
        help_menu = self.menuBar().addMenu("&Help")
        self._add_action(
            help_menu, "&User Guide", self._on_user_guide, QKeySequence.StandardKey.HelpContents
        )
        self._add_action(help_menu, "&Keyboard Shortcuts", self._on_shortcuts)
        self._add_action(help_menu, "&Report a Problem…", self._on_report_problem)
        help_menu.addSeparator()
        self._add_action(help_menu, "&About RLHF Studio", self._on_about)

    def _add_action(self, menu, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.device_label = named(QLabel("No model"), "deviceLabel")
        self.memory_label = named(QLabel(""), "memoryLabel")
        self.job_label = named(QLabel("Idle"), "jobLabel")
        self.job_spinner = QProgressBar(maximum=0, textVisible=False)
        self.job_spinner.setMaximumWidth(90)
        for widget in (self.job_spinner, self.job_label, self.device_label, self.memory_label):
            bar.addPermanentWidget(widget)
        # A fixed height: the busy bar appearing would otherwise change the bar's height and
        # re-layout, and so repaint, the whole window each time a job starts or ends.
        bar.setFixedHeight(max(bar.sizeHint().height(), self.job_spinner.sizeHint().height() + 6))
        self.job_spinner.setVisible(False)
        self._memory_timer = QTimer(self, interval=MEMORY_REFRESH_MS)
        self._memory_timer.timeout.connect(self._on_refresh_memory)
        self._memory_timer.start()
        self._on_refresh_memory()

    def _connect_state(self) -> None:
        self.state.errors.reported.connect(lambda text: self.statusBar().showMessage(text, 10000))
        self.state.jobs_changed.connect(self._on_jobs_changed)
        self.state.session_changed.connect(self._on_session_changed)
        self.state.workspace_changed.connect(self._update_title)
        hints = QGuiApplication.styleHints()
        hints.colorSchemeChanged.connect(lambda _scheme: self._apply_theme())

    def _on_checkpoint_opened(self, label: str, adapter_path: str) -> None:
        self.compare_page.add_checkpoint(label, adapter_path)
        self.show_page(self.compare_page)

    def _on_reward_model_ready(self, folder: str) -> None:
        """'Use as PPO reward' on the AI Feedback page: train against the new reward model."""
        self.statusBar().showMessage(self.train_page.use_reward_model(folder), 10000)
        self.show_page(self.train_page)

    def _on_rate_samples(self, run_id: int) -> None:
        """The run's latest samples (policy vs reference) as pairs to rate on Compare & Rate."""
        try:
            pairs = samples_as_pairs(self.state.require_store(), run_id)
            if not pairs:
                raise StudioError(
                    f"Run {run_id}'s latest samples equal the reference's responses (or have "
                    "none beside them); there is nothing to compare. Train a few more steps."
                )
        except StudioError as error:
            self.state.errors.report(error, "Rating the run's samples")
            return
        self.compare_page.rate_stored_pairs(f"run-{run_id}", pairs)
        self.show_page(self.compare_page)

    def _on_rerate_requested(self, prompt_id: int, first: int, second: int) -> None:
        """A pair people disagree on, queued on Compare & Rate (pairs mode) to rate again."""
        set_name = self.state.require_store().prompt(prompt_id).set_name
        self.compare_page.mode_combo.setCurrentIndex(0)
        self.compare_page.rate_stored_pairs(set_name, [(prompt_id, first, second)])
        self.show_page(self.compare_page)

    def _on_resume_requested(self, checkpoint: str) -> None:
        self.show_page(self.train_page)
        self.train_page.resume_from(Path(checkpoint))

    # status bar
    def _on_jobs_changed(self) -> None:
        jobs = self.state.jobs()
        self.job_spinner.setVisible(any(not job.paused for job in jobs))
        self.job_label.setText(" · ".join(job.description for job in jobs) if jobs else "Idle")
        if self._closing and not jobs:
            self.close()

    def _on_session_changed(self, session) -> None:
        if session is None:
            self.device_label.setText("No model")
        else:
            quantize = session.spec.quantize
            base = "" if quantize == "none" else f", base {quantize}"
            self.device_label.setText(f"{session.name} on {session.device} ({session.dtype}{base})")
        self._on_refresh_memory()

    def _on_refresh_memory(self) -> None:
        session = self.state.session
        rss = psutil.Process().memory_info().rss
        text = f"RAM {_gib(rss)}"
        if session is not None:
            info = session.memory()
            if info.device_used_bytes is not None:
                text += f" · {info.device} {_gib(info.device_used_bytes)} used"
                if info.device_free_bytes is not None:
                    text += f", {_gib(info.device_free_bytes)} free"
        self.memory_label.setText(text)

    def _update_title(self, workspace: Path) -> None:
        self.setWindowTitle(f"RLHF Studio — {Path(workspace).name} ({workspace})")

    # menus
    def _on_new_workspace(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "New workspace: choose an empty folder")
        if folder:
            self._switch_workspace(Path(folder))

    def _on_open_workspace(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open workspace folder")
        if folder:
            self._switch_workspace(Path(folder))

    def _switch_workspace(self, folder: Path) -> None:
        if self.state.jobs():
            self.state.errors.report(_busy_error("switching workspace"), "Opening the workspace")
            return
        try:
            self.state.open_workspace(folder)
        except Exception as error:  # shown, never swallowed: the old workspace stays open
            self.state.errors.report(error, "Opening the workspace")

    def _on_settings(self) -> None:
        dialog = SettingsDialog(self.state, self)
        dialog.accepted.connect(self._apply_theme)
        dialog.accepted.connect(self.compare_page.refresh_rater)
        dialog.open()

    def _on_user_guide(self) -> None:
        self.help_dialog(UserGuideDialog)

    def _on_shortcuts(self) -> None:
        self.help_dialog(ShortcutsDialog)

    def _on_report_problem(self) -> None:
        self.help_dialog(ReportProblemDialog).open_folder()

    def help_dialog(self, kind: type[HelpDialog]) -> HelpDialog:
        """Show the Help window of `kind`, made once and kept (not modal: the guide can
        stay open beside the pages)."""
        dialog = self._help_dialogs.get(kind)
        if not isinstance(dialog, kind):  # not made yet (the one kept is always a `kind`)
            dialog = self._help_dialogs[kind] = kind(self)
        dialog.show()
        dialog.raise_()
        return dialog

    def _on_about(self) -> None:
        QMessageBox.about(
            self,
            "About RLHF Studio",
            f"<b>RLHF Studio {__version__}</b><br>Generate, compare, rate and AI-score "
            "completions; train a reward model and run LoRA PPO with live plots.<br><br>"
            f"Workspace: {self.state.workspace}",
        )

    def _apply_theme(self) -> None:
        theme = self.state.setting("ui/theme", "system")
        self._dark = apply_theme(qt_app(), theme, self)

    # launch and close
    def _restore_window(self) -> None:
        geometry = self.state.setting("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1320, 860)
        state = self.state.setting("window/state")
        if state is not None:
            self.restoreState(state)
        page = self.state.setting("window/page", 0, int)
        self.nav.setCurrentRow(max(0, min(page, self.nav.count() - 1)))

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        """After the first paint, build the remaining pages, then import the model libraries
        in the background: the window is up without them, and the first model load finds
        them (mostly) imported."""
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            QTimer.singleShot(0, self, self._build_next_page)  # once this paint pass is on screen

    def restore_last_model(self) -> None:
        """Reload the model used last time, if the setting asks for it (launch only).

        Not before the window is painted and its pages built: the load is a worker, but
        starting it at once made it compete (for the GIL and the cores) with building the
        window, which then came up only after the load."""
        if not self.state.setting("model/autoload", True, bool):
            return
        if self._painted and self.stack.all_built():
            self.model_page.load_last_model()
        else:
            self._restore_pending = True

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        """Ask running jobs to stop and close once they have; never kill a thread. While a
        run trains, ask the user first."""
        if self._training() and not self._quit_confirmed:
            event.ignore()
            asking = self.findChildren(QMessageBox, QUIT_DIALOG_NAME)
            if not any(box.isVisible() for box in asking):
                ask_to_quit(self, self._quit_anyway)
            return
        if self.state.jobs():
            if not self._closing:
                self._closing = True
                self.statusBar().showMessage("Stopping background jobs before closing…")
                self.state.stop_all_jobs()
            event.ignore()
            return
        self.state.set_setting("window/geometry", self.saveGeometry())
        self.state.set_setting("window/state", self.saveState())
        self.state.set_setting("window/page", self.nav.currentRow())
        self._memory_timer.stop()
        if self.stack.is_built("train"):
            self.train_page.shutdown()
        self.state.close()
        self.state.settings.sync()
        event.accept()

    def _training(self) -> bool:
        return self.stack.is_built("train") and self.train_page.phase != "idle"

    def _quit_anyway(self) -> None:
        self._quit_confirmed = True
        self.close()


def _gib(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.2f} GiB"


def _busy_error(action: str):
    from core.errors import StudioError

    return StudioError(
        f"Background jobs are running; wait for them (or stop training) before {action}."
    )
