"""Compare & Rate's Rank mode: 3-4 answers side by side, put in order by keys or by drag.

Keys: press the answers' numbers best first (`1`-`4`); `=` before a number ties it with
the previous one; `Backspace` takes the last one back. When every answer is placed the
ranking is complete (`completed` fires with its groups, best first).

Drag: the list under the answers (app.widgets.rank_list) holds them in the order being
built; drag a row to move it, tick a row to tie it with the one above, then Save ranking
(a drag cannot tell when you are done, so it saves on the button). Both routes edit one
order: the keys reorder the list, a drag replaces the order with the list's.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.widgets.common import named, read_only_text, wrapping_label
from app.widgets.rank_list import RankList

MAX_ANSWERS = 4
LIST_ROWS_SHOWN = 4


class RankBox(QWidget):
    """The answers and the order being built."""

    completed = Signal(object)
    """tuple of groups (tuples of answer indices), best first."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("rankBox")
        self.order_label = wrapping_label("rankOrder")
        grid = QGridLayout()
        self.boxes: list[QGroupBox] = []
        self.views: list[QPlainTextEdit] = []
        for index in range(MAX_ANSWERS):
            box = QGroupBox(f"{index + 1}")
            view = read_only_text(f"rankAnswer{index + 1}")
            QVBoxLayout(box).addWidget(view)
            grid.addWidget(box, index // 2, index % 2)
            self.boxes.append(box)
            self.views.append(view)
        self.rank_list = RankList()
        self.rank_list.order_changed.connect(self._on_dragged)
        self.save_button = named(QPushButton("Save ranking"), "saveRankingButton")
        self.save_button.setToolTip("Save the order the list shows (ties as ticked)")
        self.save_button.clicked.connect(self.save_order)
        row = QHBoxLayout()
        row.addWidget(self.rank_list, 1)
        side = QVBoxLayout()
        side.addWidget(self.order_label, 1)
        side.addWidget(self.save_button)
        row.addLayout(side, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(grid, 1)
        layout.addLayout(row)
        self.set_answers([])

    def set_answers(self, texts: Sequence[str]) -> None:
        """Show `texts` (up to MAX_ANSWERS) and start a new order."""
        self.count = len(texts)
        for index, (box, view) in enumerate(zip(self.boxes, self.views, strict=True)):
            box.setVisible(index < self.count or self.count == 0)
            view.setPlainText(texts[index] if index < self.count else "")
        self.rank_list.set_answers(texts)
        row_height = max(self.rank_list.sizeHintForRow(0) if self.count else 0, 18)
        spacing = 2 * self.rank_list.spacing()
        self.rank_list.setFixedHeight(LIST_ROWS_SHOWN * (row_height + spacing) + 6)
        self.groups: list[list[int]] = []
        self._tie_next = False
        self.done = False
        self._show_order()

    def pick(self, index: int) -> None:
        """Place answer `index` next (tied with the previous after `=`)."""
        if self.done or not 0 <= index < self.count or self.placed(index):
            return
        if self._tie_next and self.groups:
            self.groups[-1].append(index)
        else:
            self.groups.append([index])
        self._tie_next = False
        if sum(len(group) for group in self.groups) == self.count:
            self.done = True
            self._show_order()
            self.completed.emit(tuple(tuple(group) for group in self.groups))
            return
        self._show_order()

    def tie(self) -> None:
        """The next answer placed ties with the last one."""
        if self.groups and not self.done:
            self._tie_next = True
            self._show_order()

    def undo(self) -> None:
        """Take the last placed answer back."""
        if self.done or not self.groups:
            return
        self.groups[-1].pop()
        if not self.groups[-1]:
            self.groups.pop()
        self._tie_next = False
        self._show_order()

    def save_order(self) -> None:
        """Save ranking: the list's order, ties as ticked, is the ranking."""
        if self.done or self.count == 0:
            return
        self.groups = self.rank_list.groups()
        self._tie_next = False
        self.done = True
        self._show_order()
        self.completed.emit(tuple(tuple(group) for group in self.groups))

    def _on_dragged(self) -> None:
        """A row dragged or a tie ticked: the list's whole order is the order so far."""
        if self.done:
            return
        self.groups = self.rank_list.groups()
        self._tie_next = False
        self._show_order()

    def placed(self, index: int) -> bool:
        return any(index in group for group in self.groups)

    def text(self) -> str:
        """The order so far: '3 > 1 = 4 > 2'."""
        return " > ".join(" = ".join(str(i + 1) for i in group) for group in self.groups)

    def _show_order(self) -> None:
        self.rank_list.show_groups(self.groups)
        self.rank_list.setEnabled(self.count > 0 and not self.done)
        self.save_button.setEnabled(self.count > 0 and not self.done)
        for index, box in enumerate(self.boxes):
            rank = next((r for r, group in enumerate(self.groups) if index in group), None)
            box.setTitle(f"{index + 1}" if rank is None else f"{index + 1} — rank {rank + 1}")
        if self.count == 0:
            self.order_label.setText("Generate answers (G) to rank them.")
        elif self.done:
            self.order_label.setText(f"Ranked: <b>{self.text()}</b>")
        else:
            hint = " = (tie with the last)" if self._tie_next else ""
            self.order_label.setText(
                f"Order so far: <b>{self.text() or '—'}</b>{hint}. Press the numbers best "
                "first (= ties the next with the last; Backspace takes one back), or drag "
                "the rows into order (tick to tie with the row above) and Save ranking."
            )
