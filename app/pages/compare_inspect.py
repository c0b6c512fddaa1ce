"""Compare & Rate's way into the token inspector: once a pair is voted on (so the rating
stays blind), each side written by a run's checkpoint offers "Inspect token by token",
which opens that answer under that checkpoint (app/widgets/inspect_dialog.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from PySide6.QtWidgets import QWidget

from app.widgets.inspect_dialog import InspectDialog
from core.train.checkpoints import ADAPTER_DIR, META_FILE

if TYPE_CHECKING:
    from app.app_state import AppState
    from app.compare_pairs import Pair
    from app.widgets.compare_pane import ComparePane


class PanesPage(Protocol):
    """What CompareInspect needs of Compare & Rate (no import of the page: no cycle)."""

    state: AppState
    left_pane: ComparePane
    right_pane: ComparePane


BLIND_HINT = "Vote first: the token inspector names the checkpoint, which would unblind you"


def checkpoint_of(adapter: str | None) -> Path | None:
    """The training checkpoint whose adapter `adapter` is (checkpoint/adapter, or the
    checkpoint folder itself), else None (the base model, or a plain adapter folder)."""
    if not adapter:
        return None
    path = Path(adapter)
    for folder in (path.parent, path) if path.name == ADAPTER_DIR else (path,):
        if (folder / META_FILE).is_file():
            return folder
    return None


class CompareInspect:
    """Shows each pane's inspect button when its side can be inspected, and opens it."""

    def __init__(self, page: PanesPage) -> None:
        self.page = page
        self.dialogs: list[InspectDialog] = []  # kept alive while open
        self._targets: dict[str, tuple[Path, str, str]] = {}  # pane -> checkpoint, prompt, text
        for name, pane in self._panes().items():
            pane.inspect_button.clicked.connect(lambda _c=False, n=name: self.open(n))

    def _panes(self) -> dict:
        return {"left": self.page.left_pane, "right": self.page.right_pane}

    def update(self, pair: Pair | None) -> None:
        """Offer the inspector on the shown sides of `pair` written by a checkpoint."""
        self._targets.clear()
        shown = {}
        if pair is not None:
            shown = {"left": pair.sides[0]} if len(pair.sides) == 1 else {}
            if len(pair.sides) == 2:
                left, right = pair.shown()
                shown = {"left": pair.sides[left], "right": pair.sides[right]}
        for name, pane in self._panes().items():
            side = shown.get(name)
            checkpoint = checkpoint_of(side.adapter) if side is not None else None
            voted = pair is not None and pair.verdict is not None
            if checkpoint is not None and voted and side is not None and pair is not None:
                self._targets[name] = (checkpoint, pair.prompt, side.text)
            pane.set_inspectable(checkpoint is not None, voted, BLIND_HINT)

    def open(self, name: str) -> InspectDialog | None:
        """The dialog for the side shown in pane `name` ('left' or 'right')."""
        if name not in self._targets:
            return None
        checkpoint, prompt, text = self._targets[name]
        parent = cast(QWidget, self.page)  # the Protocol stands for the Compare & Rate page
        dialog = InspectDialog(self.page.state, checkpoint, prompt, text, parent)
        dialog.finished.connect(lambda _r, d=dialog: self.dialogs.remove(d))
        self.dialogs.append(dialog)
        dialog.show()
        return dialog
