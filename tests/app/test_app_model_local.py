"""The Model page at first start and with models on this machine: the welcome loads the
demo model in a worker (Cancel stops a build), no memory plan until a model exists, the
plan follows the Train page's preset; the Hugging Face cache's models are listed with
size, dtype and verdict and chosen with a click; the last model reloads once the window is
up; the adapter row says it was trained after a run."""

from __future__ import annotations

import time

from PySide6.QtWidgets import QComboBox, QLabel, QPushButton

from app.jobs import model as model_jobs
from app.startup import build_window
from tests.app.test_app_support import (  # noqa: F401 (fixtures)
    click,
    error_dialogs,
    load_model,
    wait_idle,
    window_fixture,
)
from tests.core.test_local_models import put_in_hub_cache


def test_the_welcome_loads_the_demo_model_and_the_plan_then_shows(qtbot, window):
    page = window.model_page
    window.show_page(page)
    assert page.welcome.isVisible() and not page.plan_box.isVisible()  # no jargon yet
    button = window.findChild(QPushButton, "welcomeDemoButton")
    assert button.text().startswith("Load the demo model")  # built in the tests' home
    click(qtbot, window, "welcomeDemoButton")
    qtbot.waitUntil(lambda: window.state.session is not None, timeout=120_000)
    wait_idle(qtbot, window)
    assert not error_dialogs(window)
    assert not page.welcome.isVisible() and page.plan_box.isVisible()
    assert window.state.setting("model/name_or_path") == "demo"
    # The plan's run is the Train page's: same batch and minibatch.
    config = window.train_page.form.config()
    title = window.findChild(QLabel, "memoryPlanTitle").text()
    assert f"batch {config.batch_size}, minibatch {config.mini_batch_size}" in title
    qtbot.waitUntil(lambda: "Peak" in page.plan_label.text(), timeout=30_000)


def test_cancel_stops_a_demo_build_without_an_error(qtbot, window, monkeypatch):
    def slow_build(spec, progress=None):
        for step in range(400):
            progress(2 + step, 403, f"step {step}/400 loss 2.000")
            time.sleep(0.02)
        raise AssertionError("the build was not cancelled")

    monkeypatch.setattr(model_jobs, "load_model", slow_build)
    monkeypatch.setattr("app.widgets.welcome.demo_is_built", lambda: False)
    page = window.model_page
    window.show_page(page)
    page.welcome._show_idle()
    assert "Build the demo model (about" in page.welcome.demo_button.text()
    click(qtbot, window, "welcomeDemoButton")
    qtbot.waitUntil(lambda: "left" in page.welcome.status_label.text(), timeout=30_000)
    assert "step" not in page.welcome.status_label.text()  # words, not the build's log
    click(qtbot, window, "welcomeCancelButton")
    wait_idle(qtbot, window, timeout=30_000)
    assert "Cancelled" in page.welcome.status_label.text()
    assert window.state.session is None and not error_dialogs(window)
    assert page.welcome.demo_button.isEnabled()


def test_models_in_the_hub_cache_are_listed_and_chosen_with_a_click(
    qtbot, window, tmp_path, tiny_model_dirs, monkeypatch
):
    cache = tmp_path / "hub"
    snapshot = put_in_hub_cache(cache, "org/tiny-llama", tiny_model_dirs["llama"])
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    page = window.model_page
    box = page.local_models
    box.add_folder(str(tiny_model_dirs["gpt2"]))
    qtbot.waitUntil(lambda: box.table.rowCount() == 2, timeout=30_000)
    wait_idle(qtbot, window)
    cells = [[box.table.item(r, c).text() for c in range(5)] for r in range(2)]
    assert cells[0][:2] == ["org/tiny-llama", "hub cache"] and cells[1][1] == "added"
    assert all(row[3] == "float32" and row[2].endswith(("KiB", "MiB")) for row in cells)
    assert cells[0][4].startswith("fits: ")  # the CPU's free RAM holds a tiny model
    window.findChild(QComboBox, "deviceCombo").setCurrentText("cuda")
    qtbot.waitUntil(lambda: "GiB GPU" in box.table.item(0, 4).text(), timeout=30_000)
    box.table.selectRow(0)
    assert page.chosen_model() == str(snapshot)
    window.findChild(QComboBox, "deviceCombo").setCurrentText("cpu")
    load_model(qtbot, window, page.model_combo.currentText())
    assert window.state.session is not None
    # A run on the loaded model: the adapter is no longer "fresh".
    assert window.findChild(QLabel, "info_adapter").text() == "fresh LoRA adapter"
    window.state.store.create_run("ppo", {}, name="first")
    window.state.runs_changed.emit()
    adapter = window.findChild(QLabel, "info_adapter").text()
    assert adapter.startswith("LoRA adapter trained by run first")


def test_the_last_model_reloads_only_once_the_window_is_up(qtbot, workspace, tmp_path):
    win = build_window(workspace, settings_path=tmp_path / "settings.ini")
    qtbot.addWidget(win)
    win.state.set_setting("model/name_or_path", "demo")
    win.restore_last_model()
    assert not any(job.uses_model for job in win.state.jobs())  # not before the paint
    win.show()
    qtbot.waitUntil(lambda: win.state.session is not None, timeout=120_000)
    assert win.all_pages_built()
    wait_idle(qtbot, win)
