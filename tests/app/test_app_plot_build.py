"""Plots cheap to make: pyqtgraph's right-click menus built on first use (or never where a
plot has none), and the Train page's dashboard made one plot per event-loop turn."""

from __future__ import annotations

import sys

import shiboken6
from PySide6.QtCore import QEvent, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.import_steps import module_steps
from app.main import build_window
from app.pages.train_page import TrainPage
from app.widgets.dashboard import TrainingDashboard
from app.widgets.lazy_menu import LazyMenuViewBox
from app.widgets.plots import MetricPlot
from core.config import PPOConfig

MAIN_PLOTS = ("rewardPlot", "klPlot", "lossPlot", "entropyPlot", "clipfracPlot")
MAIN_PLOTS += ("lengthPlot", "speedPlot")


def _right_click(plot: MetricPlot):
    """Right-click the middle of `plot`; the popup menu shown, if any (closed after)."""
    viewport = plot.viewport()
    centre = viewport.rect().center()
    QTest.mousePress(viewport, Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, centre)
    QTest.mouseRelease(viewport, Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, centre)
    QApplication.processEvents()
    popup = QApplication.activePopupWidget()
    actions = [action.text() for action in popup.actions()] if popup is not None else []
    if popup is not None:
        popup.close()
    return actions


def _shown_dashboard(qtbot) -> TrainingDashboard:
    dashboard = TrainingDashboard()
    qtbot.addWidget(dashboard)
    dashboard.resize(1000, 800)
    dashboard.show()
    qtbot.waitExposed(dashboard)
    return dashboard


def test_a_twin_axis_plots_menu_is_built_on_its_first_right_click_and_appears(qtbot):
    dashboard = _shown_dashboard(qtbot)
    for plot in (dashboard.kl_plot, dashboard.clipfrac_plot):
        boxes = [box for box in plot.scene().items() if isinstance(box, LazyMenuViewBox)]
        assert len(boxes) == 1
        assert not boxes[0].menu_built()  # made with the plot: no menu yet
        actions = _right_click(plot)
        assert "View All" in actions and "Export..." in actions
        assert boxes[0].menu_built()
        assert _right_click(plot) == actions  # the same menu again


def test_a_plot_without_a_menu_builds_none_and_shows_none(qtbot):
    dashboard = _shown_dashboard(qtbot)
    plot = dashboard.reward_plot
    assert plot.getViewBox().menu is None  # pyqtgraph builds one unless told at once
    assert not plot.getPlotItem().menuEnabled()
    assert _right_click(plot) == []


def test_a_dashboard_in_pieces_makes_one_plot_per_step(qtbot):
    dashboard = TrainingDashboard(in_pieces=True)
    qtbot.addWidget(dashboard)
    assert dashboard.findChildren(MetricPlot) == []
    counts = []
    while dashboard.build_step():
        counts.append(len(dashboard.findChildren(MetricPlot)))
    assert counts == list(range(1, len(counts) + 1))  # one more plot per step
    assert len(counts) >= len(MAIN_PLOTS)
    assert dashboard.is_built() and not dashboard.build_step()
    names = {plot.objectName() for plot in dashboard.findChildren(MetricPlot)}
    assert set(MAIN_PLOTS) <= names
    assert [plot.objectName() for plot in dashboard.plots[:3]] == list(MAIN_PLOTS[:3])


def test_a_half_built_dashboard_finishes_before_a_run_uses_it(qtbot):
    dashboard = TrainingDashboard(in_pieces=True)
    qtbot.addWidget(dashboard)
    assert dashboard.build_step()  # the reward plot only
    dashboard.reset(PPOConfig(steps=4))
    assert dashboard.is_built()
    dashboard.add_step(1, 4, {"reward/mean": 0.5, "objective/kl": 0.01})
    assert dashboard.reward_plot.point_count() == 1
    assert dashboard.kl_plot.point_count() == 1


def test_the_window_builds_the_train_page_over_several_turns(qtbot, tmp_path):
    window = build_window(tmp_path / "ws", settings_path=tmp_path / "settings.ini")
    qtbot.addWidget(window)
    stack = window.stack
    while not stack.is_built("train"):
        assert stack.build_next()  # the page's imports not done yet, one a turn
    pages = [stack.widget(i) for i in range(stack.count())]
    page = next(page for page in pages if isinstance(page, TrainPage))
    assert not page.is_whole() and not window.all_pages_built()
    assert page.findChildren(MetricPlot) == []
    pieces = 0
    while not page.is_whole():
        plots = len(page.findChildren(MetricPlot))
        assert stack.build_next()
        assert len(page.findChildren(MetricPlot)) - plots <= 1  # a plot a turn at most
        pieces += 1
    assert pieces >= len(MAIN_PLOTS) + 2  # the settings and the tables came first
    while stack.build_next():
        pass
    assert window.all_pages_built()
    assert window.findChild(MetricPlot, "rewardPlot") is not None


def test_asking_for_a_half_built_train_page_finishes_it(qtbot, tmp_path):
    window = build_window(tmp_path / "ws", settings_path=tmp_path / "settings.ini")
    qtbot.addWidget(window)
    while not window.stack.is_built("train"):
        window.stack.build_next()
    window.stack.build_next()  # one plot
    page = window.train_page  # what a click on the sidebar or a tool does
    assert page.dashboard.is_built() and page.is_whole()
    window.show_page(page)
    assert window.findChild(MetricPlot, "speedPlot") is not None


def test_a_pages_imports_are_one_step_per_module_not_imported_yet():
    fresh = "colorsys" if "colorsys" not in sys.modules else "wave"
    assert fresh not in sys.modules
    steps = module_steps(["sys", fresh])  # sys is imported: no step for it
    assert len(steps) == 1
    steps[0]()
    assert fresh in sys.modules


def test_a_half_built_dashboard_shown_shows_its_plots_once_all_are_made(qtbot):
    dashboard = TrainingDashboard(in_pieces=True)
    qtbot.addWidget(dashboard)
    dashboard.build_step()
    dashboard.resize(1000, 700)
    dashboard.show()
    qtbot.waitExposed(dashboard)
    assert not dashboard.is_built()  # the page stack makes the rest, a piece per turn
    assert not dashboard.reward_plot.isVisible()  # no half-made grid on screen
    dashboard.finish_building()
    for name in MAIN_PLOTS:
        assert dashboard.findChild(MetricPlot, name).isVisible()


def test_a_window_restored_on_the_train_page_shows_it_at_once_and_finishes_it(qtbot, tmp_path):
    """The launch restores the last page shown: the Train page's frame comes up with the
    window and the rest follows a piece per turn, Start disabled until it is whole."""
    settings = tmp_path / "settings.ini"
    settings.write_text("[window]\npage=3\n", encoding="utf-8")  # Model, Prompts, Compare, Train
    window = build_window(tmp_path / "ws", settings_path=settings)
    qtbot.addWidget(window)
    page = window.stack.currentWidget()
    assert isinstance(page, TrainPage)
    assert not page.is_whole()
    assert not page.run_bar.isEnabled()
    window.resize(1280, 800)
    window.show()
    qtbot.waitUntil(page.is_whole, timeout=60_000)
    assert page.run_bar.isEnabled() and page.start_button.isEnabled()
    assert page.findChild(MetricPlot, "rewardPlot").isVisible()
    qtbot.wait(50)
    assert page.dashboard_stack.height() > 2 * page.bottom_tabs.height()  # not the empty one's


def test_the_train_page_built_in_pieces_gives_its_plots_most_of_the_height(qtbot, tmp_path):
    """The plots' scroll area takes its size hint from the grid when it gets it: given an
    empty grid, the dashboard got a third of the page's height and the tables the rest."""
    window = build_window(tmp_path / "ws", settings_path=tmp_path / "settings.ini")
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitUntil(window.all_pages_built, timeout=60_000)
    page = window.train_page
    window.show_page(page)
    qtbot.wait(50)
    assert page.dashboard_stack.height() > 2 * page.bottom_tabs.height()
    assert page.findChild(MetricPlot, "speedPlot").isVisible()


def test_once_the_window_builds_its_pages_the_shown_page_gets_no_second_builder(qtbot, tmp_path):
    """Two builders would make two pieces per event-loop turn: the page shown at launch
    builds itself only until the window's own chain of builds starts."""
    settings = tmp_path / "settings.ini"
    settings.write_text("[window]\npage=3\n", encoding="utf-8")
    window = build_window(tmp_path / "ws", settings_path=settings)
    qtbot.addWidget(window)
    page = window.stack.currentWidget()
    steps = []
    build_step = page.build_step
    page.build_step = lambda: steps.append(1) or build_step()
    assert window.stack.build_next()  # the window's chain has started: one piece
    qtbot.wait(200)  # turns go by: nobody else builds
    assert len(steps) == 1 and not page.is_whole()


def test_a_window_closed_before_its_pages_are_built_leaves_no_build_behind(qtbot, tmp_path):
    """The deferred pages are built a turn at a time after the first paint; a window closed
    and deleted before those turns come (a quick quit at launch, a test's teardown) drops
    them instead of building into deleted widgets."""
    window = build_window(tmp_path / "ws", settings_path=tmp_path / "settings.ini")
    window.show()
    qtbot.waitExposed(window)  # painted: the first deferred page's turn is scheduled
    assert not window.all_pages_built()
    window.close()
    window.state.close()
    window.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    assert not shiboken6.isValid(window)  # gone before its pending turns
    qtbot.wait(200)  # the pending turns come and go: pytest-qt fails on any error
