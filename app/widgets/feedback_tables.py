"""Tables of the AI Feedback page: the latest AI verdicts and the agreement figures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidgetItem

from app.widgets.common import HeaderedTable, cell_text, header_item
from core.data.preference_export import DEFAULT_MIN_CONFIDENCE, is_coin_flip

VERDICT_TEXT = {"left": "left", "right": "right", "tie": "tie", "both_bad": "both bad"}

AGREEMENT_EXPLANATIONS = (
    "<b>Agreement</b>: share of the pairs a person also compared where the judge gave the "
    "same verdict (≈ 50 % is chance). Reference: Lee et al. 2023 (RLAIF) report ~78 % "
    "AI–human agreement for their best labeller.",
    "<b>Cohen's κ</b>: agreement corrected for chance; 0 = chance, 1 = perfect, above 0.6 "
    "is usually read as substantial.",
    "<b>Position bias</b>: share of the judge's verdicts where it picked the same position "
    "(A or B) in both orders, so the order, not the content, decided; lower is better.",
    "<b>Reward model</b>: share of human comparisons it never trained on where it scores the "
    "preferred response higher (50 % = chance).",
)
"""One line per figure of the agreement table, shown under it."""


def percent(value: float | None) -> str:
    """'78.0 %' or '—' when undefined."""
    return "—" if value is None else f"{100 * value:.1f} %"


def number(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _item(text: str, tip: str | None = None, centred: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setToolTip(tip if tip is not None else text)
    if centred:
        item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
    return item


def _read_only(table: HeaderedTable) -> None:
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setAlternatingRowColors(True)
    table.row_header.setVisible(False)


JUDGE_COLUMN_PX = 90
"""The verdict table's Judge column: wide enough for "demo-judge" or a short model name."""


class VerdictTable(HeaderedTable):
    """The newest AI comparisons: texts, the averaged P(left better) and both orders."""

    COLUMNS = (
        "Prompt", "Left", "Right", "P(left)", "order 1", "order 2", "Verdict", "Judge",
    )  # fmt: skip
    MAX_ROWS = 200

    def __init__(self) -> None:
        super().__init__(0, len(self.COLUMNS))
        self.setObjectName("aiVerdictTable")
        self.setHorizontalHeaderLabels(self.COLUMNS)
        _read_only(self)
        self.setWordWrap(False)
        header = self.column_header
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        for column in range(3, len(self.COLUMNS) - 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.setColumnWidth(0, 100)
        # The judge's name elided (whole in its tooltip): fitted to "demo-judge#positivity"
        # it left the two responses 40 pixels each at 1280 wide.
        self.setColumnWidth(len(self.COLUMNS) - 1, JUDGE_COLUMN_PX)
        self.row_header.setDefaultSectionSize(22)  # through our own header: see HeaderedTable
        tips = {
            3: "P(left better): the mean of both presentation orders",
            4: "P(left better) with the left response shown as A",
            5: "P(left better) with the right response shown as A; far from order 1 means "
            "the position, not the content, moved the judge",
        }
        for column, tip in tips.items():
            header_item(self, column).setToolTip(tip)

    def set_rows(self, rows: Sequence[Any]) -> None:
        """Show the newest of `rows` (store ComparisonRows by AI raters), newest first."""
        newest = sorted(rows, key=lambda row: row.id, reverse=True)[: self.MAX_ROWS]
        self.setRowCount(len(newest))
        for index, row in enumerate(newest):
            detail = row.detail or {}
            cells = (
                _item(row.prompt),
                _item(row.left_text),
                _item(row.right_text),
                _item(number(row.soft_label), centred=True),
                _item(number(detail.get("p_left_first")), centred=True),
                _item(number(detail.get("p_left_swapped")), centred=True),
                _verdict_item(row),
                _item(row.rater.removeprefix("ai:")),
            )
            for column, item in enumerate(cells):
                self.setItem(index, column, item)


def _verdict_item(row: Any) -> QTableWidgetItem:
    """The verdict, or "undecided" for an AI label below the training confidence filter."""
    if is_coin_flip(row):
        return _item(
            "undecided",
            f"The judge said {VERDICT_TEXT.get(row.verdict, row.verdict)} with confidence "
            f"|2p - 1| below {DEFAULT_MIN_CONFIDENCE:g}: a coin flip. Training and export "
            "leave it out.",
            centred=True,
        )
    return _item(VERDICT_TEXT.get(row.verdict, row.verdict), centred=True)


AGREEMENT_HEADERS = ("Judge", "Rubric", "Labels", "Shared", "Agreement", "κ", "Pos. bias")
"""The agreement table's headers as shown: short, so that the seven columns fit the AI
Feedback page's right column at 1280x800 without a horizontal scroll bar (the full names,
AgreementTable.COLUMNS, are in their tooltips)."""


class AgreementTable(HeaderedTable):
    """One row per AI rater against the people, and one for the newest reward model.

    The figures' columns are fitted to their contents; the judge's and the rubric's names
    share what is left and are elided (whole in their tooltips), so a long model name never
    makes the table scroll sideways."""

    COLUMNS = (
        "Judge", "Rubric", "AI labels", "Shared with people", "Agreement", "Cohen's κ",
        "Position bias",
    )  # fmt: skip
    """The columns' full names (tooltips, and `value`'s column argument)."""

    def __init__(self) -> None:
        super().__init__(0, len(self.COLUMNS))
        self.setObjectName("agreementTable")
        self._raters: list[str] = []
        self.setHorizontalHeaderLabels(AGREEMENT_HEADERS)
        _read_only(self)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # "Qwen/Qw…Instruct"
        self.row_header.setDefaultSectionSize(22)  # through our own header: see HeaderedTable
        header = self.column_header
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        tips = (
            "The judge model, or the reward model (RM) measured on human labels",
            "The rubric the judge read: one model under two rubrics is two judges",
            "Comparisons this rater made",
            "Pairs a person compared too (the reward model: held-out human pairs)",
            "Share of shared pairs with the same verdict (reward model: accuracy)",
            "Agreement corrected for chance (0 = chance, 1 = perfect)",
            "Share of verdicts where the same position won in both orders (of the verdicts "
            "judged in both orders: in the cell's tooltip)",
        )
        for column, tip in enumerate(tips):
            header_item(self, column).setToolTip(f"{self.COLUMNS[column]}: {tip}")

    def set_report(self, report: Any) -> None:
        """Fill from a core.rlaif.agreement.AgreementReport."""
        rows = [_judge_cells(judge) for judge in report.judges]
        self._raters = [judge.rater for judge in report.judges]
        rm = report.reward_model
        if rm is not None:
            which = (
                "held-out human pairs"
                if rm.held_out_only
                else "human pairs (may include training pairs)"
            )
            rm_tip = f"{rm.folder}\naccuracy on {rm.n} {which}"
            texts = (f"RM {Path(rm.folder).name}", "—", "—", str(rm.n), percent(rm.accuracy))
            rows.append([(text, rm_tip) for text in (*texts, "—", "—")])
        self.setRowCount(len(rows))
        for index, row in enumerate(rows):
            for column, (text, tip) in enumerate(row):
                self.setItem(index, column, _item(text, tip, centred=column > 0))
        self.fit_height()

    def fit_height(self, min_rows: int = 2) -> None:
        """As tall as the header and the rows (at least `min_rows`): no empty area."""
        rows = max(self.rowCount(), min_rows)
        height = self.column_header.height() + 2 * self.frameWidth()
        height += rows * self.row_header.defaultSectionSize()
        if self.horizontalScrollBar().isVisible():
            height += self.horizontalScrollBar().height()
        self.setFixedHeight(height)

    def value(self, rater: str, column: str) -> str:
        """The text in `column` of the row whose rater (`ai:<model>#<rubric>`, or the first
        column's text) starts with `rater` (for tools/tests)."""
        index = self.COLUMNS.index(column)
        for row in range(self.rowCount()):
            names = (self._raters[row] if row < len(self._raters) else "", cell_text(self, row, 0))
            if any(name.startswith(rater) for name in names if name):
                return cell_text(self, row, index)
        raise KeyError(rater)


def _judge_cells(judge: Any) -> list[tuple[str, str | None]]:
    """(text, tooltip) of a JudgeAgreement's row; a tooltip of None repeats the text."""
    bias = judge.position_bias_rate
    bias_tip = (
        f"{percent(bias)} of {judge.n_position} verdicts judged in both orders"
        if bias is not None
        else "No verdict was judged in both orders"
    )
    return [
        (judge.model, None),
        (judge.rubric or "—", None),
        (str(judge.n_ai), None),
        (str(judge.n_overlap), None),
        (percent(judge.agreement), None),
        (number(judge.kappa, 2), None),
        (percent(bias), bias_tip),
    ]
