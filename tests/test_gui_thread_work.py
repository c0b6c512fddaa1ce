"""What the GUI thread is spared around a model load: the tokenizer is read in a worker,
the Model page relabels its rows in place, and the wheel guard lets every other widget's
events through without reading them (it sees every event of the app)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel, QSpinBox

from app.gil_sharing import GUI_SWITCH_INTERVAL_S
from app.wheel_guard import WheelGuard
from tests.test_app_support import (  # noqa: F401 (fixtures)
    click,
    load_model,
    wait_idle,
    window_fixture,
)


def test_model_load_reads_the_tokenizer_in_a_worker_thread(qtbot, window, monkeypatch):
    import core.models

    readers: list[threading.Thread] = []
    read_tokenizer = core.models.load_tokenizer

    def recording(*args, **kwargs):
        readers.append(threading.current_thread())
        return read_tokenizer(*args, **kwargs)

    monkeypatch.setattr(core.models, "load_tokenizer", recording)
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


LAUNCH_SCRIPT = """
import sys, threading, time
from pathlib import Path

importers = {}


class Spy:  # notes which thread first looks for each module, finds nothing itself
    def find_spec(self, name, path=None, target=None):
        importers.setdefault(name, threading.current_thread().name)


sys.meta_path.insert(0, Spy())
from PySide6.QtWidgets import QApplication

from app.startup import build_window

qt_app = QApplication([])
folder = Path(sys.argv[1])
window = build_window(folder / "workspace", folder / "settings.ini")
window.show()
deadline = time.monotonic() + 120
while not window.all_pages_built() and time.monotonic() < deadline:
    qt_app.processEvents()
    time.sleep(0.01)
print(window.all_pages_built(), importers.get("pyqtgraph"), importers.get("app.pages.train_page"))
window.close()
"""


def test_the_plot_pages_modules_are_imported_off_the_gui_thread(tmp_path):
    # A fresh process, as at launch: pyqtgraph, numpy and the pages with plots took 0.4 s
    # of the GUI thread's CPU in one piece when the first deferred page was built.
    env = os.environ | {"QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH_SCRIPT, str(tmp_path)],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-3:] == ["True", "page-imports", "page-imports"], done.stdout
