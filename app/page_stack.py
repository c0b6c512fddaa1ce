"""The main window's page stack, where some pages are built only after the window is up.

The Train, Runs and AI Feedback pages hold pyqtgraph plots: importing pyqtgraph and
building them takes about as long as the rest of the window. They start as empty
placeholders and are built one per event-loop turn after the first paint
(`build_next`), or at once when something asks for them (`page`, `show`).

A page too large for one turn (the Train page's dozen plots) is built in pieces: it has
`build_step()` (make one more piece; False once whole) and `is_whole()`. `build_next`
then makes one piece per call, `page` finishes it before handing it out, and `show`
shows it at once and makes its other pieces one per turn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QStackedWidget, QWidget


@dataclass
class _Slot:
    key: str
    build: Callable[[], QWidget] | None
    page: QWidget
    prepare: list[Callable[[], object]] = field(default_factory=list)


class PageStack(QStackedWidget):
    """A QStackedWidget of pages by key; deferred pages are built on first use."""

    def __init__(self, on_built: Callable[[str, QWidget], None]) -> None:
        super().__init__()
        self._slots: list[_Slot] = []
        self._on_built = on_built
        self._building_next = False  # build_next was called, and has things left to build

    def add_page(self, key: str, page: QWidget) -> None:
        self._slots.append(_Slot(key, None, page))
        self.addWidget(page)

    def add_deferred(
        self, key: str, build: Callable[[], QWidget], prepare: Sequence[Callable[[], object]] = ()
    ) -> None:
        """A page that `build()` makes when first needed; a blank placeholder until then.
        `prepare`: steps that `build_next` runs first, one per call (the page's imports,
        cut small: app/import_steps.py); a page asked for at once skips them."""
        placeholder = QWidget()
        self._slots.append(_Slot(key, build, placeholder, list(prepare)))
        self.addWidget(placeholder)

    def page(self, key: str) -> QWidget:
        """The page called `key`, built (whole) now if it was not yet."""
        index = next(i for i, slot in enumerate(self._slots) if slot.key == key)
        return _whole(self._built(index))

    def is_built(self, key: str) -> bool:
        return any(slot.key == key and slot.build is None for slot in self._slots)

    def show_index(self, index: int) -> None:
        """Bring page `index` to the front, building it first if needed: a page built in
        pieces shows at once (the launch restores the last page shown, the Train page
        often) and gets its other pieces one per event-loop turn."""
        if 0 <= index < len(self._slots):
            page = self._built(index)
            self.setCurrentWidget(page)
            if not _is_whole(page):
                # With the page as context: a page closed meanwhile (a window closed
                # during its build) drops the call instead of building into it.
                QTimer.singleShot(0, page, partial(self._build_on, page))

    def _build_on(self, page: QWidget) -> None:
        """One more piece of `page`, and the next at the next turn until it is whole;
        left to `build_next` once the window calls it (two pieces a turn, else)."""
        if self._building_next:
            return
        step = getattr(page, "build_step", None)
        if step is not None and step():
            QTimer.singleShot(0, page, partial(self._build_on, page))

    def build_next(self) -> bool:
        """Run the next preparation step of the first deferred page still waiting, else
        build it, or the next piece of a page built in pieces; False when nothing is left."""
        self._building_next = True
        for index, slot in enumerate(self._slots):
            if slot.build is not None and slot.prepare:
                slot.prepare.pop(0)()
                return True
            if slot.build is not None:
                self._built(index)
                return True
            step = getattr(slot.page, "build_step", None)
            if step is not None and step():
                return True
        self._building_next = False  # all done
        return False

    def all_built(self) -> bool:
        return all(slot.build is None and _is_whole(slot.page) for slot in self._slots)

    def _built(self, index: int) -> QWidget:
        slot = self._slots[index]
        if slot.build is None:
            return slot.page
        page = slot.build()
        placeholder, slot.page, slot.build = slot.page, page, None
        slot.prepare.clear()
        showing = self.currentWidget() is placeholder
        self.insertWidget(index, slot.page)
        self.removeWidget(placeholder)
        placeholder.deleteLater()
        if showing:
            self.setCurrentWidget(slot.page)
        self._on_built(slot.key, slot.page)
        return slot.page


def _is_whole(page: QWidget) -> bool:
    is_whole = getattr(page, "is_whole", None)
    return is_whole is None or is_whole()


def _whole(page: QWidget) -> QWidget:
    """`page`, its pieces not built yet built now."""
    step = getattr(page, "build_step", None)
    while step is not None and step():
        pass
    return page
