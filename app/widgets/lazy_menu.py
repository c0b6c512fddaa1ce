"""A pyqtgraph ViewBox whose right-click menu is built on first use.

pyqtgraph builds every ViewBox's context menu when the box is made: a QMenu with two
axis-control forms (`axisCtrlTemplate`), about a third of the cost of making a plot. A
dashboard makes a dozen plots at launch and the menus are almost never opened, so the
boxes here say their menu is enabled and build it when a right-click asks for it.
"""

from __future__ import annotations

import pyqtgraph as pg
from pyqtgraph.graphicsItems.ViewBox.ViewBoxMenu import ViewBoxMenu


class LazyMenuViewBox(pg.ViewBox):
    """A ViewBox with its context menu enabled but made on the first right-click."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["enableMenu"] = False  # pyqtgraph builds no menu ...
        super().__init__(*args, **kwargs)
        self.state["enableMenu"] = True  # ... yet a right-click asks for one (getMenu)

    def menu_built(self) -> bool:
        """Whether the context menu exists yet."""
        return self.menu is not None

    def getMenu(self, ev):  # noqa: N802 (pyqtgraph's name)
        if self.menu is None and self.menuEnabled():
            self.menu = ViewBoxMenu(self)
            self.updateViewLists()
        return self.menu

    def getContextMenus(self, event):  # noqa: N802 (pyqtgraph's name)
        """Called when an item above this box shows its menu: this box's actions follow."""
        menu = self.getMenu(event)
        return menu.actions() if menu is not None else []
