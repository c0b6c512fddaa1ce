"""Runs page: the workspace's runs with status, config and final metrics; overlaid curves
of several runs (on-policy and offline trainers' keys); the DPO loop's rounds, win-rate and
held-out accuracy per round; checkpoints to open in Compare & Rate; exports."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.app_state import AppState
from app.pages.runs_exports import MERGED_FORMATS, RunExportActions
from app.run_kinds import FIGURE_HELP, metrics_for, row_figures
from app.widgets.common import header_item, named, page_title
from app.widgets.config_table import ConfigTable
from app.widgets.plots import OverlayPlot
from app.widgets.rounds_plot import RoundsPlot
from core.errors import StudioError
from core.grpo.metrics import GROUP_KEYS
from core.offline.loop import rounds
from core.runs.import_run import imported_origin
from core.train.checkpoints import ADAPTER_DIR

COLUMNS = ("ID", "Name", "Kind", "Status", "Steps", "Result", "Also", "Created")
"""Result and Also: the two figures of the run's kind (app/run_kinds.py)."""
OVERLAY_METRICS = (
    "reward/mean",
    "objective/kl",
    "policy/entropy",
    "response/length",
    "loss/policy",
    "loss/value",
    "policy/clipfrac",
    "perf/samples_per_s",
    "eval/reward/mean",  # runs with held-out prompts: on their evaluated steps only
    "eval/kl",
    # DPO / KTO / SFT runs (docs/metrics.md, "Training from stored feedback")
    "loss",
    "rewards/chosen",
    "rewards/rejected",
    "rewards/margins",
    "rewards/accuracy",
    "eval/rewards/margins",
    "eval/rewards/accuracy",
    "eval/loss",
    "drift/logratio",
)

GROUP_METRICS = GROUP_KEYS
"""Offered too: the group statistics of GRPO and RLOO runs (PPO runs have none)."""

__all__ = ["MERGED_FORMATS", "OVERLAY_METRICS", "RunsPage"]  # the export formats: still here


class RunsPage(RunExportActions, QWidget):
    """History of runs; select several to overlay their curves."""

    checkpoint_opened = Signal(str, str)  # label, adapter folder
    resume_requested = Signal(str)  # checkpoint (step) folder
    rate_samples_requested = Signal(int)  # run id: rate its latest samples by hand

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.table = named(QTableWidget(0, len(COLUMNS)), "runsTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for column in (5, 6):
            header_item(self.table, column).setToolTip(FIGURE_HELP)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.metric_combo = named(QComboBox(), "overlayMetricCombo")
        self.metric_combo.setMinimumContentsLength(22)
        self._offer_metrics([*OVERLAY_METRICS, *GROUP_METRICS])
        self.metric_combo.currentTextChanged.connect(lambda _t: self._on_selection())
        self.overlay = OverlayPlot()
        self.overlay.setObjectName("runsOverlayPlot")
        self.config_view = ConfigTable()
        self.checkpoint_list = named(QListWidget(), "checkpointList")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self._build_details())
        splitter.setSizes([200, 580])
        layout = QVBoxLayout(self)
        layout.addWidget(page_title("Runs"))
        layout.addWidget(splitter, 1)
        self._stale = True
        state.runs_changed.connect(self._on_runs_changed)
        self.refresh()

    def _on_runs_changed(self) -> None:
        # Refreshing reads every run's metrics and redraws the overlay: only when visible.
        if self.isVisible():
            self.refresh()
        else:
            self._stale = True

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def _build_details(self) -> QWidget:
        plot_box = QGroupBox("Curves of the selected runs")
        plot_layout = QVBoxLayout(plot_box)
        row = QHBoxLayout()
        row.addWidget(QLabel("Metric"))
        row.addWidget(self.metric_combo)
        row.addStretch(1)
        save_png = named(QPushButton("Save plot as PNG…"), "exportPlotButton")
        save_png.clicked.connect(self._on_export_png)
        row.addWidget(save_png)
        plot_layout.addLayout(row)
        plot_layout.addWidget(self.overlay, 1)
        self.rounds_plot = RoundsPlot()  # shown once the workspace has DPO rounds
        self.rounds_plot.setVisible(False)
        plot_layout.addWidget(self.rounds_plot, 1)
        side = QGroupBox("Run")
        grid = QGridLayout(side)
        grid.addWidget(QLabel("Config"), 0, 0)
        grid.addWidget(self.config_view, 1, 0, 1, 2)
        grid.addWidget(QLabel("Checkpoints"), 2, 0)
        grid.addWidget(self.checkpoint_list, 3, 0, 1, 2)
        buttons = [
            ("Open in Compare && Rate", "openCheckpointButton", self._on_open_checkpoint),
            ("Resume training from here", "resumeRunButton", self._on_resume),
            ("Export adapter (PEFT)…", "exportAdapterButton", self._on_export_adapter),
            ("Export merged model…", "exportMergedButton", self._on_export_merged),
            ("Export metrics CSV…", "exportMetricsButton", self._on_export_metrics),
            ("Export samples JSONL…", "exportSamplesButton", self._on_export_samples),
            ("Export comparisons JSONL…", "exportPairsButton", self._on_export_pairs),
            ("Rate its latest samples", "rateRunSamplesButton", self._on_rate_samples),
            ("Export for a cluster…", "exportRunButton", self._on_export_run),
            ("Import a cluster run…", "importRunButton", self._on_import_run),
        ]
        for index, (text, name, slot) in enumerate(buttons):
            button = named(QPushButton(text), name)
            button.clicked.connect(slot)
            grid.addWidget(button, 4 + index // 2, index % 2)
        body = QSplitter(Qt.Orientation.Horizontal)
        body.addWidget(plot_box)
        body.addWidget(side)
        body.setSizes([800, 420])
        return body

    # data
    def refresh(self) -> None:
        """Reload the runs from the store, keeping the selection."""
        store = self.state.store
        if store is None:
            return
        self._stale = False
        selected = set(self.selected_run_ids())
        runs = store.runs()
        self.table.blockSignals(True)
        self.table.setRowCount(len(runs))
        for row, run in enumerate(reversed(runs)):  # newest first
            metrics = store.metrics(run.id)
            cells = (
                str(run.id),
                run.name,
                run.kind,
                run.status,
                str(len(metrics)),
                *row_figures(run.kind, metrics),
                run.created[:19].replace("T", " "),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, run.id)
                if run.error and column == 3:
                    item.setToolTip(run.error)
                if column == 1:
                    item.setToolTip(_origin_text(run))
                self.table.setItem(row, column, item)
            if run.id in selected:
                self.table.selectRow(row)
        self.table.blockSignals(False)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        loop_rounds = rounds(store)
        self.rounds_plot.setVisible(bool(loop_rounds))
        self.rounds_plot.show_rounds(loop_rounds)
        self._on_selection()

    def selected_run_ids(self) -> list[int]:
        rows = sorted({index.row() for index in self.table.selectedIndexes()})
        return [self._run_id_at(row) for row in rows]

    def _run_id_at(self, row: int) -> int:
        """The id of the run on table row `row` (refresh fills every row)."""
        item = self.table.item(row, 0)
        if item is None:
            raise LookupError(f"runsTable has no run on row {row}")
        return item.data(Qt.ItemDataRole.UserRole)

    def select_runs(self, run_ids: list[int]) -> None:
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for row in range(self.table.rowCount()):
            if self._run_id_at(row) in run_ids:
                self.table.selectRow(row)
        self.table.setSelectionMode(mode)

    def _offer_metrics(self, metrics: list[str]) -> None:
        """Fill the metric choice with `metrics`, keeping the current one if offered (else
        the first: the selected kind's headline)."""
        current = self.metric_combo.currentText()
        if [self.metric_combo.itemText(i) for i in range(self.metric_combo.count())] == metrics:
            return
        self.metric_combo.blockSignals(True)
        self.metric_combo.clear()
        self.metric_combo.addItems(metrics)
        self.metric_combo.setCurrentIndex(metrics.index(current) if current in metrics else 0)
        self.metric_combo.blockSignals(False)

    def _on_selection(self) -> None:
        store = self.state.require_store()
        ids = self.selected_run_ids()
        # The metrics of the selected runs' kinds: a DPO run offers its loss, margins and
        # accuracy, not a reward it does not have.
        kinds = [store.run(run_id).kind for run_id in ids]
        self._offer_metrics(metrics_for(kinds, [*OVERLAY_METRICS, *GROUP_METRICS]))
        metric = self.metric_combo.currentText()
        curves = {}
        for run_id in ids:
            # Only the steps that report the metric: held-out eval/* keys come every few
            # steps, and gaps between them would hide the curve.
            rows = [row for row in store.metrics(run_id) if metric in row]
            steps = np.array([row["step"] for row in rows], dtype=float)
            values = np.array([row.get(metric, math.nan) for row in rows], dtype=float)
            run = store.run(run_id)
            # Runs of several algorithms overlay: the legend says which is which.
            label = f"{run_id}: {run.name}"
            shown_kinds = {store.run(i).kind for i in ids}
            curves[label if len(shown_kinds) == 1 else f"{label} ({run.kind})"] = (steps, values)
        self.overlay.show_runs(metric, curves)
        self._show_run(ids[0] if ids else None)

    def _show_run(self, run_id: int | None) -> None:
        self.checkpoint_list.clear()
        if run_id is None:
            self.config_view.show_config({})
            return
        run = self.state.require_store().run(run_id)
        self.config_view.show_config(run.config, error=run.error)
        for checkpoint in self.state.require_store().checkpoints(run_id):
            item = QListWidgetItem(f"step {checkpoint.step}")
            item.setToolTip(checkpoint.path)
            item.setData(Qt.ItemDataRole.UserRole, (run.id, checkpoint.step, checkpoint.path))
            self.checkpoint_list.addItem(item)
        if self.checkpoint_list.count():
            self.checkpoint_list.setCurrentRow(self.checkpoint_list.count() - 1)

    def _chosen_checkpoint(self) -> tuple[int, int, Path] | None:
        item = self.checkpoint_list.currentItem()
        if item is None:
            self.state.errors.report(
                StudioError("Select a run with a checkpoint first (runs save one when they end)."),
                "Using a checkpoint",
            )
            return None
        run_id, step, path = item.data(Qt.ItemDataRole.UserRole)
        return run_id, step, Path(path)

    # actions
    def _on_open_checkpoint(self) -> None:
        chosen = self._chosen_checkpoint()
        if chosen is not None:
            run_id, step, path = chosen
            self.checkpoint_opened.emit(f"Run {run_id} · step {step}", str(path / ADAPTER_DIR))

    def _on_rate_samples(self) -> None:
        ids = self.selected_run_ids()
        if not ids:
            self.state.errors.report(
                StudioError(
                    "Select a training run first; its latest samples go to Compare & Rate."
                ),
                "Rating a run's samples",
            )
            return
        self.rate_samples_requested.emit(ids[0])

    def _on_resume(self) -> None:
        chosen = self._chosen_checkpoint()
        if chosen is not None:
            self.resume_requested.emit(str(chosen[2]))


def _origin_text(run) -> str:
    """The Name cell's tooltip: where an imported run came from."""
    origin = imported_origin(run)
    if origin is None:
        return run.name
    exported = origin.get("exported_run_id")
    source = f" (trained from run {exported})" if exported else ""
    return f"Imported from {origin.get('folder')}, its run {origin.get('run_id')}{source}"
