"""Plot legends as a row of coloured names under the plot's bottom axis: outside the
data, so they never cover a curve, packed into short lines so they never widen a plot
past its cell, and restyled with the theme (app/theme.py calls `set_text_colour`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetricsF, QTextOption

LEGEND_ROW = 4
"""The PlotItem's layout row under the bottom axis (pyqtgraph uses rows 0-3)."""


@dataclass(frozen=True)
class LegendEntry:
    """One name in a legend row: the curve's colour, its name, a glyph drawn like it."""

    colour: str
    label: str
    glyph: str = "━"


LEGEND_POINT_SIZES = (8, 7)
"""The legend's font sizes, largest first: a legend that would take more than
LEGEND_MAX_LINES lines at 8 pt takes the smaller size (DPO's four rewards in a 1280-wide
window: three lines at 8 pt, taken from a plot 55 pixels tall, two at 7 pt)."""
LEGEND_MAX_LINES = 2

LEGEND_LINE_PX = 150
"""A legend row's lines are at least this wide (narrower than the narrowest plot cell,
app/widgets/plot_grid.py); wider plots give them their axes' width (`fit_width`)."""


class LegendLabel(pg.LabelItem):
    """A LabelItem that asks for its height only: its lines are packed to LEGEND_LINE_PX
    by LegendRow, and a width request of its own would widen the plot past its cell."""

    def __init__(self, text: str = "", **args) -> None:
        super().__init__(text, **args)
        option = QTextOption(Qt.AlignmentFlag.AlignCenter)  # shorter lines centred
        self.item.document().setDefaultTextOption(option)

    def updateMin(self) -> None:  # noqa: N802 (pyqtgraph's name)
        height = self.itemRect().height()
        self.setMinimumWidth(0)
        self.setMinimumHeight(height)
        self._sizeHint = {
            Qt.SizeHint.MinimumSize: (0, height),
            Qt.SizeHint.PreferredSize: (0, height),
            Qt.SizeHint.MaximumSize: (-1, -1),
            Qt.SizeHint.MinimumDescent: (0, 0),
        }
        self.updateGeometry()


def pack_lines(widths: Sequence[float], gap: float, budget: float) -> list[list[int]]:
    """Indices of items of `widths` in lines of at most `budget` (each item on a line,
    however wide); greedy, in order."""
    lines: list[list[int]] = []
    used = 0.0
    for index, width in enumerate(widths):
        if lines and used + gap + width <= budget:
            lines[-1].append(index)
            used += gap + width
        else:
            lines.append([index])
            used = width
    return lines


class LegendRow:
    """A legend as one line of coloured names under the plot's bottom axis: outside the
    data, so it never covers a curve, and restyled with the theme (`set_foreground`).

    A pyqtgraph LabelItem in a row of the PlotItem's own layout: the layout sizes the plot
    around it, so it is never clipped and never drawn over the axes."""

    def __init__(self, plot: pg.PlotWidget) -> None:
        item = plot.getPlotItem()
        self._label = LegendLabel("", size="8pt", parent=item)
        item.layout.addItem(self._label, LEGEND_ROW, 1)
        self._entries: list[LegendEntry] = []
        self._foreground = pg.mkColor(pg.getConfigOption("foreground")).name()
        self._budget = float(LEGEND_LINE_PX)

    def fit_width(self, width: float) -> None:
        """Pack the names into lines as wide as `width` (the plot's data area), at least
        LEGEND_LINE_PX: two names that fit side by side take one line, not two, and the
        line saved goes to the data."""
        budget = max(float(LEGEND_LINE_PX), float(width))
        if budget != self._budget:
            self._budget = budget
            self._render()

    def set_entries(self, entries: Sequence[LegendEntry]) -> None:
        if list(entries) != self._entries:
            self._entries = list(entries)
            self._render()

    def set_foreground(self, colour: str) -> None:
        self._foreground = colour
        self._render()

    def labels(self) -> list[str]:
        """The names shown, in order."""
        return [entry.label for entry in self._entries]

    def foreground(self) -> str:
        return self._foreground

    def label_item(self) -> pg.LabelItem:
        return self._label

    def _render(self) -> None:
        names = [
            f"<span style='color:{e.colour}'>{e.glyph}</span>&nbsp;{e.label}" for e in self._entries
        ]
        size, lines = self._packed()
        html = "<br>".join("&nbsp;&nbsp; ".join(names[i] for i in line) for line in lines)
        self._label.setText(html, color=self._foreground, size=f"{size}pt")

    def _packed(self) -> tuple[int, list[list[int]]]:
        """The largest font size whose lines number at most LEGEND_MAX_LINES (else the
        smallest), with the entries' indices by line at that size."""
        for size in LEGEND_POINT_SIZES:
            font = QFont(self._label.item.font())
            font.setPointSize(size)
            metrics = QFontMetricsF(font)
            widths = [metrics.horizontalAdvance(f"{e.glyph} {e.label}") for e in self._entries]
            lines = pack_lines(widths, metrics.horizontalAdvance("   "), self._budget)
            if len(lines) <= LEGEND_MAX_LINES:
                break
        return size, lines

    def line_count(self) -> int:
        """The lines the names take now."""
        return len(self._packed()[1]) if self._entries else 0

    def point_size(self) -> int:
        """The font size the names are drawn at now."""
        return self._packed()[0]


def glyph_of(style: Qt.PenStyle) -> str:
    """The glyph drawing a pen's style in a legend line."""
    return {Qt.PenStyle.DashLine: "╍", Qt.PenStyle.DotLine: "┈"}.get(style, "━")
