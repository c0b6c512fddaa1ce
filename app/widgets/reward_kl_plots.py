"""The on-policy dashboard's two richest plots: the reward (std band, EMA, held-out
points, watched rewards) and the KL (its target line, its coefficient on a second axis,
the estimator named). Built on MetricPlot (app/widgets/plots.py)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from app.widgets.lazy_menu import LazyMenuViewBox
from app.widgets.plot_legend import LegendEntry, LegendRow
from app.widgets.plots import SERIES_COLOURS, GrowingBuffer, MetricPlot, Series, grown_range

KL_ESTIMATOR_TIPS = {
    "k1": "KL to the reference, nats per response, summed from k1 = log p - log p_ref per "
    "token: unbiased, but single tokens are negative, so early in a run the curve can dip "
    "below 0. That is noise, not a bug.",
    "k2": "KL to the reference, nats per response, summed from k2 = (log p - log p_ref)^2 / 2 "
    "per token: never negative, low variance, slightly biased.",
    "k3": "KL to the reference, nats per response, summed from k3 = r - 1 - log r "
    "(r = p_ref / p) per token: unbiased and never negative.",
}
"""What the KL plot's curve is, by the run's estimator (its tooltip)."""


class RewardPlot(MetricPlot):
    """Mean reward with a ±1 std band, an optional EMA-smoothed curve, for runs with
    held-out prompts the policy's and the reference's held-out reward on evaluated steps,
    and each watched reward (`watch/<name>`: scored, never trained on) dashed beside it."""

    def __init__(
        self, parent: QWidget | None = None, ema_alpha: float = 0.3, auto_redraw: bool = True
    ) -> None:
        super().__init__("Reward", [Series("reward/mean", "mean")], "reward", parent, auto_redraw)
        self._std = GrowingBuffer()
        self._ema = GrowingBuffer()
        self._ema_alpha = ema_alpha
        # The band's edges go straight into the view box (not PlotItem.addItem), so they are
        # no data items and the mean stays the first one; they are invisible but count for
        # auto-range, while the fill between them is left out of it.
        view = self.getViewBox()
        self._upper = pg.PlotCurveItem(pen=pg.mkPen(None))
        self._lower = pg.PlotCurveItem(pen=pg.mkPen(None))
        band_colour = pg.mkColor(SERIES_COLOURS[0])
        band_colour.setAlpha(50)
        self._band = pg.FillBetweenItem(self._upper, self._lower, brush=pg.mkBrush(band_colour))
        view.addItem(self._upper)
        view.addItem(self._lower)
        view.addItem(self._band, ignoreBounds=True)
        self._ema_curve = self.plot(pen=pg.mkPen(SERIES_COLOURS[1], width=2), name="EMA")
        self._ema_curve.setVisible(False)
        held_out = pg.mkColor(SERIES_COLOURS[2])
        self._eval_steps, self._eval_values = GrowingBuffer(), GrowingBuffer()
        self._eval_reference = GrowingBuffer()
        self._reference_curve = self.plot(
            pen=pg.mkPen("#9ca3af", width=1.5, style=Qt.PenStyle.DotLine)
        )
        self._eval_curve = self.plot(
            pen=pg.mkPen(held_out, width=2, style=Qt.PenStyle.DashLine),
            symbol="o",
            symbolSize=6,
            symbolPen=pg.mkPen(held_out),
            symbolBrush=pg.mkBrush(held_out),
        )
        self._watched: dict[str, GrowingBuffer] = {}  # watch/<name> -> its values by step
        self._watch_curves: dict[str, pg.PlotDataItem] = {}
        # Under the plot: the mean, and the EMA and held-out curves while they are shown.
        self.legend_row = LegendRow(self)
        self._update_legend()

    def legend_entries(self) -> list[LegendEntry]:
        entries = [LegendEntry(SERIES_COLOURS[0], "training")]
        for index, key in enumerate(self._watched):
            colour = SERIES_COLOURS[(3 + index) % len(SERIES_COLOURS)]
            entries.append(LegendEntry(colour, key, "┅"))
        if self._ema_curve.isVisible():
            entries.append(LegendEntry(SERIES_COLOURS[1], "EMA"))
        if len(self._eval_steps):
            entries.append(LegendEntry(SERIES_COLOURS[2], "held-out", "●"))
            entries.append(LegendEntry("#9ca3af", "reference", "┈"))
        return entries

    def set_smoothing(self, enabled: bool) -> None:
        """Show or hide the EMA curve."""
        self._ema_curve.setVisible(enabled)
        self._update_legend()

    def smoothing(self) -> bool:
        return self._ema_curve.isVisible()

    def _on_appended(self, step: float, values: Mapping[str, float]) -> None:
        held_out = values.get("eval/reward/mean")
        if held_out is not None and math.isfinite(held_out):
            self._eval_steps.append(float(step))
            self._eval_values.append(float(held_out))
            self._eval_reference.append(float(values.get("eval/reference_reward/mean", math.nan)))
        mean = values.get("reward/mean")
        std = values.get("reward/std")
        self._std.append(float(std) if std is not None else 0.0)
        self._append_watched(values, len(self._std))
        previous = self._ema.last()
        if mean is None or not math.isfinite(mean):
            self._ema.append(previous)
        elif math.isnan(previous):
            self._ema.append(float(mean))
        else:
            self._ema.append(self._ema_alpha * float(mean) + (1 - self._ema_alpha) * previous)

    def _append_watched(self, values: Mapping[str, float], steps: int) -> None:
        """Each watched reward's value of this step (NaN where a step lacks it); a new one
        gets its dashed curve, its earlier steps NaN."""
        for key in [k for k in values if k.startswith("watch/")]:
            if key not in self._watched:
                buffer = GrowingBuffer()
                for _ in range(steps - 1):
                    buffer.append(math.nan)
                self._watched[key] = buffer
                colour = SERIES_COLOURS[(3 + len(self._watch_curves)) % len(SERIES_COLOURS)]
                pen = pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine)
                self._watch_curves[key] = self.plot(pen=pen)
        for key, buffer in self._watched.items():
            value = values.get(key)
            buffer.append(float(value) if value is not None else math.nan)

    def watched_keys(self) -> list[str]:
        """The watched rewards drawn (`watch/<name>`)."""
        return list(self._watched)

    def _on_cleared(self) -> None:
        self._std.clear()
        self._ema.clear()
        self._eval_steps.clear()
        self._eval_values.clear()
        self._eval_reference.clear()
        for curve in self._watch_curves.values():
            self.removeItem(curve)  # a plot item, not a Qt layout: removed from the scene
        self._watched.clear()
        self._watch_curves.clear()
        self._update_legend()

    def _on_refresh(self, steps: np.ndarray) -> None:
        mean = self._values["reward/mean"].view()
        std = np.nan_to_num(self._std.view())
        self._upper.setData(steps, mean + std)
        self._lower.setData(steps, mean - std)
        self._ema_curve.setData(steps, self._ema.view().copy(), connect="finite")
        eval_steps = self._eval_steps.view().copy()
        self._eval_curve.setData(eval_steps, self._eval_values.view().copy())
        self._reference_curve.setData(eval_steps, self._eval_reference.view().copy())
        for key, buffer in self._watched.items():
            self._watch_curves[key].setData(steps, buffer.view().copy(), connect="finite")
        self._update_legend()

    def held_out_points(self) -> int:
        """Held-out evaluations shown."""
        return len(self._eval_steps)

    def _extra_y_values(self) -> list[np.ndarray]:
        mean = self._values["reward/mean"].view()
        std = np.nan_to_num(self._std.view())
        watched = [buffer.view() for buffer in self._watched.values()]
        return [
            mean + std,
            mean - std,
            self._eval_values.view(),
            self._eval_reference.view(),
            *watched,
        ]


class KLPlot(MetricPlot):
    """KL to the reference with the controller's target line; the KL coefficient on a
    second axis at the right."""

    def __init__(self, parent: QWidget | None = None, auto_redraw: bool = True) -> None:
        super().__init__("KL", [Series("objective/kl", "KL")], "nats", parent, auto_redraw)
        self._target_line = pg.InfiniteLine(
            angle=0,
            movable=False,
            pen=pg.mkPen(SERIES_COLOURS[3], width=1, style=Qt.PenStyle.DashLine),
        )  # named in the legend row: a label on the line clipped at the top of the range
        self._target_line.setVisible(False)
        self.getViewBox().addItem(self._target_line, ignoreBounds=True)
        self._coef = GrowingBuffer()
        self._coef_range: tuple[float, float] | None = None
        # The coefficient lives in its own view box (own y scale), linked on x.
        self._coef_view = LazyMenuViewBox()
        plot_item = self.getPlotItem()
        plot_item.showAxis("right")
        plot_item.scene().addItem(self._coef_view)
        plot_item.getAxis("right").linkToView(self._coef_view)
        # The right axis is named in the legend row: a rotated axis label of its own
        # needs width a narrow plot does not have.
        plot_item.getAxis("right").setWidth(52)
        plot_item.getAxis("right").enableAutoSIPrefix(False)
        self._coef_view.setXLink(plot_item)
        self._coef_view.disableAutoRange()
        self._coef_curve = pg.PlotCurveItem(pen=pg.mkPen(SERIES_COLOURS[4], width=1.5))
        self._coef_view.addItem(self._coef_curve)
        plot_item.vb.sigResized.connect(self._on_resized)
        self._estimator = "k1"
        self.legend_row = LegendRow(self)
        self._update_legend()

    def set_estimator(self, estimator: str) -> None:
        """Name the per-token KL estimator the curve sums (k1 can dip below 0; k2, k3 not)."""
        self._estimator = estimator
        self.setToolTip(KL_ESTIMATOR_TIPS.get(estimator, ""))
        self._update_legend()

    def legend_entries(self) -> list[LegendEntry]:
        entries = [
            LegendEntry(SERIES_COLOURS[0], f"KL ({self._estimator})"),
            LegendEntry(SERIES_COLOURS[4], "coef (right)"),
        ]
        if self._target_line.isVisible():
            entries.append(LegendEntry(SERIES_COLOURS[3], "target", "╍"))
        return entries

    def set_target(self, target: float | None) -> None:
        """Draw the target KL line, or hide it (fixed-coefficient runs)."""
        if target is not None:
            self._target_line.setValue(float(target))
        self._target_line.setVisible(target is not None)
        self._update_legend()

    def target(self) -> float | None:
        return float(self._target_line.value()) if self._target_line.isVisible() else None

    def _extra_y_values(self) -> list[np.ndarray]:
        target = self.target()
        return [np.array([0.0, target])] if target is not None else [np.array([0.0])]

    def _on_resized(self) -> None:
        self._coef_view.setGeometry(self.getPlotItem().vb.sceneBoundingRect())

    def _on_appended(self, step: float, values: Mapping[str, float]) -> None:
        coef = values.get("objective/kl_coef")
        self._coef.append(float(coef) if coef is not None else math.nan)

    def _on_cleared(self) -> None:
        self._coef.clear()
        self._coef_range = None

    def _on_refresh(self, steps: np.ndarray) -> None:
        coef = self._coef.view().copy()
        self._coef_curve.setData(steps, coef, connect="finite")
        finite = coef[np.isfinite(coef)]
        if finite.size:
            new = grown_range(self._coef_range, 0.0, float(finite.max()))
            if new is not None:
                self._coef_range = new
                self._coef_view.setYRange(*new, padding=0)
