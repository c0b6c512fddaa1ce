"""Compare & Rate's keys (1/2/3/0, + / = / -, N, G, Esc, arrows) that work wherever the
keyboard focus is in the window while the page is shown.

Why window shortcuts: a page-only shortcut fires only while the focus is inside the page.
After a mouse vote the clicked button is disabled and Qt hands the focus to the next
widget in the chain (the Note field, or nothing at all), so the next key was typed into
the note or dropped. A window shortcut of a page fires whenever the page is visible (Qt
checks that) and the focused widget does not want the key itself.

A text field wants every printable key. So the page's text fields are watched: a field
the user entered on purpose (a click, Tab, or N for the note) keeps its keys; a field the
focus merely fell into (handed on by a disabled button) lets the rating keys through, and
the focus goes back to the page. Esc leaves any field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QFocusEvent, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

from app.widgets.common import qt_app

HANDED_ON = (Qt.FocusReason.TabFocusReason, Qt.FocusReason.BacktabFocusReason)
"""The reasons Qt gives both for a Tab key and for focus handed on by a disabled widget."""

KEPT_FOCUS = (
    Qt.FocusReason.ActiveWindowFocusReason,
    Qt.FocusReason.PopupFocusReason,
    Qt.FocusReason.MenuBarFocusReason,
)
"""Focus coming back to where it was: the field stays as chosen (or not) as it was."""


def is_text_field(widget: QObject | None) -> bool:
    """Whether `widget` takes typed text (a digit pressed there is text, not a vote)."""
    if isinstance(widget, (QLineEdit, QAbstractSpinBox)):
        return True
    if isinstance(widget, (QTextEdit, QPlainTextEdit)):
        return not widget.isReadOnly()
    return isinstance(widget, QComboBox) and widget.isEditable()


class RatingKeys(QObject):
    """The page's keys as window shortcuts, and a watch on its text fields."""

    def __init__(self, page: QWidget, slots: dict[str, Callable[[], None]]) -> None:
        super().__init__(page)
        self._page = page
        self._keys = set(slots)
        self._chosen: set[int] = set()  # ids of text fields the user entered on purpose
        self._watched: set[int] = set()
        self.shortcuts = []
        for key, slot in slots.items():
            shortcut = QShortcut(QKeySequence(key), page)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(lambda slot=slot: self._on_activated(slot))
            self.shortcuts.append(shortcut)
        qt_app().focusChanged.connect(self._on_focus_changed)

    def watch_fields(self) -> None:
        """Watch the page's text fields (call again after fields are added)."""
        for widget in self._page.findChildren(QWidget):
            if is_text_field(widget) and id(widget) not in self._watched:
                self._watched.add(id(widget))
                widget.installEventFilter(self)

    def field_chosen(self, widget: QObject) -> bool:
        """Whether the user put the cursor in `widget` (so its keys are its own)."""
        return id(widget) in self._chosen

    def leave_field(self) -> None:
        """Take the focus out of a text field and back to the page (after a vote, Esc)."""
        focus = QApplication.focusWidget()
        if focus is not None and is_text_field(focus):
            self._chosen.discard(id(focus))
        self._page.setFocus(Qt.FocusReason.OtherFocusReason)

    def enter_field(self, widget: QWidget) -> None:
        """Put the cursor in `widget` for the user (N for the note)."""
        self._chosen.add(id(widget))
        widget.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        kind = event.type()
        # Qt delivers a FocusIn as a QFocusEvent, a ShortcutOverride as a QKeyEvent.
        if kind == QEvent.Type.FocusIn:
            if cast(QFocusEvent, event).reason() not in KEPT_FOCUS:
                self._chosen.add(id(watched))  # may be taken back in _on_focus_changed
        elif (
            kind == QEvent.Type.ShortcutOverride
            and not self.field_chosen(watched)
            and _key_text(cast(QKeyEvent, event)) in self._keys
        ):
            event.ignore()  # the field does not claim it: the shortcut fires
            return True
        return False

    def _on_focus_changed(self, old: QWidget | None, new: QWidget | None) -> None:
        """Focus handed on by a widget being disabled or hidden is no choice of the user's."""
        if new is None or id(new) not in self._watched:
            return
        handed_on = old is not None and (not old.isEnabled() or not old.isVisible())
        if handed_on or old is None and not self._page.isVisible():
            self._chosen.discard(id(new))

    def _on_activated(self, slot: Callable[[], None]) -> None:
        focus = QApplication.focusWidget()
        if is_text_field(focus) and id(focus) in self._watched:
            self.leave_field()  # there by accident: leave it, so it types nothing
        slot()


def _key_text(event: QKeyEvent) -> str:
    """'1', '+', 'N', ... for a key pressed alone (Shift and the keypad allowed)."""
    allowed = Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.KeypadModifier
    if event.modifiers() & ~allowed:
        return ""
    text = event.text()
    return text.upper() if text and text.isprintable() else ""
