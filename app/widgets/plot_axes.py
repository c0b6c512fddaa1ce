"""Plot axes whose tick labels never run into each other.

pyqtgraph picks its major tick spacing from the axis length alone (at least 2.25
intervals, more as the axis grows) and always draws every major label, however little
room each one has: a 45-pixel left axis drew "0.08", "0.06", "0.04" on top of each other,
and a 180-pixel step axis drew "10", "11", "12" as "101112". `ReadableAxis` chooses the
spacing from the labels' own size instead: the finest 1-2-5 spacing at which two
neighbouring labels keep a gap, never finer than pyqtgraph's own choice unless that
leaves fewer than two labels in view. Only the major ticks carry labels; the minor ones
stay as grid lines.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import pyqtgraph as pg
from PySide6.QtGui import QFontMetricsF

LABEL_GAP_PX = 8.0
"""Free pixels between two neighbouring labels along a horizontal axis."""
LINE_GAP_PX = 4.0
"""Free pixels between two neighbouring labels' rectangles along a vertical axis: with
pyqtgraph's trimmed rectangles (TEXT_HEIGHT) less left "0.08" and "0.06" reading as one
block of digits."""
TEXT_HEIGHT = 0.8
"""pyqtgraph's share of a font's line height that a label takes (AxisItem trims its text
rectangles to it): labels this far apart touch without overlapping."""
END_OVERFLOW = 0.5
"""How far a label on a vertical axis may reach past the axis' ends, in label heights:
half, so a tick at the very top or bottom keeps its label (it reaches into the empty
corners beside the title and the step axis). pyqtgraph drops every label that does not
fit inside the axis, which left a 40-pixel plot with one label or none."""
NICE_MANTISSAS = (1.0, 2.0, 5.0)


def nice_spacings(least: float) -> Iterator[float]:
    """The 1-2-5 spacings (…, 0.5, 1, 2, 5, 10, …) from the first at least `least` up."""
    exponent = math.floor(math.log10(least)) if least > 0 else -12
    while True:
        for mantissa in NICE_MANTISSAS:
            spacing = mantissa * 10.0**exponent
            if spacing >= least * (1 - 1e-9):
                yield spacing
        exponent += 1


def ticks_at(spacing: float, low: float, high: float) -> list[float]:
    """The multiples of `spacing` in [low, high], rounded so that 0.1 * 3 prints as 0.3."""
    first = math.ceil(low / spacing - 1e-9)
    last = math.floor(high / spacing + 1e-9)
    digits = max(0, -math.floor(math.log10(spacing)) + 1)
    return [round(i * spacing, digits) for i in range(first, last + 1)]


def readable_spacing(
    low: float,
    high: float,
    length_px: float,
    label_extent: Callable[[float], float],
    default: float,
    whole: bool = False,
    overflow: float = 0.0,
) -> float:
    """The major tick spacing of an axis showing [low, high] over `length_px` pixels.

    `label_extent(spacing)`: the room one label takes along the axis (its height on a
    vertical axis, its widest string's width plus a gap on a horizontal one) when ticks
    are `spacing` apart. `default`: pyqtgraph's own spacing, the densest wanted. `whole`:
    an axis of counts (steps), spacing at least 1. `overflow`: how many pixels a label may
    reach past the axis' ends (a label reaching further is not drawn)."""
    span = high - low
    px_per_unit = length_px / span
    finest_legible = None  # the finest spacing whose labels do not overlap
    finest_pair = None  # the finest of those showing two labels or more
    least = max(span * 8 / max(length_px, 1.0), 1.0 if whole else 0.0)
    for spacing in nice_spacings(least):
        if spacing > span:
            break  # one tick at most from here on
        extent = label_extent(spacing)
        if spacing * px_per_unit < extent:
            continue  # neighbours would overlap
        finest_legible = finest_legible or spacing
        margin = max(extent / 2 - overflow, 0.0) / px_per_unit
        if len(ticks_at(spacing, low + margin, high - margin)) >= 2:
            if spacing >= default * (1 - 1e-9):
                return spacing
            finest_pair = finest_pair or spacing
    # pyqtgraph's density leaves fewer than two labels: the finest legible pair, or one.
    return finest_pair or finest_legible or max(default, 1.0 if whole else 0.0)


def minor_spacing(major: float, whole: bool) -> float | None:
    """Grid lines between the labelled ticks: a fifth of a 1 or 5 spacing, half of a 2
    (none finer than 1 on a count axis)."""
    mantissa = round(major / 10.0 ** math.floor(math.log10(major)))
    minor = major / (2 if mantissa == 2 else 5)
    if whole and minor < 1:
        return None
    return minor


class ReadableAxis(pg.AxisItem):
    """An AxisItem that spaces its ticks by its labels' size (see the module's text):
    short plots get fewer labels, never overlapping ones. `whole=True`: an axis of counts
    (steps, epochs), no "0.5" tick while a run is short."""

    def __init__(self, orientation: str, whole: bool = False, **kwargs) -> None:
        super().__init__(orientation, **kwargs)
        self.whole = whole
        self.setStyle(maxTextLevel=0)  # labels on the major ticks only

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph's names)
        low, high = sorted((float(minVal), float(maxVal)))
        if not (high > low and size > 0 and math.isfinite(high - low)):
            return super().tickValues(minVal, maxVal, size)
        default = self._default_spacing(low, high, size)

        def extent(spacing: float) -> float:
            return self._label_extent(spacing, low, high)

        # An extent holds the gap to the next label too: half of it is no part of the label.
        gap = LINE_GAP_PX if self.orientation in ("left", "right") else LABEL_GAP_PX
        overflow = self._overflow_px() + gap / 2
        major = readable_spacing(low, high, size, extent, default, self.whole, overflow)
        levels = [(major, ticks_at(major, low, high))]
        minor = minor_spacing(major, self.whole)
        if minor is not None and minor * size / (high - low) >= 4:
            levels.append((minor, ticks_at(minor, low, high)))
        return levels

    def boundingRect(self):  # noqa: N802 (Qt's name)
        """Room for the labels of ticks at the axis' ends (END_OVERFLOW); pyqtgraph draws
        only the labels inside this rectangle."""
        rect = super().boundingRect()
        overflow = self._overflow_px()
        return rect.adjusted(0, -overflow, 0, overflow) if overflow else rect

    def _overflow_px(self) -> float:
        if self.orientation not in ("left", "right"):
            return 0.0
        return END_OVERFLOW * TEXT_HEIGHT * self._metrics().height()

    def _metrics(self) -> QFontMetricsF:
        return QFontMetricsF(self.style["tickFont"] or self.font())

    def _default_spacing(self, low: float, high: float, size: float) -> float:
        levels = super().tickSpacing(low, high, size)
        spacing = float(levels[0][0]) if levels else high - low
        return max(spacing, 1.0) if self.whole else spacing

    def _label_extent(self, spacing: float, low: float, high: float) -> float:
        """How much of the axis' length one label takes when ticks are `spacing` apart."""
        metrics = self._metrics()
        if self.orientation in ("left", "right"):
            return TEXT_HEIGHT * metrics.height() + LINE_GAP_PX
        values = ticks_at(spacing, low, high) or [low, high]
        strings = self.tickStrings(values, self.autoSIPrefixScale * self.scale, spacing)
        return max(metrics.horizontalAdvance(s) for s in strings) + LABEL_GAP_PX
