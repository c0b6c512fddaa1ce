"""Rank mode's drag route: the answers as rows a person drags into order, best at the top.

A row's check box ties it with the row above (the top row's box means nothing and is
cleared). The list reads back as groups of answer indices, best first (`groups`), and
shows the order the number keys build (`show_groups`), so both routes edit one order.
Every change of order, by a drag or a model move (`model().moveRow`), and every tie
ticked or cleared emits `order_changed`.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem

PREVIEW_CHARS = 90
"""How much of an answer a row shows (the boxes above show it whole)."""
ROW_SPACING = 2
_INDEX = Qt.ItemDataRole.UserRole
_PREVIEW = Qt.ItemDataRole.UserRole + 1
TIE_MARK = "="
"""Before a tied row's text: its tick alone is faint in some themes."""


class RankList(QListWidget):
    """The answers in ranked order; drag a row to move it, tick it to tie it."""

    order_changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("rankList")
        self.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setSpacing(ROW_SPACING)  # rows a little apart: easier to grab and drop between
        self.setToolTip(
            "Drag the answers into order, best at the top. Tick an answer to tie it with "
            "the one above. Then Save ranking."
        )
        self._syncing = False
        self.model().rowsMoved.connect(self._on_changed)
        self.itemChanged.connect(self._on_changed)

    def set_answers(self, texts: Sequence[str]) -> None:
        """One row per answer, in the order shown, none tied."""
        self._syncing = True
        try:
            self.clear()
            for index, text in enumerate(texts):
                flat = " ".join(text.split())
                if len(flat) > PREVIEW_CHARS:
                    flat = flat[: PREVIEW_CHARS - 1] + "…"
                item = QListWidgetItem()
                item.setData(_INDEX, index)
                item.setData(_PREVIEW, f"{index + 1}   {flat}")
                item.setToolTip(text)
                item.setFlags(
                    Qt.ItemFlag.ItemIsEnabled
                    | Qt.ItemFlag.ItemIsSelectable
                    | Qt.ItemFlag.ItemIsDragEnabled
                    | Qt.ItemFlag.ItemIsUserCheckable
                )
                item.setCheckState(Qt.CheckState.Unchecked)
                self.addItem(item)
            self._label_rows()
        finally:
            self._syncing = False

    def groups(self) -> list[list[int]]:
        """The order shown: groups of answer indices, best first (a tie is one group)."""
        out: list[list[int]] = []
        for row in range(self.count()):
            item = self.item(row)
            tied = item.checkState() == Qt.CheckState.Checked
            if tied and out:
                out[-1].append(item.data(_INDEX))
            else:
                out.append([item.data(_INDEX)])
        return out

    def show_groups(self, groups: Sequence[Sequence[int]]) -> None:
        """Put the rows in the order of `groups` (answers not in it after, as shown), ties
        ticked; no order_changed (the caller already knows)."""
        placed = [index for group in groups for index in group]
        order = placed + sorted(set(range(self.count())) - set(placed))
        tied = {index for group in groups for index in group[1:]}
        self._syncing = True
        try:
            for target, index in enumerate(order):
                row = next(r for r in range(self.count()) if self.item(r).data(_INDEX) == index)
                if row != target:
                    self.model().moveRow(QModelIndex(), row, QModelIndex(), target)
            for row in range(self.count()):
                item = self.item(row)
                checked = row > 0 and item.data(_INDEX) in tied
                item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
            self._label_rows()
        finally:
            self._syncing = False

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt override)
        """A row dropped: the order changed (whichever way Qt carried out the move)."""
        super().dropEvent(event)
        self._on_changed()

    def _on_changed(self, *_args) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            top = self.item(0)
            if top is not None and top.checkState() == Qt.CheckState.Checked:
                top.setCheckState(Qt.CheckState.Unchecked)  # the top row ties with nothing
            self._label_rows()
        finally:
            self._syncing = False
        self.order_changed.emit()

    def _label_rows(self) -> None:
        """Each row's text, a tied one marked (call with _syncing set: it edits items)."""
        for row in range(self.count()):
            item = self.item(row)
            tied = row > 0 and item.checkState() == Qt.CheckState.Checked
            item.setText(f"{TIE_MARK if tied else ' '} {item.data(_PREVIEW)}")
