"""The live training dashboard: seven metric plots, the objective's terms (score vs
-beta*KL, the reward's components, PPO's critic fit), the algorithm's own plots (GRPO's
group statistics), a "What am I looking at?" box, health warnings, and the rollout table.

Plots and checks read the trainer's metric keys as they are (core/ppo/metrics.py,
core/grpo/metrics.py); which losses and extra plots an algorithm has comes from its
entry in app/algorithms.py (`configure`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.algorithms import ALGORITHMS, CLIP_TOOLTIP, AlgorithmChoice, PlotSpec
from app.build_in_pieces import PieceByPiece
from app.widgets.common import named
from app.widgets.objective_help import ObjectiveHelp
from app.widgets.objective_plots import ObjectivePlot, StackedPlot, TwinAxisPlot
from app.widgets.plot_grid import MIN_PLOT_WIDTH, columns_for, new_grid, place
from app.widgets.plots import MetricPlot, Series
from app.widgets.reward_kl_plots import KLPlot, RewardPlot
from app.widgets.run_bar import ElidedLabel
from core.algorithms import DEFAULT_KIND
from core.config import PPOConfig
from core.onpolicy.health import HealthMonitor

PlotT = TypeVar("PlotT", bound=MetricPlot)
REDRAW_TICK_MS = 40
"""A dirty plot is redrawn every tick, one at a time (7 plots: all fresh within ~0.3 s)."""


class TrainingDashboard(QWidget):
    """Plots of one run, fed one step at a time by `add_step`."""

    # Made by _build_steps (declared here, where the methods that use them before
    # _build_steps' own text can see their types).
    reward_plot: RewardPlot
    kl_plot: KLPlot
    loss_plot: MetricPlot
    entropy_plot: MetricPlot
    clipfrac_plot: MetricPlot
    length_plot: MetricPlot
    speed_plot: MetricPlot

    def __init__(self, parent: QWidget | None = None, in_pieces: bool = False) -> None:
        """`in_pieces`: make the plots later, one per `build_step` (the window calls it
        once per event-loop turn while it builds its pages: a plot costs 10-40 ms of the
        GUI thread, the lot too long for one turn); every public method finishes first."""
        super().__init__(parent)
        self._grid = new_grid()
        self._main: list[MetricPlot] = []
        self.plots: list[MetricPlot] = []
        self._objective: list[MetricPlot] = []
        self._extras: list[MetricPlot] = []
        self._extra: dict[str, MetricPlot] = {}  # the algorithms' own plots, made when first shown
        self._loss_plots: dict[tuple[tuple[str, str], ...], MetricPlot] = {}
        self.warning_label = named(QLabel(), "warningBanner")
        self.warning_label.setWordWrap(True)
        self.warning_label.setVisible(False)
        # A guardrail that paused the run: which rule, what to try (core.train.guardrails).
        self.guardrail_label = named(QLabel(), "guardrailBanner")
        self.guardrail_label.setWordWrap(True)
        self.guardrail_label.setVisible(False)
        self.ema_check = named(QCheckBox("Smooth"), "emaCheck")
        self.ema_check.setToolTip(
            "Smooth: overlay an exponential moving average (alpha 0.3) of the reward."
        )
        self.ema_check.toggled.connect(self._on_smoothing)
        # Elided (whole in its tooltip): at 1280 wide the step's figures ran under the
        # header's button. Short words ("held-out", "Smooth") keep them whole there; a
        # second line would have cost the plots their last pixels and made them scroll.
        self.step_label = ElidedLabel("No run yet.")
        self.step_label.setObjectName("stepLabel")
        self.help_box = ObjectiveHelp()
        header = QHBoxLayout()
        header.addWidget(self.step_label, 1)
        header.addWidget(self.help_box.toggle_button)
        header.addWidget(self.ema_check)
        self._columns = 0  # plots side by side now (set by the first reflow)
        # An explicit minimum width: the grid's own (its columns' minimums) would stop the
        # dashboard from narrowing to the width at which it reflows into fewer columns.
        self.setMinimumWidth(MIN_PLOT_WIDTH)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.help_box)
        layout.addWidget(self.guardrail_label)
        layout.addWidget(self.warning_label)
        layout.addWidget(self._scrolled(self._grid), 1)
        self._monitor = HealthMonitor.for_config(PPOConfig())
        self._held_out: float | None = None  # the latest held-out reward (evaluated steps)
        # One dirty plot is redrawn per tick: a step's seven redraws land in seven short
        # GUI events instead of one long one (a redraw costs 5-30 ms, more while the
        # training thread competes for the GIL).
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setInterval(REDRAW_TICK_MS)
        self._redraw_timer.timeout.connect(self._on_redraw_tick)
        self._next_plot = 0
        self.choice: AlgorithmChoice | None = None
        self._pieces = PieceByPiece(self._build_steps())
        if not in_pieces:
            self.finish_building()

    # building, in pieces
    def build_step(self) -> bool:
        """Make the next plot; False once the dashboard is whole (nothing was left to do)."""
        return self._pieces.step()

    def finish_building(self) -> None:
        """Make every plot not made yet, now."""
        self._pieces.finish()

    def is_built(self) -> bool:
        return self._pieces.whole

    def _build_steps(self) -> Iterator[None]:
        """The plots, one per step; then PPO's (the default algorithm's) shown."""
        self.reward_plot = self._adopt(RewardPlot(parent=self, auto_redraw=False), "rewardPlot",
            "Mean reward per step (band: ±1 std); held-out reward on evaluated steps")  # fmt: skip
        yield
        self.kl_plot = self._adopt(KLPlot(parent=self, auto_redraw=False), "klPlot",
            "KL to the reference (left axis) and the KL coefficient (right)")  # fmt: skip
        yield
        self.loss_plot = _loss_plot(ALGORITHMS[DEFAULT_KIND], parent=self)
        self._loss_plots[ALGORITHMS[DEFAULT_KIND].losses] = self._adopt(self.loss_plot)
        self._main = [self.reward_plot, self.kl_plot, self.loss_plot]
        self.plots = [*self._main]
        yield
        # Short titles, so none clips in a narrow cell; the tooltips say the rest.
        self.entropy_plot = self._adopt(_plot(
            "entropyPlot", "Entropy", [Series("policy/entropy", "entropy")], "nats/token",
            parent=self,
            tooltip="Mean entropy of the policy's next-token distribution (nats per token)",
        ))  # fmt: skip
        yield
        clipping = (
            Series("policy/clipfrac", "clipfrac"),
            Series("policy/approxkl", "approx KL (right)"),
        )
        self.clipfrac_plot = self._adopt(
            TwinAxisPlot("Clipping", *clipping, parent=self, auto_redraw=False),
            "clipfracPlot", CLIP_TOOLTIP,
        )  # fmt: skip
        yield
        self.length_plot = self._adopt(_plot(
            "lengthPlot", "Length", [Series("response/length", "tokens")], "tokens",
            parent=self, tooltip="Mean response length (tokens)",
        ))  # fmt: skip
        yield
        self.speed_plot = self._adopt(_plot(
            "speedPlot", "Speed", [Series("perf/samples_per_s", "samples/s")], "samples/s",
            parent=self, tooltip="Throughput: samples per second of the step",
        ))  # fmt: skip
        yield
        default = ALGORITHMS[DEFAULT_KIND]
        for spec in (*default.objective_plots, *default.extra_plots):
            self._extra_plot(spec)
            yield
        gauges = (self.entropy_plot, self.clipfrac_plot, self.length_plot, self.speed_plot)
        for plot in (*self._main, *gauges):
            plot.show()  # placed by the reflow in _configure
        self._configure(default)
        # Into the scroll area last: it takes its size hint from the grid's once, and an
        # empty grid's kept the dashboard a sliver of the page (the tables took the rest).
        self._scroll.setWidget(self._content)
        self._scroll.updateGeometry()  # its layout item cached the empty area's hint
        self.updateGeometry()

    def _adopt(self, plot: PlotT, name: str = "", tooltip: str = "") -> PlotT:
        """Put a new plot in the grid, hidden till the first reflow places and shows it
        (added while the dashboard shows, it would pop up in the grid's corner). Every
        plot is made with its parent: a parentless widget shown is a top-level window for
        a moment, which takes the main window's activation and with it the window
        shortcuts (Compare & Rate's rating keys)."""
        if name:
            plot.setObjectName(name)
            plot.setToolTip(tooltip)
        plot.hide()
        self._grid.addWidget(plot, 0, 0)
        return plot

    def _on_smoothing(self, on: bool) -> None:
        self.finish_building()
        self.reward_plot.set_smoothing(on)

    def _scrolled(self, grid) -> QScrollArea:
        """The plot grid in a vertical scroll area: where the window is too short for
        every row at its plots' minimum height (1280x800 with the objective's terms), the
        rows scroll instead of squeezing plots into each other."""
        # A hidden child till the scroll area takes it (parentless, it would be a window).
        self._content = named(QWidget(self), "dashboardPlots")
        self._content.hide()
        self._content.setLayout(grid)
        self._content.setContentsMargins(0, 0, 0, 0)
        grid.setContentsMargins(0, 0, 0, 0)
        self._scroll = named(QScrollArea(), "dashboardScroll")  # given the grid when built
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        return self._scroll

    def configure(self, choice: AlgorithmChoice) -> None:
        """Show the plots of `choice`'s algorithm: its losses only (no value loss without
        a value head), its objective's terms (a critic's fit only where there is a critic)
        and its extra plots (GRPO/RLOO: the group statistics); explain them in its words."""
        self.finish_building()
        self._configure(choice)

    def _configure(self, choice: AlgorithmChoice) -> None:
        if choice == self.choice:
            return
        self.choice = choice
        self.help_box.set_text(choice.help)
        if choice.losses not in self._loss_plots:
            plot = _loss_plot(choice, parent=self)
            self._grid.addWidget(plot, 0, 0)  # placed by the reflow below, hidden till then
            plot.hide()
            self._loss_plots[choice.losses] = plot
        self.loss_plot.hide()
        self.loss_plot = self._loss_plots[choice.losses]
        self.loss_plot.show()
        self._objective = [self._extra_plot(spec) for spec in choice.objective_plots]
        self._extras = [self._extra_plot(spec) for spec in choice.extra_plots]
        self._arrange()

    def _arrange(self) -> None:
        """The plots shown, in order: the three main ones, then the objective's terms that
        have data to show (a stacked plot once a step carried its keys), then the gauges
        and the algorithm's extras; every other plot hidden."""
        objective = [p for p in self._objective if not isinstance(p, StackedPlot) or p.has_data()]
        gauges = [self.clipfrac_plot, self.entropy_plot, self.length_plot, self.speed_plot]
        self.plots = [*self._main[:2], self.loss_plot, *objective, *gauges, *self._extras]
        # By identity: `widget in list` goes through PySide's rich comparison, which
        # leaked a reference to True/False per call (a fatal error at interpreter exit).
        shown = {id(plot) for plot in self.plots}
        for plot in self._extra.values():
            plot.setVisible(id(plot) in shown)
        self._reflow(force=True)

    def _waiting_plots(self) -> list[StackedPlot]:
        """The current algorithm's stacked plots not shown yet (no component seen)."""
        shown = {id(plot) for plot in self.plots}  # by identity, as in _arrange
        return [p for p in self._objective if isinstance(p, StackedPlot) and id(p) not in shown]

    def _reflow(self, force: bool = False) -> None:
        """The three plots read most (reward, KL, losses) first and taller, then the gauges
        (four, or more with an algorithm's extras), in as many rows as the width needs."""
        # Less a scroll bar's width, shown or not: columns that change as the bar comes
        # and goes would reflow back and forth.
        bar = self.style().pixelMetric(self.style().PixelMetric.PM_ScrollBarExtent)
        columns = columns_for(self.width() - bar)
        if columns == self._columns and not force:
            return
        self._columns = columns
        place(self._grid, [(self.plots[:3], 3), (self.plots[3:], 2)], columns)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._reflow()

    def _extra_plot(self, spec: PlotSpec) -> MetricPlot:
        if spec.name not in self._extra:
            series = [Series(key, label) for key, label in spec.series]
            if spec.style == "stacked":
                plot = StackedPlot(spec.title, parent=self, auto_redraw=False)
            elif spec.style == "objective":
                plot = ObjectivePlot(spec.title, series, spec.unit, self, auto_redraw=False)
            else:
                plot = _plot(spec.name, spec.title, series, spec.unit, parent=self)
            plot.setObjectName(spec.name)
            plot.setToolTip(spec.tooltip or spec.title)
            plot.hide()  # shown by _arrange
            self._grid.addWidget(plot, 0, 0)  # placed by the next reflow
            self._extra[spec.name] = plot
        return self._extra[spec.name]

    def _on_redraw_tick(self) -> None:
        if not self.isVisible():
            self._redraw_timer.stop()  # hidden page: showEvent starts it again
            return
        for offset in range(len(self.plots)):
            plot = self.plots[(self._next_plot + offset) % len(self.plots)]
            if plot.dirty:
                plot.refresh()
                self._next_plot = (self._next_plot + offset + 1) % len(self.plots)
                return
        self._redraw_timer.stop()  # all fresh

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)  # shown half-made: its plots show once all are made
        self._redraw_timer.start()

    def reset(self, config: PPOConfig | Any) -> None:
        """Clear the plots for a new run of `config` (shown as its algorithm's plots)."""
        self.finish_building()
        choice = next(
            (c for c in ALGORITHMS.values() if type(config) is c.config_class), self.choice
        )
        assert choice is not None  # __init__ configured one
        self.configure(choice)
        for plot in [*self.plots, *self._waiting_plots()]:
            plot.clear_data()
            plot.set_x_extent(config.steps)
        if any(isinstance(plot, StackedPlot) for plot in self.plots):
            self._arrange()  # cleared: hidden until the new run's first component
        adaptive = getattr(config, "kl_mode", None) == "adaptive"
        self.kl_plot.set_target(config.target_kl if adaptive else None)
        self.kl_plot.set_estimator(getattr(config, "kl_estimator", "k1"))  # PPO's: k1
        self._monitor = HealthMonitor.for_config(config)
        self.show_guardrail(None)
        self._held_out = None
        self.show_warnings([])
        self.step_label.setText(f"Run of {config.steps} steps starting…")
        self.schedule_redraw()

    def add_step(self, step: int, total: int, metrics: Mapping[str, float]) -> list[str]:
        """Append one step to every plot; return (and show) the health warnings."""
        self.finish_building()
        for plot in self.plots:
            plot.append(step, metrics)
        waiting = self._waiting_plots()
        for plot in waiting:
            plot.append(step, metrics)  # fed while hidden: its steps line up when shown
        if any(plot.has_data() for plot in waiting):
            self._arrange()
        self.schedule_redraw()
        warnings = self._monitor.update(metrics)
        self.show_warnings(warnings)
        reward = metrics.get("reward/mean")
        kl = metrics.get("objective/kl")
        parts = [f"Step {step}/{total}"]
        if reward is not None:
            parts.append(f"reward {reward:+.3f}")
        if kl is not None:
            parts.append(f"KL {kl:.3f}")
        self._held_out = metrics.get("eval/reward/mean", self._held_out)
        if self._held_out is not None:
            parts.append(f"held-out {self._held_out:+.3f}")
        self.step_label.setText(" · ".join(parts))
        return warnings

    def refresh_now(self) -> None:
        """Redraw every plot at once (one long GUI event: only when no run is live)."""
        self.finish_building()
        for plot in self.plots:
            plot.refresh()

    def schedule_redraw(self) -> None:
        """Redraw the dirty plots one per tick, starting now."""
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def all_drawn(self) -> bool:
        """Whether every plot shows all its data."""
        return self.is_built() and not any(plot.dirty for plot in self.plots)

    def show_guardrail(self, message: str | None) -> None:
        """Say which guardrail paused the run and what to try (None: hide)."""
        self.guardrail_label.setText(f"Guardrail, the run paused: {message}" if message else "")
        self.guardrail_label.setVisible(bool(message))

    def show_warnings(self, warnings: Sequence[str]) -> None:
        self.warning_label.setText("\n".join(f"⚠ {w}" for w in warnings))
        self.warning_label.setVisible(bool(warnings))

    def load_history(self, config: PPOConfig | Any, rows: Sequence[Mapping[str, float]]) -> None:
        """Start from a run's recorded steps (a resumed run); drawn by the usual ticks."""
        self.reset(config)
        for row in rows:
            self.add_step(int(row.get("step", 0)), config.steps, row)


def _loss_plot(choice: AlgorithmChoice, parent: QWidget | None = None) -> MetricPlot:
    series = [Series(key, label) for key, label in choice.losses]
    names = ", ".join(label for _key, label in choice.losses)
    return _plot("lossPlot", "Losses", series, parent=parent, tooltip=f"Losses: {names}")


def _plot(
    name: str,
    title: str,
    series: list[Series],
    y_label: str = "",
    parent: QWidget | None = None,
    tooltip: str = "",
) -> MetricPlot:
    """A dashboard plot; made while the window is shown it needs its `parent` at once (a
    parentless one is briefly a top-level window, which takes the window's activation)."""
    plot = MetricPlot(title, series, y_label, parent=parent, auto_redraw=False)
    plot.setObjectName(name)
    plot.setToolTip(tooltip or title)
    return plot


class RolloutTable(QTableWidget):
    """The latest step's rollouts: prompt, policy response, reward, reference response."""

    COLUMNS = ("Prompt", "Response (policy)", "Reward", "Reference (adapter off)")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(self.COLUMNS), parent)
        self.setObjectName("rolloutTable")
        self.setHorizontalHeaderLabels(self.COLUMNS)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setWordWrap(True)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.setColumnWidth(0, 200)
        # Fixed row heights (3 lines): measuring wrapped text per row on every step is
        # the costliest part of an update; the full text is in each cell's tooltip.
        self.verticalHeader().setDefaultSectionSize(3 * self.fontMetrics().lineSpacing() + 8)
        self.step: int | None = None

    def set_samples(self, step: int, samples: Sequence[Mapping]) -> None:
        """Replace the rows with one step's samples."""
        self.step = step
        self.setUpdatesEnabled(False)
        self.setRowCount(len(samples))
        for row, sample in enumerate(samples):
            reward = sample.get("reward")
            cells = (
                str(sample.get("prompt", "")),
                str(sample.get("response", "")),
                f"{reward:+.3f}" if isinstance(reward, int | float) else "",
                str(sample.get("reference") or "—"),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if column == 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.setItem(row, column, item)
        self.setUpdatesEnabled(True)
