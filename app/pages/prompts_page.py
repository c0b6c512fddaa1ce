"""Prompts page: prompt sets; import .txt/.jsonl/.csv prompts, TRL preference pairs and
ratings; add, edit and delete prompts."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.app_state import DEMO_PROMPT_SET, AppState, demo_prompts_file
from app.import_job import import_feedback
from app.widgets.common import hint, named, page_title
from app.workers import start_job
from core.data.prompts_io import import_prompts
from core.errors import StudioError

NEW_PROMPT_TEXT = "New prompt"
FILE_FILTER = "Prompt files (*.txt *.jsonl *.csv);;All files (*)"
FEEDBACK_FILTER = "Data files (*.jsonl *.csv *.parquet);;All files (*)"


class PromptsPage(QWidget):
    """Edits the prompts of the current workspace, one set at a time."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._filling = False
        self._own_edit = False
        layout = QVBoxLayout(self)
        layout.addWidget(page_title("Prompts"))
        layout.addWidget(
            hint(
                "Prompts are grouped in sets. Import a .txt file (one prompt per line), a "
                '.jsonl file ({"prompt": ..., "reference": ...} per line) or a .csv file '
                "with a 'prompt' column. Double-click a prompt to edit it. Import pairs… reads "
                'TRL preference data ("prompt", "chosen", "rejected", text or chat messages) as '
                'comparisons; Import ratings… reads "prompt", "completion" and a "label" or '
                "\"score\". The rater is the file's name (the CLI's --rater names another)."
            )
        )
        layout.addLayout(self._build_set_row())
        self.prompt_list = named(QListWidget(), "promptList")
        self.prompt_list.setAlternatingRowColors(True)
        self.prompt_list.setWordWrap(True)
        self.prompt_list.itemChanged.connect(self._on_item_edited)
        self.prompt_list.currentRowChanged.connect(lambda _row: self._update_buttons())
        layout.addWidget(self.prompt_list, 1)
        layout.addLayout(self._build_edit_row())
        state.prompts_changed.connect(self.refresh)
        self.refresh()

    def _build_set_row(self) -> QHBoxLayout:
        self.set_combo = named(QComboBox(), "promptSetCombo")
        self.set_combo.setMinimumWidth(200)
        self.set_combo.currentTextChanged.connect(self._on_set_chosen)
        new_set = named(QPushButton("New set…"), "newSetButton")
        new_set.clicked.connect(self._on_new_set)
        import_button = named(QPushButton("Import file…"), "importPromptsButton")
        import_button.clicked.connect(self._on_import)
        self.import_pairs_button = named(QPushButton("Import pairs…"), "importPairsButton")
        self.import_pairs_button.setToolTip(
            "Import TRL preference pairs (.jsonl, .csv, .parquet) as comparisons."
        )
        self.import_pairs_button.clicked.connect(lambda: self._on_import_feedback("pairs"))
        self.import_ratings_button = named(QPushButton("Import ratings…"), "importRatingsButton")
        self.import_ratings_button.setToolTip(
            "Import rated answers (prompt, completion, label or score), e.g. TRL's KTO data."
        )
        self.import_ratings_button.clicked.connect(lambda: self._on_import_feedback("ratings"))
        demo_button = named(QPushButton("Add demo prompts"), "demoPromptsButton")
        demo_button.setToolTip("Add the built-in review openings the demo model was made for.")
        demo_button.clicked.connect(self._on_add_demo)
        self.count_label = QLabel()
        row = QHBoxLayout()
        row.addWidget(QLabel("Set"))
        row.addWidget(self.set_combo)
        row.addWidget(new_set)
        row.addWidget(import_button)
        row.addWidget(self.import_pairs_button)
        row.addWidget(self.import_ratings_button)
        row.addWidget(demo_button)
        row.addStretch(1)
        row.addWidget(self.count_label)
        return row

    def _build_edit_row(self) -> QHBoxLayout:
        self.add_button = named(QPushButton("Add prompt"), "addPromptButton")
        self.add_button.clicked.connect(self._on_add)
        self.edit_button = named(QPushButton("Edit"), "editPromptButton")
        self.edit_button.clicked.connect(self._on_edit)
        self.delete_button = named(QPushButton("Delete"), "deletePromptButton")
        self.delete_button.clicked.connect(self._on_delete)
        row = QHBoxLayout()
        row.addWidget(self.add_button)
        row.addWidget(self.edit_button)
        row.addWidget(self.delete_button)
        row.addStretch(1)
        return row

    # data
    def current_set(self) -> str:
        return self.set_combo.currentText() or DEMO_PROMPT_SET

    def refresh(self) -> None:
        """Reload the set names and the current set's prompts from the store."""
        store = self.state.store
        if store is None or self._own_edit:
            return
        chosen = self.set_combo.currentText()
        sets = store.prompt_sets()
        self._filling = True
        self.set_combo.blockSignals(True)
        self.set_combo.clear()
        self.set_combo.addItems(sets)
        if chosen in sets:
            self.set_combo.setCurrentText(chosen)
        elif sets:
            self.set_combo.setCurrentText(DEMO_PROMPT_SET if DEMO_PROMPT_SET in sets else sets[0])
        self.set_combo.blockSignals(False)
        self._fill_list()
        self._filling = False

    def _fill_list(self) -> None:
        self._filling = True
        self.prompt_list.clear()
        rows = (
            self.state.require_store().prompts(self.current_set()) if self.set_combo.count() else []
        )
        for row in rows:
            item = QListWidgetItem(row.text)
            item.setData(Qt.ItemDataRole.UserRole, row.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            if row.reference:
                item.setToolTip(f"Reference: {row.reference}")
            self.prompt_list.addItem(item)
        self.count_label.setText(f"{len(rows)} prompts")
        self._filling = False
        self._update_buttons()

    def _update_buttons(self) -> None:
        selected = self.prompt_list.currentItem() is not None
        self.edit_button.setEnabled(selected)
        self.delete_button.setEnabled(selected)

    # handlers
    def _on_set_chosen(self, _name: str) -> None:
        if not self._filling:
            self._fill_list()

    def _on_new_set(self) -> None:
        dialog = QInputDialog(self)
        dialog.setObjectName("newSetDialog")
        dialog.setWindowTitle("New prompt set")
        dialog.setLabelText("Name of the new set (it holds one prompt to start with):")
        dialog.textValueSelected.connect(self.create_set)
        dialog.open()

    def create_set(self, name: str) -> None:
        """Create set `name` holding one placeholder prompt (sets exist through prompts)."""
        name = name.strip()
        if not name:
            return
        self._run(lambda: self.state.require_store().add_prompts([NEW_PROMPT_TEXT], set_name=name))
        self._select_set(name)

    def _on_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import prompts", "", FILE_FILTER)
        if path:
            self.import_file(Path(path))

    def import_file(self, path: Path, set_name: str | None = None) -> None:
        """Import a prompt file into `set_name` (default: the file's name)."""
        try:
            report = import_prompts(self.state.require_store(), path, set_name=set_name)
        except StudioError as error:
            self.state.errors.report(error, "Importing prompts")
            return
        self.state.prompts_changed.emit()
        self._select_set(report.set_name)
        skipped = (
            f", {report.skipped_duplicates} duplicates skipped" if report.skipped_duplicates else ""
        )
        self.count_label.setText(f"Imported {report.imported} prompts{skipped}")

    def _on_import_feedback(self, kind: str) -> None:
        title = "Import preference pairs" if kind == "pairs" else "Import ratings"
        path, _ = QFileDialog.getOpenFileName(self, title, "", FEEDBACK_FILTER)
        if path:
            self.import_feedback_file(Path(path), kind)

    def import_feedback_file(self, path: Path, kind: str) -> None:
        """Import a pairs or ratings file in a worker (a big dataset takes a while)."""
        self._set_feedback_buttons(False)
        self.count_label.setText(f"Importing {path.name}…")
        start_job(
            self.state,
            import_feedback,
            self.state.workspace,
            path,
            kind,
            description=f"Importing {path.name}",
            context="Importing pairs" if kind == "pairs" else "Importing ratings",
            on_done=lambda report: self._on_feedback_imported(report, kind),
            on_error=lambda _error: self._on_feedback_failed(),
        )

    def _on_feedback_imported(self, report, kind: str) -> None:
        self._set_feedback_buttons(True)
        self.state.feedback_changed.emit()
        self._select_set(report.set_name)
        skipped = f", {report.duplicates} duplicates skipped" if report.duplicates else ""
        self.count_label.setText(f"Imported {report.imported} {kind} by {report.rater}{skipped}")

    def _on_feedback_failed(self) -> None:
        self._set_feedback_buttons(True)
        self._fill_list()

    def _set_feedback_buttons(self, enabled: bool) -> None:
        self.import_pairs_button.setEnabled(enabled)
        self.import_ratings_button.setEnabled(enabled)

    def _on_add_demo(self) -> None:
        self.import_file(demo_prompts_file(), set_name=DEMO_PROMPT_SET)

    def _on_add(self) -> None:
        set_name = self.current_set()
        ids = self._run(
            lambda: self.state.require_store().add_prompts([NEW_PROMPT_TEXT], set_name=set_name)
        )
        self._select_set(set_name)
        if ids:
            item = self._item_with_id(ids[0])
            if item is not None:
                self.prompt_list.setCurrentItem(item)
                self.prompt_list.editItem(item)

    def _on_edit(self) -> None:
        item = self.prompt_list.currentItem()
        if item is not None:
            self.prompt_list.editItem(item)

    def _on_item_edited(self, item: QListWidgetItem) -> None:
        if self._filling:
            return
        prompt_id = item.data(Qt.ItemDataRole.UserRole)
        text = item.text().strip()
        if not text:
            self.state.errors.report(
                StudioError("A prompt cannot be empty; type some text or delete the prompt."),
                "Editing a prompt",
            )
            self._fill_list()
            return
        self._run(lambda: self.state.require_store().update_prompt(prompt_id, text))
        # Tell the other pages; this page already shows the edit, so it skips the refill.
        self._own_edit = True
        try:
            self.state.prompts_changed.emit()
        finally:
            self._own_edit = False

    def _on_delete(self) -> None:
        item = self.prompt_list.currentItem()
        if item is None:
            return
        prompt_id = item.data(Qt.ItemDataRole.UserRole)
        usage = self.state.require_store().prompt_usage(prompt_id)
        if not any(usage.values()):
            self.delete_prompt(prompt_id)
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Delete prompt",
            "Deleting this prompt also deletes "
            + ", ".join(f"{n} {what}" for what, n in usage.items() if n)
            + ". Delete it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self,
        )
        box.setObjectName("deletePromptDialog")
        yes = QMessageBox.StandardButton.Yes

        def on_finished(_result: int) -> None:
            if box.standardButton(box.clickedButton()) == yes:
                self.delete_prompt(prompt_id)

        box.finished.connect(on_finished)
        box.open()

    def delete_prompt(self, prompt_id: int) -> None:
        """Delete one prompt (and the feedback on its completions)."""
        self._run(lambda: self.state.require_store().delete_prompt(prompt_id))
        self.state.prompts_changed.emit()
        self.state.feedback_changed.emit()

    # helpers
    def _run(self, action):
        """Run a store action; errors go to the user, never swallowed."""
        try:
            return action()
        except StudioError as error:
            self.state.errors.report(error, "Updating prompts")
            return None

    def _select_set(self, name: str) -> None:
        self.refresh()
        self.set_combo.setCurrentText(name)
        self._fill_list()
        self.state.prompts_changed.emit()

    def _item_with_id(self, prompt_id: int) -> QListWidgetItem | None:
        for index in range(self.prompt_list.count()):
            item = self.prompt_list.item(index)
            if item.data(Qt.ItemDataRole.UserRole) == prompt_id:
                return item
        return None
