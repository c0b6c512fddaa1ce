"""Shared fixtures and helpers of the app tests (imported by tests/app/test_app_*.py)."""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QMessageBox, QPushButton

from app.errors import ERROR_DIALOG_NAME
from app.main import build_window

JOB_TIMEOUT_MS = 420_000
"""The demo model is built on first use (minutes on 2 cores); later loads take seconds."""


@pytest.fixture(name="window")
def window_fixture(qtbot, workspace, tmp_path):
    """The real main window on a fresh workspace, shown and active, settings in tmp."""
    win = build_window(workspace, settings_path=tmp_path / "settings.ini")
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    qtbot.waitUntil(win.all_pages_built, timeout=60_000)  # the plot pages follow the paint
    yield win
    win.state.stop_all_jobs()
    qtbot.waitUntil(lambda: not win.state.jobs(), timeout=JOB_TIMEOUT_MS)


def wait_idle(qtbot, win, timeout: int = JOB_TIMEOUT_MS) -> None:
    """Wait until no background job runs."""
    qtbot.waitUntil(lambda: not win.state.jobs(), timeout=timeout)


def load_model(qtbot, win, name_or_path: str = "demo") -> None:
    """Choose a model in the Model page's combo and load it like a user would."""
    page = win.model_page
    combo = win.findChild(type(page.model_combo), "modelCombo")
    combo.setEditText(name_or_path)
    win.show_page(page)
    click(qtbot, win, "loadModelButton")
    qtbot.waitUntil(
        lambda: win.state.session is not None or bool(error_dialogs(win)),
        timeout=JOB_TIMEOUT_MS,
    )
    wait_idle(qtbot, win)
    assert not error_dialogs(win), error_dialogs(win)[0].text()


def steps_take_at_least(monkeypatch, trainer_class: type, seconds: float) -> None:
    """A floor on each step's time of `trainer_class`. Tiny steps take ~0.1 s, so a step
    could otherwise end the run between the test's look at it and its click on Pause or
    Stop (on a busy machine it did); with the floor the run outlasts any GUI delay."""
    step = trainer_class.step

    def slow_step(self):
        started = time.monotonic()
        result = step(self)
        time.sleep(max(0.0, seconds - (time.monotonic() - started)))
        return result

    monkeypatch.setattr(trainer_class, "step", slow_step)


def click(qtbot, win, name: str) -> None:
    """Click the button called `name` (its objectName) with the mouse."""
    button = win.findChild(QPushButton, name)
    assert button is not None, name
    assert button.isEnabled(), f"{name} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def error_dialogs(win) -> list[QMessageBox]:
    """The error dialogs currently open over the window."""
    return [box for box in win.findChildren(QMessageBox, ERROR_DIALOG_NAME) if box.isVisible()]


class GapMeter:
    """Measures the longest gap between ticks of a 20 ms GUI-thread timer.

    With RLHF_STUDIO_GAP_TRACE=1 a watchdog thread notes where every thread was while a
    tick is late (`culprit`). Off by default: formatting stacks takes the GIL and so
    itself lengthens the gaps it measures.
    """

    def __init__(self, interval_ms: int = 20) -> None:
        self.max_gap = 0.0
        self.max_busy = 0.0
        """The GUI thread's own CPU time between two ticks, at most: the work done on it,
        which (unlike `max_gap`) a machine busy with other processes does not lengthen."""
        self.culprit = ""
        self._last = time.perf_counter()
        self._stacks: list[tuple[float, str]] = []
        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._gui_thread = threading.get_ident()
        self._running = False

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        self.max_busy = max(self.max_busy, cpu - self._last_cpu)
        self._last_cpu = cpu
        gap = now - self._last
        if gap > self.max_gap:
            self.max_gap = gap
            self.max_gap_at = self._last - self._started
            late = [stack for started, stack in self._stacks if started >= self._last]
            self.culprit = late[len(late) // 2] if late else ""
        self._stacks.clear()
        self._last = now

    def _watch(self) -> None:
        while self._running:
            time.sleep(0.05)
            if time.perf_counter() - self._last > 0.1:
                frames = sys._current_frames()
                me = threading.get_ident()
                stack = "".join(
                    ("GUI THREAD:\n" if ident == self._gui_thread else "THREAD:\n")
                    + "".join(traceback.format_stack(frame)[-6:])
                    for ident, frame in frames.items()
                    if ident != me
                )
                self._stacks.append((time.perf_counter(), stack))

    def start(self) -> None:
        self._last = self._started = time.perf_counter()
        self._last_cpu = time.thread_time()
        self.max_gap_at = 0.0
        self._timer.start()
        self._running = True
        if os.environ.get("RLHF_STUDIO_GAP_TRACE"):
            threading.Thread(target=self._watch, daemon=True).start()

    def stop(self) -> None:
        self._timer.stop()
        self._running = False
