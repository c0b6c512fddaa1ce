"""What the GUI thread is spared around a model load: the tokenizer is read in a worker,
the Model page relabels its rows in place, and the wheel guard lets every other widget's
events through without reading them (it sees every event of the app)."""

from __future__ import annotations

import sys
import threading

import pytest
from PySide6.QtWidgets import QLabel, QSpinBox

from app.gil_sharing import GUI_SWITCH_INTERVAL_S
from app.wheel_guard import WheelGuard
from tests.app.test_app_support import (  # noqa: F401 (fixtures)
    click,
    load_model,
    wait_idle,
    window_fixture,
)


def test_model_load_reads_the_tokenizer_in_a_worker_thread(qtbot, window, monkeypatch):
    import core.model.session

    readers: list[threading.Thread] = []
    read_tokenizer = core.model.session.load_tokenizer

    def recording(*args, **kwargs):
        readers.append(threading.current_thread())
        return read_tokenizer(*args, **kwargs)

    monkeypatch.setattr(core.model.session, "load_tokenizer", recording)
    load_model(qtbot, window, "demo")
    assert readers, "the load never read a tokenizer"
    assert threading.main_thread() not in readers


def test_model_page_relabels_its_rows_in_place(qtbot, window):
    load_model(qtbot, window, "demo")
    params = window.findChild(QLabel, "info_params")
    adapter = window.findChild(QLabel, "info_adapter")
    assert params is not None and params.text() not in ("", "0")

    # The rows are relabelled, never rebuilt: another session change, then a second load.
    window.state.session_changed.emit(window.state.session)
    assert window.findChild(QLabel, "info_params") is params
    adapter.setText("stale")
    load_model(qtbot, window, "demo")
    assert window.findChild(QLabel, "info_params") is params
    assert window.findChild(QLabel, "info_adapter") is adapter
    assert adapter.text() == "fresh LoRA adapter"

    # Unloading replaces the rows with one line; the next load brings them back.
    click(qtbot, window, "unloadModelButton")
    wait_idle(qtbot, window)
    assert window.findChild(QLabel, "info_params") is None
    assert window.model_page.info_empty.text() == "No model loaded."
    load_model(qtbot, window, "demo")
    assert window.findChild(QLabel, "info_params").text() == params_text(window)


def params_text(window) -> str:
    """The parameter count the session has, as the page writes it."""
    return f"{window.state.session.param_counts().total:,}"


class Untouchable:
    """An event that fails the test if the filter reads anything of it."""

    def __getattr__(self, name: str):
        raise AssertionError(f"the guard read {name} of another widget's event")


def test_wheel_guard_passes_other_widgets_events_unread(qtbot):
    guard = WheelGuard()
    label = QLabel("not a field")
    qtbot.addWidget(label)
    assert guard.eventFilter(label, Untouchable()) is False
    spin = QSpinBox()
    qtbot.addWidget(spin)
    with pytest.raises(AssertionError, match="the guard read"):  # fields' events are read
        guard.eventFilter(spin, Untouchable())


def test_a_window_shortens_the_switch_interval(window):
    # The GUI thread waits at most this long for a worker running Python to hand over the
    # GIL (app/gil_sharing.py); the default, 5 ms, could be paid at every slot and paint.
    assert sys.getswitchinterval() == pytest.approx(GUI_SWITCH_INTERVAL_S)
