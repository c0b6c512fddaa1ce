"""A grid of plots that reflows into more rows as it narrows.

The plots stay in one QGridLayout for the widget's whole life: a reflow only moves them
to new cells (removeWidget + addWidget of the same widget) and sets row stretches. No
layout or layout item is ever made or deleted on the way, so nothing can be freed twice
when Python and Qt tear the window down.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtWidgets import QGridLayout, QWidget

GRID_COLUMNS = 60
"""Grid columns: every row of 1 to 6 plots splits them evenly (60 = lcm(1..6))."""
MIN_PLOT_WIDTH = 200
"""A plot narrower than this clips its title or its axes: the grid wraps before."""
MAX_ROWS = 16
"""Row stretches are reset up to here on every reflow (far more rows than plots)."""


def columns_for(width: int, most: int = 6) -> int:
    """How many plots fit side by side in `width` pixels (1 to `most`)."""
    return max(1, min(most, width // MIN_PLOT_WIDTH))


def rows_of(items: Sequence[QWidget], columns: int) -> list[list[QWidget]]:
    """`items` in rows of at most `columns`, as even as possible (4 in 3 columns: 2 + 2,
    not 3 + 1, so no plot is left alone at twice the others' width)."""
    if not items:
        return []
    n_rows = math.ceil(len(items) / columns)
    per_row = math.ceil(len(items) / n_rows)
    return [list(items[i : i + per_row]) for i in range(0, len(items), per_row)]


def place(grid: QGridLayout, groups: Sequence[tuple[Sequence[QWidget], int]], columns: int):
    """Lay out each group of plots (with its row stretch) in rows of at most `columns`,
    group after group; returns the rows used."""
    for row in range(MAX_ROWS):
        grid.setRowStretch(row, 0)
    row = 0
    for plots, stretch in groups:
        for line in rows_of(plots, columns):
            span = GRID_COLUMNS // len(line)
            for index, plot in enumerate(line):
                grid.removeWidget(plot)  # the same widget, moved: nothing is deleted
                grid.addWidget(plot, row, index * span, 1, span)
            grid.setRowStretch(row, stretch)
            row += 1
    return row


def new_grid() -> QGridLayout:
    """An empty plot grid whose columns share the width evenly."""
    grid = QGridLayout()
    grid.setSpacing(4)
    for column in range(GRID_COLUMNS):
        grid.setColumnStretch(column, 1)  # widths by span, not by each plot's size hint
    return grid
