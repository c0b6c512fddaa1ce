"""Light and dark themes: the Fusion style with a palette that follows the system's
colour scheme (or the user's choice in Settings), a small style sheet, and matching
pyqtgraph backgrounds.

pyqtgraph is not imported here: the window is up before the pages with plots are built
(app/page_stack.py), so the plot colours apply once pyqtgraph has been imported.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory, QWidget

from resources import resource_path

if TYPE_CHECKING:
    import pyqtgraph as pg

THEMES = ("system", "light", "dark")

_LIGHT_PLOT = {"background": "#ffffff", "foreground": "#404040"}
_DARK_PLOT = {"background": "#1e1f22", "foreground": "#c8c8c8"}


def system_prefers_dark() -> bool:
    """Whether the desktop asks for a dark colour scheme (Qt >= 6.5 reports it)."""
    hints = QGuiApplication.styleHints()
    return hints.colorScheme() == Qt.ColorScheme.Dark


def is_dark(theme: str) -> bool:
    """Whether `theme` ("system", "light" or "dark") resolves to dark now."""
    if theme == "dark":
        return True
    if theme == "light":
        return False
    return system_prefers_dark()


def dark_palette() -> QPalette:
    """A dark palette for Fusion, with readable disabled text and links."""
    palette = QPalette()
    window, base, text = QColor("#2b2d30"), QColor("#1e1f22"), QColor("#dfe1e5")
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: QColor("#26282b"),
        QPalette.ColorRole.ToolTipBase: QColor("#3c3f41"),
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: QColor("#8c8f94"),
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: QColor("#393b40"),
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor("#ff6b6b"),
        QPalette.ColorRole.Link: QColor("#6ea8fe"),
        QPalette.ColorRole.Highlight: QColor("#3574f0"),
        QPalette.ColorRole.HighlightedText: QColor("#ffffff"),
        QPalette.ColorRole.Mid: QColor("#45484d"),
        QPalette.ColorRole.Midlight: QColor("#4e5157"),
        QPalette.ColorRole.Dark: QColor("#1b1c1f"),
        QPalette.ColorRole.Shadow: QColor("#111214"),
    }
    for role, colour in roles.items():
        palette.setColor(role, colour)
    disabled = QColor("#6f737a")
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette


def apply_theme(app: QApplication, theme: str, root: QWidget | None = None) -> bool:
    """Style the whole application for `theme`; returns whether it is dark."""
    dark = is_dark(theme)
    if app.style().name().lower() != "fusion":
        app.setStyle(QStyleFactory.create("Fusion"))
    app.setPalette(dark_palette() if dark else app.style().standardPalette())
    sheet = resource_path("style", "dark.qss" if dark else "light.qss")
    base = resource_path("style", "app.qss")
    style_sheet = _read(base) + _read(sheet)
    if app.styleSheet() != style_sheet:
        app.setStyleSheet(style_sheet)
    if "pyqtgraph" in sys.modules:  # else no plot exists yet: see configure_plots
        configure_plots(dark)
        if root is not None:
            style_plots(root, dark)
    return dark


def configure_plots(dark: bool) -> None:
    """pyqtgraph's colours for new plots; call before building a page with plots."""
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, **(_DARK_PLOT if dark else _LIGHT_PLOT))


def style_plots(root: QWidget, dark: bool) -> None:
    """Give every plot under `root` the theme's colours (none: pyqtgraph not imported)."""
    if "pyqtgraph" in sys.modules:
        import pyqtgraph as pg

        for plot in root.findChildren(pg.PlotWidget):
            style_plot(plot, dark)


def style_plot(plot: pg.PlotWidget, dark: bool) -> None:
    """Background, axes and title colours of one plot (new plots read the config)."""
    colours = _DARK_PLOT if dark else _LIGHT_PLOT
    plot.setBackground(colours["background"])
    item = plot.getPlotItem()
    for name in ("left", "bottom", "right", "top"):
        axis = item.getAxis(name)
        axis.setPen(colours["foreground"])
        axis.setTextPen(colours["foreground"])
    title = item.titleLabel
    if title.text:
        title.setText(title.text, color=colours["foreground"])
    set_text_colour = getattr(plot, "set_text_colour", None)
    if set_text_colour is not None:  # our plots' legend rows and hints (app/widgets/plots.py)
        set_text_colour(colours["foreground"])


def _read(path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""
