"""The objective's terms on the on-policy dashboard: the reward's components stacked, the
score beside the KL price -beta*KL, and a second quantity on a right-hand axis (clip
fraction vs approx KL).

Built like the other live plots (app/widgets/plots.py): curves made once (a component's
when it first appears), values appended to GrowingBuffers, redrawn by the dashboard's
tick, legends under the plot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from app.widgets.lazy_menu import LazyMenuViewBox
from app.widgets.plot_legend import LegendEntry, LegendRow
from app.widgets.plots import SERIES_COLOURS, GrowingBuffer, MetricPlot, Series, grown_range

COMPONENT_PREFIX = "reward/"
NOT_COMPONENTS = ("reward/mean", "reward/std")
"""`reward/` keys every step logs that are no component of a weighted sum."""
NON_SCORE_KEY = "objective/non_score_reward"


def component_keys(values: Mapping[str, float]) -> list[str]:
    """The `reward/<component>` keys of one step (a weighted-sum reward's terms)."""
    return [k for k in values if k.startswith(COMPONENT_PREFIX) and k not in NOT_COMPONENTS]


def with_kl_price(values: Mapping[str, float]) -> Mapping[str, float]:
    """`values` with `objective/non_score_reward` = -beta*KL where the trainer does not
    log it (GRPO/RLOO log `objective/kl` and its coefficient beta instead)."""
    if NON_SCORE_KEY in values:
        return values
    kl, beta = values.get("objective/kl"), values.get("objective/kl_coef")
    if kl is None or beta is None:
        return values
    return {**values, NON_SCORE_KEY: -float(beta) * float(kl)}


class StackedPlot(MetricPlot):
    """The mean of each `reward/<component>` key, stacked: band i lies between the sum of
    components 0..i-1 and 0..i, so the width of a band is that term and the top edge their
    sum. A component appears when a step first carries it (earlier steps count 0)."""

    def __init__(self, title: str, parent: QWidget | None = None, auto_redraw: bool = True) -> None:
        super().__init__(title, [], "", parent, auto_redraw)
        self._parts: dict[str, GrowingBuffer] = {}  # reward/<component> -> means by step
        self._tops: dict[str, pg.PlotCurveItem] = {}  # each band's upper edge
        self._fills: list[pg.FillBetweenItem] = []
        # The first band's lower edge: zero, in the view box (no data item of the plot).
        self._base = pg.PlotCurveItem(pen=pg.mkPen(None))
        self.getViewBox().addItem(self._base)
        self._stack = np.zeros((0, 0))  # (components, steps), refreshed with the curves
        self.legend_row = LegendRow(self)
        self._update_legend()

    def series_keys(self) -> list[str]:
        return list(self._parts)

    def has_data(self) -> bool:
        """Whether some step carried a component (else the plot has nothing to show)."""
        return bool(self._parts)

    def legend_entries(self) -> list[LegendEntry]:
        return [
            LegendEntry(self._colour(i), key.removeprefix(COMPONENT_PREFIX), "█")
            for i, key in enumerate(self._parts)
        ]

    @staticmethod
    def _colour(index: int) -> str:
        return SERIES_COLOURS[index % len(SERIES_COLOURS)]

    def _on_appended(self, step: float, values: Mapping[str, float]) -> None:
        steps = len(self._steps)
        for key in component_keys(values):
            if key not in self._parts:
                self._add_component(key, steps)
        for key, buffer in self._parts.items():
            value = values.get(key)
            buffer.append(float(value) if value is not None else math.nan)

    def _add_component(self, key: str, steps: int) -> None:
        buffer = GrowingBuffer()
        for _ in range(steps - 1):  # the steps before it appeared
            buffer.append(math.nan)
        lower = list(self._tops.values())[-1] if self._tops else self._base
        colour = pg.mkColor(self._colour(len(self._parts)))
        # Edges and fills straight into the view box, as RewardPlot's band (PlotCurveItems:
        # a FillBetweenItem over PlotDataItems crashed the interpreter at exit).
        top = pg.PlotCurveItem(pen=pg.mkPen(colour, width=1.5))
        self.getViewBox().addItem(top)
        colour.setAlpha(90)
        fill = pg.FillBetweenItem(lower, top, brush=pg.mkBrush(colour))
        self.getViewBox().addItem(fill, ignoreBounds=True)
        self._parts[key] = buffer
        self._tops[key] = top
        self._fills.append(fill)

    def _on_cleared(self) -> None:
        for item in [*self._fills, *self._tops.values()]:
            self.getViewBox().removeItem(item)  # plot items, not Qt layouts: off the scene
        self._parts.clear()
        self._tops.clear()
        self._fills.clear()
        self._stack = np.zeros((0, 0))
        self._update_legend()

    def _on_refresh(self, steps: np.ndarray) -> None:
        # A step without a component stacks it as 0: the bands stay closed shapes.
        parts = [np.nan_to_num(buffer.view()) for buffer in self._parts.values()]
        self._stack = np.cumsum(parts, axis=0) if parts else np.zeros((0, len(steps)))
        self._base.setData(steps, np.zeros(len(steps)))
        for curve, top in zip(self._tops.values(), self._stack, strict=True):
            curve.setData(steps, top.copy())
        self._update_legend()

    def stack(self) -> np.ndarray:
        """(components, steps): the bands' upper edges as drawn at the last refresh."""
        return self._stack

    def _extra_y_values(self) -> list[np.ndarray]:
        return [np.array([0.0]), *self._stack]


class ObjectivePlot(MetricPlot):
    """The score part of the objective and its KL part -beta*KL, step by step: the score
    is what the policy gains, -beta*KL what moving away from the reference costs."""

    def append(self, step: float, values: Mapping[str, float]) -> None:
        super().append(step, with_kl_price(values))


class TwinAxisPlot(MetricPlot):
    """A first series on the left axis and a second on its own right-hand axis (its own
    scale: approx KL is often a hundred times smaller than the clip fraction)."""

    def __init__(
        self,
        title: str,
        left: Series,
        right: Series,
        parent: QWidget | None = None,
        auto_redraw: bool = True,
    ) -> None:
        super().__init__(title, [left], "", parent, auto_redraw)
        self._right = right
        self._right_values = GrowingBuffer()
        self._right_range: tuple[float, float] | None = None
        # The second series lives in its own view box, linked on x (as KLPlot's coefficient).
        self._right_view = LazyMenuViewBox()
        item = self.getPlotItem()
        item.showAxis("right")
        item.scene().addItem(self._right_view)
        axis = item.getAxis("right")
        axis.linkToView(self._right_view)
        axis.setWidth(52)
        axis.enableAutoSIPrefix(False)
        self._right_view.setXLink(item)
        self._right_view.disableAutoRange()
        self._right_curve = pg.PlotCurveItem(pen=pg.mkPen(SERIES_COLOURS[4], width=1.5))
        self._right_view.addItem(self._right_curve)
        item.vb.sigResized.connect(self._on_resized)
        self.legend_row = LegendRow(self)
        self._update_legend()

    def series_keys(self) -> list[str]:
        return [*self._values, self._right.key]

    def legend_entries(self) -> list[LegendEntry]:
        return [*super().legend_entries(), LegendEntry(SERIES_COLOURS[4], self._right.label)]

    def right_values(self) -> np.ndarray:
        return self._right_values.view().copy()

    def _on_resized(self) -> None:
        self._right_view.setGeometry(self.getPlotItem().vb.sceneBoundingRect())

    def _on_appended(self, step: float, values: Mapping[str, float]) -> None:
        value = values.get(self._right.key)
        self._right_values.append(float(value) if value is not None else math.nan)

    def _on_cleared(self) -> None:
        self._right_values.clear()
        self._right_range = None

    def _on_refresh(self, steps: np.ndarray) -> None:
        values = self._right_values.view().copy()
        self._right_curve.setData(steps, values, connect="finite")
        finite = values[np.isfinite(values)]
        if finite.size:
            new = grown_range(self._right_range, min(0.0, float(finite.min())), float(finite.max()))
            if new is not None:
                self._right_range = new
                self._right_view.setYRange(*new, padding=0)


def series_of(pairs: Sequence[tuple[str, str]]) -> list[Series]:
    return [Series(key, label) for key, label in pairs]
