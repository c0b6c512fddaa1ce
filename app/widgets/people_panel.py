"""The AI Feedback page's "Between people" box: agreement between raters, each rater's
habits and pace, and the pairs people disagree on (core.rating.agreement), each with one
click to rate it again on Compare & Rate or to resolve it (core.rating.resolutions)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QMenu,
    QPushButton,
    QTableWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.widgets.common import HeaderedTable, cell_widget, named, wrapping_label
from app.widgets.feedback_tables import _item, _read_only, number, percent

if TYPE_CHECKING:
    from core.rating.agreement import PeopleReport

PEOPLE_TIP = (
    "Cohen's κ for every two people on the pairs both rated; Krippendorff's α over all "
    "(1 = perfect, 0 = chance). Conflicts: pairs people voted on both ways. A pair whose "
    "votes cancel out is left out of training and exports until someone rates it again or "
    "resolves it; a split vote trains as its vote share (2 against 1: 0.67); a resolved "
    "pair trains as the person who resolved it picked."
)
RESOLVE_PICKS = (("A is better", "A"), ("B is better", "B"), ("Neither (tie)", "tie"))
"""The Resolve menu: its entries and what each stores (core.rating.resolutions.PICKS)."""
CONFLICT_COLUMNS = ("", "Outcome", "Prompt", "A", "B", "Votes")


def _table(name: str, columns: Sequence[str]) -> HeaderedTable:
    table = named(HeaderedTable(0, len(columns)), name)
    table.setHorizontalHeaderLabels(list(columns))
    _read_only(table)
    table.column_header.setStretchLastSection(True)
    return table


class PeoplePanel(QGroupBox):
    """Raters against each other and themselves; filled by `set_report`."""

    rerate_requested = Signal(int, int, int)
    """(prompt id, answer A's generation id, answer B's): a conflict to rate again."""
    resolve_requested = Signal(int, int, str)
    """(answer A's generation id, answer B's, A | B | tie): a person's final verdict."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("peoplePanel")
        self.setToolTip(PEOPLE_TIP)
        self.summary = wrapping_label("peopleSummary")
        self.summary.setText("Press Refresh to compare the people who rated.")
        self.pairs_table = _table("raterPairsTable", ("Raters", "Shared", "Agreement", "κ"))
        self.habits_table = _table(
            "raterHabitsTable",
            ("Rater", "Labels", "s / label", "Per hour", "Self-agreement", "Left", "Longer"),
        )
        self.habits_table.setToolTip(
            "Self-agreement: first and latest verdict on pairs rated twice (hidden repeats). "
            "Left / Longer: share of decisive verdicts for the left side / the longer answer "
            "(50 % = no bias). Pace: gaps over 10 minutes count as breaks."
        )
        self.conflicts_table = _table("conflictsTable", CONFLICT_COLUMNS)
        self.conflicts_table.setToolTip(
            "Re-rate (or double-click) opens the pair on Compare & Rate: your new verdict "
            "replaces your earlier one. Resolve: pick the final verdict yourself; the "
            "raters' verdicts stay, and training and exports read the pair as you picked."
        )
        self.conflicts_table.cellDoubleClicked.connect(self._on_conflict_clicked)
        self._conflicts: list = []
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        for table in (self.pairs_table, self.habits_table, self.conflicts_table):
            table.setMinimumHeight(3 * table.row_header.defaultSectionSize())
            layout.addWidget(table)

    def set_report(self, report: PeopleReport) -> None:
        """Show `report`."""
        settled = sum(c.resolution is not None for c in report.conflicts)
        self.summary.setText(
            f"{len(report.raters)} people · Krippendorff's α {number(report.alpha)} · "
            f"{len(report.conflicts)} pairs they disagree on"
            + (f" ({settled} resolved)" if settled else "")
        )
        _fill(self.pairs_table, [
            (f"{p.first} / {p.second}", str(p.n_shared), percent(p.agreement), number(p.kappa))
            for p in report.pairs
        ])  # fmt: skip
        _fill(self.habits_table, [
            (h.rater, str(h.n_labels), number(h.seconds_per_label, 1),
             number(h.labels_per_hour, 0), f"{percent(h.self_agreement)} of {h.n_repeats}",
             percent(h.side_bias), percent(h.length_preference))
            for h in report.raters
        ])  # fmt: skip
        self._conflicts = list(report.conflicts)
        _fill(self.conflicts_table, [
            ("", _outcome(c), c.prompt, c.answers[0], c.answers[1],
             ", ".join(f"{rater}: {verdict}" for rater, verdict in c.votes.items()))
            for c in report.conflicts
        ])  # fmt: skip
        for row in range(len(self._conflicts)):
            self.conflicts_table.setCellWidget(row, 0, self._actions(row))
        self.conflicts_table.resizeColumnToContents(0)
        self.conflicts_table.resizeColumnToContents(1)

    def _actions(self, row: int) -> QWidget:
        """Re-rate and Resolve for conflict `row` (the table owns and deletes them)."""
        rerate = named(QPushButton("Re-rate"), "rerateConflictButton")
        rerate.setToolTip("Rate this pair again on Compare & Rate")
        rerate.clicked.connect(lambda _checked=False, r=row: self._on_conflict_clicked(r, 0))
        resolve = named(QToolButton(), "resolveConflictButton")
        resolve.setText("Resolve")
        resolve.setToolTip("Pick the final verdict on this pair yourself")
        resolve.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(resolve)
        for text, pick in RESOLVE_PICKS:
            menu.addAction(text).triggered.connect(
                lambda _checked=False, r=row, p=pick: self._on_resolve(r, p)
            )
        resolve.setMenu(menu)
        cell = QWidget()
        layout = QHBoxLayout(cell)
        layout.setContentsMargins(2, 0, 2, 0)
        layout.setSpacing(4)
        layout.addWidget(rerate)
        layout.addWidget(resolve)
        return cell

    def action_buttons(self, row: int) -> tuple[QPushButton, QToolButton]:
        """Conflict `row`'s Re-rate and Resolve buttons (tests)."""
        cell = cell_widget(self.conflicts_table, row, 0, QWidget)
        rerate = cell.findChild(QPushButton, "rerateConflictButton")
        resolve = cell.findChild(QToolButton, "resolveConflictButton")
        if rerate is None or resolve is None:
            raise LookupError(f"conflict row {row} has no Re-rate and Resolve buttons")
        return rerate, resolve

    def _on_conflict_clicked(self, row: int, _column: int) -> None:
        if 0 <= row < len(self._conflicts):
            item = self._conflicts[row]
            self.rerate_requested.emit(item.prompt_id, *item.generation_ids)

    def _on_resolve(self, row: int, pick: str) -> None:
        if 0 <= row < len(self._conflicts):
            self.resolve_requested.emit(*self._conflicts[row].generation_ids, pick)

    def value(self, table: QTableWidget, row: int, column: int) -> str:
        """The text of one cell (tests)."""
        item = table.item(row, column)
        return "" if item is None else item.text()


def _outcome(conflict) -> str:
    """conflict | split | resolved: A (ann)."""
    if conflict.resolution is None:
        return conflict.outcome
    return f"resolved: {conflict.resolution} ({conflict.resolver})"


def _fill(table: QTableWidget, rows: Sequence[Sequence[str]]) -> None:
    table.setRowCount(len(rows))
    for r, cells in enumerate(rows):
        for c, text in enumerate(cells):
            table.setItem(
                r, c, _item(text, centred=c > 0 and table.objectName() != "conflictsTable")
            )
