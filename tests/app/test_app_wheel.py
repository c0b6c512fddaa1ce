"""The mouse wheel over a field without focus scrolls the page instead of changing the
field (app.wheel_guard), on every spin box and combo box of the real main window."""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QScrollArea,
    QSpinBox,
    QStackedWidget,
    QTabWidget,
    QWidget,
)

from app.main import build_window
from app.wheel_guard import install_wheel_guard

WHEEL_UP = 120  # one notch away from the user: a spin box steps up, a page scrolls up


def wheel(widget: QWidget, delta: int) -> None:
    """One wheel notch over the middle of `widget` (delta > 0: up)."""
    local = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        local,
        QPointF(widget.mapToGlobal(local.toPoint())),
        QPoint(0, 0),
        QPoint(0, delta),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def value_of(field: QWidget):
    if isinstance(field, QComboBox):
        return field.currentIndex()
    return field.text() if not hasattr(field, "value") else field.value()


def changing_delta(field: QWidget) -> int:
    """A wheel direction that can change `field` (not past its last item or maximum)."""
    if isinstance(field, QComboBox):
        # The wheel moves down the list when turned towards the user.
        return -WHEEL_UP if field.currentIndex() < field.count() - 1 else WHEEL_UP
    if hasattr(field, "maximum") and field.value() >= field.maximum():
        return -WHEEL_UP
    return WHEEL_UP


def reveal(window, field: QWidget) -> None:
    """Bring every stacked page and tab holding `field` to the front."""
    child = field
    parent = child.parentWidget()
    while parent is not None:
        if isinstance(parent, QStackedWidget):
            holder = parent.parentWidget()
            if isinstance(holder, QTabWidget):
                holder.setCurrentWidget(child)
            elif parent is window.stack:
                window.show_page(child)
            else:
                parent.setCurrentWidget(child)
        child, parent = parent, parent.parentWidget()


def all_fields(window) -> list[QWidget]:
    return [*window.findChildren(QAbstractSpinBox), *window.findChildren(QComboBox)]


def test_wheel_changes_only_focused_fields_on_every_page(qtbot, tmp_path):
    window = build_window(tmp_path / "ws", settings_path=tmp_path / "settings.ini")
    qtbot.addWidget(window)
    window.show()
    window.build_all_pages()  # the plot pages are otherwise built after the first paint
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    assert len(all_fields(window)) >= 49  # the issue counted 49; settings may add more
    tested: list[QWidget] = []  # kept alive, so that `is` identifies each field
    focused: list[str] = []
    while untested := [f for f in all_fields(window) if not any(f is t for t in tested)]:
        # A changed field may rebuild others (a reward row's kind rebuilds its row): the
        # new ones are picked up by the next scan; the deleted ones are not looked at.
        for field in untested:
            tested.append(field)
            if shiboken6.isValid(field):
                focused += check_wheel_on(qtbot, window, field)
        assert len(tested) < 500, "fields keep being rebuilt"
    # Only fields hidden in the current mode skip the focused half; nearly all take it.
    assert len(focused) >= 45, focused


def check_wheel_on(qtbot, window, field: QWidget) -> list[str]:
    """An unfocused wheel leaves `field` as it is; a focused one changes it ([name])."""
    if isinstance(field, QComboBox) and field.count() < 2:
        field.addItem("another item")  # something for a focused wheel to move to
    reveal(window, field)
    QApplication.processEvents()
    name = field.objectName() or type(field).__name__
    assert field.focusPolicy() == Qt.FocusPolicy.StrongFocus, name
    window.nav.setFocus()  # the field does not have focus
    before = value_of(field)
    wheel(field, changing_delta(field))
    assert value_of(field) == before, f"{name} changed on an unfocused wheel"
    assert not field.hasFocus(), f"{name} took focus from the wheel"
    if not field.isVisible():
        return []  # hidden in this mode (e.g. adaptive-KL fields): it cannot take focus
    field.setFocus()
    qtbot.waitUntil(field.hasFocus, timeout=2000)
    wheel(field, changing_delta(field))
    assert value_of(field) != before, f"{name} ignored a focused wheel"
    return [name]


def test_unfocused_wheel_over_a_field_scrolls_the_train_form(qtbot, tmp_path):
    window = build_window(tmp_path / "ws", settings_path=tmp_path / "settings.ini")
    qtbot.addWidget(window)
    window.show()
    window.show_page(window.train_page)
    alpha = window.train_page.findChild(QSpinBox, "loraAlphaSpin")
    area = next(w for w in _ancestors(alpha) if isinstance(w, QScrollArea))
    bar = area.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)  # the form is taller than its area
    bar.setValue(bar.minimum())
    area.ensureWidgetVisible(alpha)
    start, value = bar.value(), alpha.value()
    wheel(alpha, -WHEEL_UP)  # towards the user: the page scrolls down
    assert alpha.value() == value  # 16 stays 16
    assert bar.value() > start or start == bar.maximum()
    if start == bar.maximum():
        wheel(alpha, WHEEL_UP)
        assert bar.value() < start
    assert alpha.value() == value


def test_guard_is_installed_once_and_covers_fields_made_later(qtbot, qapp, tmp_path):
    window = build_window(tmp_path / "ws", settings_path=tmp_path / "settings.ini")
    qtbot.addWidget(window)
    assert install_wheel_guard(qapp) is install_wheel_guard(qapp)
    again = build_window(tmp_path / "ws2", settings_path=tmp_path / "settings2.ini")
    qtbot.addWidget(again)
    filters = [child for child in qapp.children() if type(child).__name__ == "WheelGuard"]
    assert len(filters) == 1
    # A field created after start-up (e.g. a form generated from settings) is covered too.
    window.show()
    window.show_page(window.train_page)
    late = QSpinBox(window.train_page.form, value=16)
    assert late.focusPolicy() == Qt.FocusPolicy.WheelFocus  # Qt's default, until polished
    late.show()
    qtbot.waitUntil(late.isVisible)
    assert late.focusPolicy() == Qt.FocusPolicy.StrongFocus
    window.nav.setFocus()
    wheel(late, WHEEL_UP)
    assert late.value() == 16


def _ancestors(widget: QWidget):
    parent = widget.parentWidget()
    while parent is not None:
        yield parent
        parent = parent.parentWidget()
