"""Live metric plots for the training dashboard and the runs overlay.

Following the pyqtgraph examples: curves are created once, values are appended to
growable numpy buffers, and `setData` runs from a single-shot timer at most ~10 times a
second however fast steps arrive, with clip-to-view and peak downsampling on so long
runs stay cheap to draw. Series are named by the trainer's metric keys
(core/ppo/metrics.py), so a step's metrics go to `append` as they come.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QGraphicsItem, QWidget

from app.widgets.plot_axes import ReadableAxis
from app.widgets.plot_legend import LegendEntry, LegendRow, glyph_of

REDRAW_INTERVAL_MS = 100
"""Redraws are coalesced to at most one per interval (~10 Hz)."""

X_PADDING = 0.05
"""Room past the last step (a share of the run's length): a dot drawn there stays whole."""
MIN_PLOT_HEIGHT = 110
"""A plot's least height: with its x-axis title folded (SHORT_PLOT_PX) and its legend on
one line, 110 px leave the data about 55 px, and a 1280x800 window shows the PPO
dashboard's four rows without scrolling."""
SHORT_PLOT_PX = 200
"""Below this height a plot drops its x-axis title: in a dashboard of 130-pixel plots
(1280x800) the title's line was a sixth of the data's height."""
LEGEND_MARGIN_PX = 16
"""The plot's own margins, left out of its legend's line width."""


def legend_width(width: float, left_axis: float, right_axis: float) -> float:
    """How wide a legend line may be in a plot `width` wide: the legend is centred under
    the data (between the axes) and may reach under the axes, as far on both sides, but
    not past the plot's edges."""
    centre = left_axis + (width - left_axis - right_axis) / 2
    return 2 * min(centre, width - centre) - LEGEND_MARGIN_PX


def _side_axes(item) -> tuple[float, float]:
    """The widths of a PlotItem's left and right axes (0 for a hidden one)."""
    return _axis_width(item, "left"), _axis_width(item, "right")


def _axis_width(item, name: str) -> float:
    axis = item.getAxis(name)
    return axis.width() if axis.isVisible() else 0.0


SERIES_COLOURS = ("#3b82f6", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899")
"""Colours readable on both the light and the dark plot background."""


def grown_range(
    current: tuple[float, float] | None, low: float, high: float, margin: float = 0.15
) -> tuple[float, float] | None:
    """A range holding [low, high]: None (keep `current`) while the data stays inside it,
    else a new one with a margin. Axes only re-render their labels when the range changes
    (the costly part of a redraw), so live plots grow their range in jumps, never shrink."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    if current is not None and current[0] <= low and high <= current[1]:
        return None
    span = max(high - low, abs(high) * 0.1, abs(low) * 0.1, 1e-3)
    return (low - margin * span, high + margin * span)


def _pen_colour(curve) -> str:
    return curve.opts["pen"].color().name()


def cache_decorations(plot: pg.PlotWidget) -> None:
    """Paint axes and title from pixmap caches: their text is most of a plot's paint cost,
    and they only change when the range does (then pyqtgraph invalidates the cache)."""
    item = plot.getPlotItem()
    for name in ("left", "bottom", "right", "top"):
        item.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    item.titleLabel.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


class GrowingBuffer:
    """A float64 array that doubles its capacity when full (amortised O(1) append)."""

    def __init__(self, capacity: int = 64) -> None:
        self._data = np.full(capacity, np.nan)
        self._size = 0

    def append(self, value: float) -> None:
        if self._size == self._data.shape[0]:
            grown = np.full(self._data.shape[0] * 2, np.nan)
            grown[: self._size] = self._data
            self._data = grown
        self._data[self._size] = value
        self._size += 1

    def view(self) -> np.ndarray:
        """The filled part (a view: copy before keeping it)."""
        return self._data[: self._size]

    def last(self) -> float:
        return float(self._data[self._size - 1]) if self._size else math.nan

    def clear(self) -> None:
        self._size = 0

    def __len__(self) -> int:
        return self._size


@dataclass(frozen=True)
class Series:
    """One curve of a MetricPlot: the metric key it shows and its legend label."""

    key: str
    label: str


class CountAxis(ReadableAxis):
    """An axis of whole numbers (steps, epochs): no "0.5" ticks while a run is short, and
    no "101112" where the plot is too narrow for a label per step."""

    def __init__(self, orientation: str, **kwargs) -> None:
        super().__init__(orientation, whole=True, **kwargs)


def readable_axes() -> dict[str, pg.AxisItem]:
    """A plot's axes: steps at the bottom, values left and right (app/widgets/plot_axes.py:
    labels spaced by their size, so a short plot shows fewer, never overlapping)."""
    return {
        "bottom": CountAxis("bottom"),
        "left": ReadableAxis("left"),
        "right": ReadableAxis("right"),
    }


class MetricPlot(pg.PlotWidget):
    """A live line plot of one or more metrics against the training step.

    `append(step, values)` only fills buffers; the curves are redrawn by a timer, so a
    burst of steps costs one redraw. The first series' curve is the plot's first data
    item, holding one point per appended step.
    """

    def __init__(
        self,
        title: str,
        series: Sequence[Series],
        y_label: str = "",
        parent: QWidget | None = None,
        auto_redraw: bool = True,
    ) -> None:
        # No context menu (pyqtgraph's would change log modes and ranges the live plot
        # manages); made without one, since pyqtgraph builds a menu that is enabled.
        super().__init__(parent=parent, axisItems=readable_axes(), enableMenu=False)
        self.hideAxis("right")  # shown by the plots with a second scale
        self.auto_redraw = auto_redraw
        """False: `append` only marks the plot dirty and an owner (the dashboard) redraws
        its plots one at a time, so no single GUI event has to repaint them all."""
        self.dirty = False
        self.setTitle(title, size="10pt")
        self.setLabel("bottom", "step")
        if y_label:
            self.setLabel("left", y_label)
        self.showGrid(x=True, y=True, alpha=0.2)
        self.setClipToView(True)
        self.setDownsampling(auto=True, mode="peak")
        self.setMinimumHeight(MIN_PLOT_HEIGHT)
        self.setMinimumWidth(150)  # the grid (app/widgets/plot_grid.py) wraps before this
        # A fixed axis width: tick labels changing width would re-layout the whole plot
        # on every step, the most expensive part of a redraw.
        self.getAxis("left").setWidth(52)
        # Metrics are plain numbers: "0.5", not "500 (x0.001)".
        self.getAxis("left").enableAutoSIPrefix(False)
        cache_decorations(self)
        self._series = list(series)
        self._steps = GrowingBuffer()
        self._values = {s.key: GrowingBuffer() for s in self._series}
        self._curves = {
            s.key: self.plot(
                pen=pg.mkPen(SERIES_COLOURS[i % len(SERIES_COLOURS)], width=2), name=s.label
            )
            for i, s in enumerate(self._series)
        }
        # A legend where there is more than one curve to tell apart; under the plot.
        self.legend_row = LegendRow(self) if len(series) > 1 else None
        self._update_legend()
        # Live ranges: x from 0 to the run's length (doubling if exceeded), y grown in
        # jumps (see grown_range); pyqtgraph's auto-range would re-render axes every step.
        self.disableAutoRange()
        self._x_extent = 10.0
        self._x_pending = False
        self._y_range: tuple[float, float] | None = None
        self.setXRange(0, self._x_extent, padding=X_PADDING)
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_INTERVAL_MS)
        self._redraw_timer.timeout.connect(self.refresh)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._fit_to_size()

    def _fit_to_size(self) -> None:
        """A short plot of steps drops its x-axis title (the dashboard's header says the
        step; the line goes to the data; epochs and rounds keep theirs), and its legend's
        lines take the plot's width (`legend_width`)."""
        item = self.getPlotItem()
        if item is None:  # a resize while pyqtgraph's __init__ runs
            return
        bottom = item.getAxis("bottom")
        if bottom.labelText == "step":
            show = self.height() >= SHORT_PLOT_PX
            if bottom.label.isVisible() != show:
                bottom.showLabel(show)
        legend = getattr(self, "legend_row", None)  # None too while __init__ runs
        if legend is not None:
            legend.fit_width(legend_width(self.width(), *_side_axes(item)))

    def series_keys(self) -> list[str]:
        """The metric keys this plot draws (subclasses add theirs)."""
        return list(self._values)

    def legend_entries(self) -> list[LegendEntry]:
        """The curves the legend names now (subclasses add theirs)."""
        return [
            LegendEntry(_pen_colour(self._curves[s.key]), s.label, self._glyph_of(s.key))
            for s in self._series
        ]

    def _glyph_of(self, key: str) -> str:
        curve = self._curves[key]
        return "●" if curve.opts["symbol"] is not None else glyph_of(curve.opts["pen"].style())

    def _update_legend(self) -> None:
        if self.legend_row is not None:
            self.legend_row.set_entries(self.legend_entries())

    def set_text_colour(self, colour: str) -> None:
        """The theme's text colour for the legend (axes and title: app/theme.py)."""
        if self.legend_row is not None:
            self.legend_row.set_foreground(colour)

    def hide_legend(self) -> None:
        """No legend row (a plot whose title names its curves)."""
        if self.legend_row is not None:
            self.legend_row.set_entries([])
            self.legend_row.label_item().setVisible(False)

    def mark_points(self, key: str, size: int = 6) -> None:
        """Draw `key`'s values as dots too: a metric reported every few steps (held-out
        figures) or once per round has gaps a line alone would not show."""
        curve = self._curves[key]
        colour = curve.opts["pen"].color()
        curve.setSymbol("o")
        curve.setSymbolSize(size)
        curve.setSymbolBrush(colour)
        curve.setSymbolPen(colour)
        self._update_legend()

    # data in
    def append(self, step: float, values: Mapping[str, float]) -> None:
        """Record one step; missing or non-finite values leave a gap in that curve."""
        self._steps.append(float(step))
        for key, buffer in self._values.items():
            value = values.get(key)
            buffer.append(float(value) if value is not None else math.nan)
        self._on_appended(step, values)
        self.schedule_redraw()

    def set_history(self, rows: Iterable[Mapping[str, float]]) -> None:
        """Replace the data with whole rows (each with a "step"), redrawn at once."""
        self.clear_data()
        for row in rows:
            self.append(row.get("step", len(self._steps)), row)
        self.refresh()

    def clear_data(self) -> None:
        self._steps.clear()
        for buffer in self._values.values():
            buffer.clear()
        self._on_cleared()
        self._y_range = None
        self.schedule_redraw()

    def point_count(self) -> int:
        return len(self._steps)

    # drawing
    def schedule_redraw(self) -> None:
        self.dirty = True
        if self.auto_redraw and not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def refresh(self) -> None:
        """Push the buffers into the curves (copies: the buffers keep growing)."""
        self._redraw_timer.stop()
        self.dirty = False
        steps = self._steps.view().copy()
        for key, curve in self._curves.items():
            values = self._values[key].view().copy()
            if curve.opts["symbol"] is not None and not np.isfinite(values).any():
                # No dot to draw yet (a held-out figure before its first evaluation): dots
                # over an all-NaN series make pyqtgraph warn "All-NaN slice" on every paint.
                curve.setData(np.empty(0), np.empty(0))
                continue
            # connect="finite" draws gaps for NaN instead of dropping the whole curve.
            curve.setData(steps, values, connect="finite")
        self._on_refresh(steps)
        self._update_ranges(steps)

    def set_x_extent(self, steps: int) -> None:
        """Show steps 0..`steps` (the run's length) without re-ranging on every step.

        Applied at the next redraw, so a dashboard's plots re-range one at a time.
        """
        self._x_extent = float(max(steps, 1))
        self._x_pending = True
        self.schedule_redraw()

    def _update_ranges(self, steps: np.ndarray) -> None:
        if len(steps) and steps[-1] > self._x_extent:
            while steps[-1] > self._x_extent:
                self._x_extent *= 2
            self._x_pending = True
        if self._x_pending:
            self._x_pending = False
            self.setXRange(0, self._x_extent, padding=X_PADDING)
        values = [buffer.view() for buffer in self._values.values()]
        values += self._extra_y_values()
        finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
        if finite.size:
            new = grown_range(self._y_range, float(finite.min()), float(finite.max()))
            if new is not None:
                self._y_range = new
                self.setYRange(*new, padding=0)

    # hooks for subclasses
    def _on_appended(self, step: float, values: Mapping[str, float]) -> None:
        pass

    def _on_cleared(self) -> None:
        pass

    def _on_refresh(self, steps: np.ndarray) -> None:
        pass

    def _extra_y_values(self) -> list[np.ndarray]:
        """Values besides the series that must stay in view (a band, a target line)."""
        return []


class OverlayPlot(pg.PlotWidget):
    """Several runs' curves of one metric on one plot (the Runs page); with no curve to
    draw, a hint in its place instead of empty axes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent, axisItems=readable_axes(), enableMenu=False)
        self.hideAxis("right")
        self.showGrid(x=True, y=True, alpha=0.2)
        self.setLabel("bottom", "step")
        self.setClipToView(True)
        self.setDownsampling(auto=True, mode="peak")
        self.getAxis("left").enableAutoSIPrefix(False)
        cache_decorations(self)
        self.legend_row = LegendRow(self)
        self._hint = pg.TextItem(anchor=(0.5, 0.5))
        self.getViewBox().addItem(self._hint, ignoreBounds=True)
        self.show_hint("Select one or more runs above to see their curves.")

    def show_runs(self, metric: str, curves: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """Replace the plot with one curve per run: {legend label: (steps, values)}."""
        for item in self.getPlotItem().listDataItems():
            self.removeItem(item)
        self.setTitle(metric, size="10pt")
        # Range first: with clip-to-view on, curves added over the hint's 0..1 range would
        # keep only their points inside it.
        self._hint.setVisible(False)
        self.getAxis("left").setStyle(showValues=True)
        self.getAxis("bottom").setStyle(showValues=True)
        self.enableAutoRange()
        entries = []
        for i, (label, (steps, values)) in enumerate(curves.items()):
            colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
            pen = pg.mkPen(colour, width=2)
            # A lone point is no line: dots make one-step runs visible.
            dots = {"symbol": "o", "symbolSize": 5, "symbolBrush": colour, "symbolPen": colour}
            self.plot(steps, values, pen=pen, name=label, connect="finite", **dots)
            entries.append(LegendEntry(colour, label))
        self.legend_row.set_entries(entries)
        drawn = any(np.isfinite(values).any() for _steps, values in curves.values())
        if not curves:
            self.show_hint("Select one or more runs above to see their curves.")
        elif not drawn:
            self.show_hint(f"The selected runs do not report {metric}.\nChoose another metric.")

    def show_hint(self, text: str) -> None:
        """A message in the middle of the empty plot, with no tick values around it."""
        self._hint.setText(text, color=self.legend_row.foreground())
        self._hint.setVisible(True)
        self.getAxis("left").setStyle(showValues=False)
        self.getAxis("bottom").setStyle(showValues=False)
        self.disableAutoRange()
        self.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
        self._hint.setPos(0.5, 0.5)

    def hint_text(self) -> str:
        """The hint shown ("" when curves are drawn)."""
        return self._hint.toPlainText() if self._hint.isVisible() else ""

    def set_text_colour(self, colour: str) -> None:
        """The theme's text colour for the legend and the hint."""
        self.legend_row.set_foreground(colour)
        self._hint.setColor(colour)
