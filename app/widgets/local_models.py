"""The Model page's "Models on this machine": the causal LMs of the Hugging Face cache and
the folders the user added, with size, dtype and the memory verdict for the chosen device,
read in a worker (app/jobs/local_models.py). A click on a row chooses that model."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.app_state import AppState
from app.jobs.local_models import ModelRow, list_local_models
from app.widgets.common import header_item, named, wrapping_label
from app.workers import start_job
from core.model.local import hub_cache_dir

COLUMNS = ("Model", "Where", "Size", "Dtype", "Memory")
FOLDERS_SETTING = "model/folders"


class LocalModelsBox(QGroupBox):
    """A table of the models found on this machine; `model_chosen(path)` on a click."""

    model_chosen = Signal(str)

    def __init__(
        self,
        state: AppState,
        device_dtype: Callable[[], tuple[str, str]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Models on this machine", parent)
        self.setObjectName("localModelsBox")
        self.state = state
        self._device_dtype = device_dtype
        self._scanning = False
        self._again = False
        self.rows: list[ModelRow] = []
        self.table = named(QTableWidget(0, len(COLUMNS)), "localModelsTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        header_item(self.table, 4).setToolTip(
            "The memory planner's peak for the Train page's first PPO preset on the chosen "
            "device: against the free RAM on the CPU, else the smallest usual GPU it fits."
        )
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._on_selected)
        self.status_label = wrapping_label("localModelsStatus")
        add = named(QPushButton("Add folder…"), "addModelFolderButton")
        add.clicked.connect(self._on_add_folder)
        refresh = named(QPushButton("Refresh"), "refreshModelsButton")
        refresh.clicked.connect(self.refresh)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status_label, 1)
        buttons.addWidget(add)
        buttons.addWidget(refresh)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

    def folders(self) -> list[str]:
        """The folders the user added (kept in the settings)."""
        value = self.state.setting(FOLDERS_SETTING, [])
        return [value] if isinstance(value, str) else list(value or [])

    def add_folder(self, folder: str) -> None:
        """Add a model folder to the list (kept across launches) and read it."""
        if folder not in self.folders():
            self.state.set_setting(FOLDERS_SETTING, [*self.folders(), folder])
        self.refresh()

    def refresh(self) -> None:
        """Read the cache and the folders again, in a worker (a newer read follows one that
        is running, so the last choice of device always gets its verdicts)."""
        if self._scanning:
            self._again = True
            return
        self._scanning = True
        device, dtype = self._device_dtype()
        self.status_label.setText("Looking for models…")
        start_job(
            self.state,
            list_local_models,
            hub_cache_dir(),
            self.folders(),
            device,
            dtype,
            _available_ram() if device == "cpu" else None,
            description="Listing local models",
            context="Listing the models on this machine",
            on_done=self._on_listed,
            on_error=lambda _e: self._on_listed([]),
        )

    def _on_listed(self, rows: list[ModelRow]) -> None:
        self._scanning = False
        if self._again:
            self._again = False
            self.refresh()
            return
        self.rows = rows
        self.table.setRowCount(len(rows))
        for index, row in enumerate(rows):
            model = row.model
            cells = (model.name, model.source, row.size, model.dtype, row.verdict)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{model.path}\n{model.architecture}")
                self.table.setItem(index, column, item)
        device, _dtype = self._device_dtype()
        where = f"{hub_cache_dir()}"
        self.status_label.setText(
            f"{len(rows)} found (Hugging Face cache {where} and added folders); verdicts "
            f"for {device}. Click one to choose it."
            if rows
            else f"No causal language model in {where} or the added folders."
        )

    def _on_selected(self) -> None:
        selected = self.table.selectionModel().selectedRows()
        if selected:
            self.model_chosen.emit(str(self.rows[selected[0].row()].model.path))

    def _on_add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a model folder to the list")
        if folder:
            self.add_folder(folder)


def _available_ram() -> int:
    import psutil  # light: reads /proc/meminfo

    return int(psutil.virtual_memory().available)
