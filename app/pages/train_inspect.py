"""The Train page's way into the token inspector: double-click a rollout (or a held-out
answer) to see it token by token under the run's latest checkpoint, or inspect a fresh
sample of the prompt typed in "Try the policy". The dialog computes in a worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.widgets.inspect_dialog import InspectDialog
from core.errors import StudioError
from core.paths import run_checkpoint_dir
from core.train.checkpoints import resolve_checkpoint


class InspectLauncher:
    """Opens InspectDialogs for a Train page's run."""

    def __init__(self, page: Any) -> None:
        """`page`: the Train page (its run id, tables, status label and AppState); not
        imported here, which would make a cycle of the two modules."""
        self.page = page
        self.dialogs: list[InspectDialog] = []  # kept alive while open
        for table in (page.rollout_table, page.held_out_table):
            table.setToolTip("Double-click a row to see it token by token (token inspector)")
            table.cellDoubleClicked.connect(lambda row, _col, t=table: self._on_row(t, row))

    def latest_checkpoint(self) -> Path | None:
        """The run's newest checkpoint (None before its first)."""
        page = self.page
        if page.run_id is None:
            return None
        try:
            return resolve_checkpoint(run_checkpoint_dir(page.state.workspace, page.run_id))
        except StudioError:
            return None

    def open(self, prompt: str, completion: str | None = None) -> InspectDialog | None:
        """The dialog for `prompt` (and `completion`, else a fresh sample), or a message
        on the Train page saying what is missing."""
        checkpoint = self.latest_checkpoint()
        if checkpoint is None:
            self.page.status_label.setText(
                "No checkpoint of this run yet: the token inspector reads one. Stop the run "
                "(it saves one) or set Checkpoint every."
            )
            return None
        dialog = InspectDialog(self.page.state, checkpoint, prompt, completion, self.page)
        dialog.finished.connect(lambda _r, d=dialog: self.dialogs.remove(d))
        self.dialogs.append(dialog)
        dialog.show()
        return dialog

    def _on_row(self, table, row: int) -> None:
        prompt, response = table.item(row, 0), table.item(row, 1)
        if prompt is not None and response is not None:
            self.open(prompt.text(), response.text())
