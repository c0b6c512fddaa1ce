"""The Runs page's exports and imports: a checkpoint's adapter or merged model (Hugging
Face folder, GGUF, Ollama), a run's metrics and samples, the workspace's comparisons, the
overlay plot as a PNG, and a run exported for a cluster and brought back.

A mixin of `RunsPage`: the actions read the page's selection (`selected_run_ids`,
`_chosen_checkpoint`) and report through the app's one error reporter; the slow ones run
in workers.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QInputDialog, QWidget

from app.jobs.run_transfer import export_folder, export_run_job, import_run_job
from app.widgets.common import inform
from app.workers import start_job
from core.algorithms import exportable_kinds, spec_of
from core.errors import StudioError
from core.export.models import export_adapter, export_gguf, export_merged_model, export_ollama
from core.export.ratings import export_metrics, export_pairs, export_samples
from core.runs.import_run import imported_origin
from core.train.checkpoints import ADAPTER_DIR

if TYPE_CHECKING:
    from app.app_state import AppState
    from app.widgets.plots import OverlayPlot

    # For the type checker the mixin is the QWidget that RunsPage is (dialogs take it as
    # their parent); at run time it adds no base, RunsPage brings QWidget itself.
    _PageBase = QWidget
else:
    _PageBase = object

MERGED_FORMATS = {
    "Hugging Face model folder": "merged",
    "GGUF file (llama.cpp, LM Studio)": "gguf",
    "Ollama folder (GGUF + Modelfile)": "ollama",
}
"""The merged export's formats, as the export action offers them."""


class RunExportActions(_PageBase):
    """Export and import actions of the Runs page (mixed into `RunsPage`)."""

    # the page's (RunsPage.__init__ and methods), declared for the type checker only
    state: AppState
    overlay: OverlayPlot

    if TYPE_CHECKING:

        def refresh(self) -> None: ...
        def selected_run_ids(self) -> list[int]: ...
        def select_runs(self, run_ids: list[int]) -> None: ...
        def _chosen_checkpoint(self) -> tuple[int, int, Path] | None: ...

    def _on_export_adapter(self) -> None:
        chosen = self._chosen_checkpoint()
        if chosen is None:
            return
        out = QFileDialog.getExistingDirectory(self, "Export the adapter into a folder")
        if out:
            self.export_adapter(
                chosen[2] / ADAPTER_DIR, Path(out) / f"adapter-run{chosen[0]}-step{chosen[1]}"
            )

    def export_adapter(self, adapter: Path, out: Path) -> None:
        """Copy a checkpoint's PEFT adapter folder (loadable with PeftModel.from_pretrained)."""
        try:
            export_adapter(adapter, out)
        except StudioError as error:
            self.state.errors.report(error, "Exporting the adapter")
            return
        inform(self, "Adapter exported", f"PEFT adapter written to {out}.")

    def _on_export_merged(self) -> None:
        chosen = self._chosen_checkpoint()
        session = self.state.session
        if chosen is None:
            return
        if session is None:
            self.state.errors.report(
                StudioError("Load the run's base model first (Model page); merging needs it."),
                "Exporting the merged model",
            )
            return
        label, accepted = QInputDialog.getItem(
            self, "Export merged model", "Format:", list(MERGED_FORMATS), 0, False
        )
        if not accepted:
            return
        kind = MERGED_FORMATS[label]
        name = f"merged-run{chosen[0]}-step{chosen[1]}"
        if kind == "gguf":
            out, _ = QFileDialog.getSaveFileName(
                self, "Export as GGUF", f"{name}.gguf", "GGUF (*.gguf)"
            )
            target = Path(out) if out else None
        else:
            out = QFileDialog.getExistingDirectory(self, "Export the merged model into a folder")
            target = Path(out) / (name if kind == "merged" else f"ollama-{name}") if out else None
        if target is not None:
            self.export_merged_as(kind, session.spec, chosen[2] / ADAPTER_DIR, target)

    def export_merged_as(self, kind: str, spec, adapter: Path, target: Path) -> None:
        """Merge `adapter` into the base and write it as `kind` (merged, gguf or ollama) to
        `target`, in a worker."""
        exporters = {
            "merged": export_merged_model,
            "gguf": export_gguf,
            "ollama": lambda *args: export_ollama(*args)[0],
        }
        start_job(
            self.state,
            exporters[kind],
            replace(spec, device="cpu") if kind != "merged" else spec,
            adapter,
            target,
            description="Exporting a merged model",
            context="Exporting the merged model",
            on_done=lambda path: inform(self, "Merged model exported", f"Written to {path}."),
        )

    def _on_export_metrics(self) -> None:
        ids = self.selected_run_ids()
        if not ids:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export metrics", f"run-{ids[0]}-metrics.csv", "CSV (*.csv)"
        )
        if path:
            self.export_metrics_csv(Path(path), ids[0])

    def export_metrics_csv(self, path: Path, run_id: int) -> None:
        """Write one run's metrics, one row per step."""
        self._export(
            lambda: export_metrics(self.state.require_store(), path, run_id, force=True),
            "Exporting metrics",
            f"steps to {path}",
        )

    def _on_export_samples(self) -> None:
        ids = self.selected_run_ids()
        if not ids:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export samples", f"run-{ids[0]}-samples.jsonl", "JSON Lines (*.jsonl)"
        )
        if path:
            self.export_samples_jsonl(Path(path), ids[0])

    def export_samples_jsonl(self, path: Path, run_id: int) -> None:
        """Write the rollouts a run kept and its held-out answers, one JSON object each."""
        self._export(
            lambda: export_samples(self.state.require_store(), path, run_id, force=True),
            "Exporting samples",
            f"samples to {path}",
        )

    def _on_export_pairs(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export comparisons", "comparisons.jsonl", "JSON Lines (*.jsonl)"
        )
        if path:
            self.export_pairs_jsonl(Path(path))

    def export_pairs_jsonl(self, path: Path) -> None:
        """Write one TRL row per decided pair (core.data.preference_export: {"prompt", "chosen",
        "rejected", "margin", "source"}, AI coin flips left out)."""
        self._export(
            lambda: export_pairs(self.state.require_store(), path, force=True),
            "Exporting comparisons",
            f"pairs to {path}",
            note=lambda report: (
                f" (left out {report.counts.low_confidence} AI coin flips)"
                if report.counts.low_confidence
                else ""
            ),
        )

    def _export(self, action, context: str, what: str, note=lambda _report: "") -> None:
        # The file exports pass force=True: the save dialog has asked before replacing.
        try:
            report = action()
        except StudioError as error:
            self.state.errors.report(error, context)
            return
        inform(self, context, f"Wrote {report.written} {what}{note(report)}.")

    def _on_export_run(self) -> None:
        ids = self.selected_run_ids()
        if not ids:
            self.state.errors.report(
                StudioError(f"Select the run to export first (one {_exportable_labels()} run)."),
                "Exporting the run",
            )
            return
        run = self.state.require_store().run(ids[0])
        if run.kind not in exportable_kinds():  # asked before a folder is chosen
            self.state.errors.report(
                StudioError(
                    f"Run {run.id} is a {run.kind} run, trained on the workspace's feedback, "
                    f"which an export does not carry; choose a {_exportable_labels()} run."
                ),
                "Exporting the run",
            )
            return
        out = QFileDialog.getExistingDirectory(self, "Export the run for a cluster into a folder")
        if out:
            self.export_run(run.id, export_folder(Path(out), run.id, run.kind))

    def export_run(self, run_id: int, out: Path) -> None:
        """Write the run as a folder that trains it elsewhere (launch.sh, slurm.sbatch), in
        the background."""
        start_job(
            self.state,
            export_run_job,
            self.state.workspace,
            run_id,
            out,
            description="Exporting a run for a cluster",
            context="Exporting the run",
            on_done=lambda report: inform(
                self,
                "Run exported",
                f"Wrote run {report.run_id} to {report.folder} ({len(report.files)} files). "
                "Train it there with launch.sh, or on SLURM with sbatch slurm.sbatch; then "
                "bring it back with “Import a cluster run…”."
                + "".join(f"\n\nNote: {note}" for note in report.notes),
            ),
        )

    def _on_import_run(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Import the runs trained from an export folder"
        )
        if folder:
            self.import_run(Path(folder))

    def import_run(self, folder: Path) -> None:
        """Bring back the runs trained from an export folder, in the background; then
        overlay each on the run it was exported from."""
        start_job(
            self.state,
            import_run_job,
            self.state.workspace,
            folder,
            description="Importing a cluster run",
            context="Importing the run",
            on_done=self._on_imported,
        )

    def _on_imported(self, report) -> None:
        self.state.runs_changed.emit()
        self.refresh()
        store = self.state.require_store()
        imported = [run.run_id for run in report.runs]
        origins = [imported_origin(store.run(run_id)) or {} for run_id in imported]
        exported = [
            origin["exported_run_id"] for origin in origins if origin.get("exported_run_id")
        ]
        known = {run.id for run in store.runs()}
        self.select_runs(imported + [run_id for run_id in exported if run_id in known])
        steps = ", ".join(f"run {run.run_id}: {run.steps} steps" for run in report.runs)
        inform(self, "Runs imported", f"From {report.source_workspace}: {steps}.")

    def _on_export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save plot", "runs.png", "PNG (*.png)")
        if path:
            self.export_png(Path(path))

    def export_png(self, path: Path) -> None:
        """Save the overlay plot as a PNG image."""
        if not self.overlay.grab().save(str(path), "PNG"):
            self.state.errors.report(
                StudioError(f"Could not write {path}; choose a writable folder."), "Saving the plot"
            )


def _exportable_labels() -> str:
    """'PPO, GRPO or RLOO': the registry's kinds that export-run writes out."""
    labels = [spec_of(kind).label for kind in exportable_kinds()]
    return ", ".join(labels[:-1]) + " or " + labels[-1] if len(labels) > 1 else labels[0]
