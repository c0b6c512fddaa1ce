"""Mouse-wheel guard: a wheel over a field that does not have focus scrolls the page.

Without it, scrolling a long form (the Train page) with the wheel changes every spin box
and combo box the pointer passes over, silently, and the run starts with those values.
One application-level event filter covers every QAbstractSpinBox and QComboBox of the
app, including those created later (fields built from settings, dialogs): no page has
to remember to opt in.

- Every such field gets a strong focus policy when it is first polished, so the wheel
  alone no longer gives it focus (Qt's default for spin boxes is WheelFocus).
- A wheel event reaching such a field while it lacks focus is filtered out and handed
  to the nearest scroll area around the field, which scrolls. (Handed on explicitly, not
  left to Qt's propagation: Qt propagates only spontaneous wheel events, and the same
  path then serves synthetic events, e.g. tests'.)
- A focused field (clicked or tabbed into) keeps the normal wheel behaviour.
"""

from __future__ import annotations

from typing import cast

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QWidget,
)

GUARDED_TYPES = (QAbstractSpinBox, QComboBox)
"""Widgets whose value a wheel event changes."""

_GUARD_PROPERTY = "rlhfStudioWheelGuard"
"""Where the installed guard is kept on the QApplication (it is installed once)."""


class WheelGuard(QObject):
    """The application-level event filter described in the module docstring."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        # Every event of the app comes here, on the GUI thread and with the GIL: the cheap
        # receiver test first (few receivers are fields), since QEvent.type() alone costs
        # several microseconds and paints and layouts send events by the thousand.
        if not isinstance(watched, GUARDED_TYPES):
            return False
        kind = event.type()
        if kind == QEvent.Type.Polish:
            _use_strong_focus(watched)
        elif kind == QEvent.Type.Wheel:
            _use_strong_focus(watched)  # a field never polished yet (not shown) too
            if not watched.hasFocus():
                _scroll_instead(watched, cast(QWheelEvent, event))  # Qt: a Wheel is one
                return True
        return False


def _use_strong_focus(widget: QWidget) -> None:
    if widget.focusPolicy() == Qt.FocusPolicy.WheelFocus:
        widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)


def _scroll_instead(field: QWidget, event: QWheelEvent) -> None:
    """Send `event` to the viewport of the nearest scroll area holding `field`, if any."""
    event.accept()  # taken here in every case: the field itself must not see it
    area = field.parentWidget()
    while area is not None and not isinstance(area, QAbstractScrollArea):
        area = area.parentWidget()
    if area is None:
        return
    viewport = area.viewport()
    forwarded = QWheelEvent(
        viewport.mapFromGlobal(event.globalPosition()),
        event.globalPosition(),
        event.pixelDelta(),
        event.angleDelta(),
        event.buttons(),
        event.modifiers(),
        event.phase(),
        event.inverted(),
        event.source(),
    )
    QApplication.sendEvent(viewport, forwarded)


def install_wheel_guard(app: QApplication) -> WheelGuard:
    """Install the guard on `app` once (later calls return the installed one)."""
    guard = app.property(_GUARD_PROPERTY)
    if isinstance(guard, WheelGuard):
        return guard
    guard = WheelGuard(app)
    app.installEventFilter(guard)
    app.setProperty(_GUARD_PROPERTY, guard)
    for widget in app.allWidgets():  # fields that exist before the guard
        if isinstance(widget, GUARDED_TYPES):
            _use_strong_focus(widget)
    return guard
