"""The memory planner on the Model and Train pages (objectName memoryPlanLabel)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QSpinBox

from tests.app.test_app_support import (  # noqa: F401 (fixtures)
    JOB_TIMEOUT_MS,
    load_model,
    wait_idle,
    window_fixture,
)


def _plan_label(page) -> QLabel:
    return page.findChild(QLabel, "memoryPlanLabel")


def test_model_page_plans_the_chosen_model_before_loading_it(qtbot, window):
    page = window.model_page
    page.model_combo.setEditText("random:qwen2.5-0.5b")
    page.dtype_combo.setCurrentText("float32")
    label = _plan_label(page)
    qtbot.waitUntil(lambda: "float32" in label.text() and "Peak" in label.text(), timeout=5000)
    float32 = label.text()
    assert "generation cache" in float32 and "On a GPU" in float32
    page.dtype_combo.setCurrentText("bfloat16")
    qtbot.waitUntil(lambda: "(PPO, bfloat16," in label.text(), timeout=5000)
    assert label.text() != float32
    page.model_combo.setEditText("/no/such/model")
    qtbot.waitUntil(lambda: label.text().startswith("No memory plan"), timeout=5000)
    wait_idle(qtbot, window)


def test_train_page_plans_the_loaded_model_with_the_form_settings(qtbot, window):
    load_model(qtbot, window, "demo")
    page = window.train_page
    label = _plan_label(page)
    assert "Peak" in label.text() and "fits in RAM" in label.text()
    before = label.text()
    spin = page.form.findChild(QSpinBox, "batchSizeSpin")
    spin.setValue(spin.value() * 4)
    qtbot.waitUntil(lambda: label.text() != before, timeout=JOB_TIMEOUT_MS)
    assert "Peak" in label.text()
