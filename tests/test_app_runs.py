"""Runs page: overlaid curves of several runs, including metrics only some steps report."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QMessageBox

from tests.test_app_support import window_fixture  # noqa: F401 (fixture)


def _curves(plot) -> dict[str, tuple[list[float], list[float]]]:
    curves = {}
    for item in plot.getPlotItem().listDataItems():
        x, y = item.getData()
        curves[item.name()] = ([] if x is None else list(x), [] if y is None else list(y))
    return curves


def test_overlay_draws_held_out_reward_of_the_steps_that_have_it(qtbot, window):
    store = window.state.store
    evaluated = store.create_run("ppo", {}, name="with held-out")
    for step in range(1, 5):
        metrics = {"reward/mean": step / 10}
        if step % 2 == 0:
            metrics["eval/reward/mean"] = step / 20
        store.add_metrics(evaluated, step, metrics)
    plain = store.create_run("ppo", {}, name="without")
    store.add_metrics(plain, 1, {"reward/mean": 0.0})
    runs = window.runs_page
    window.show_page(runs)
    runs.refresh()
    runs.select_runs([evaluated, plain])

    combo = window.findChild(QComboBox, "overlayMetricCombo")
    assert _curves(runs.overlay)[f"{evaluated}: with held-out"][0] == [1.0, 2.0, 3.0, 4.0]
    combo.setCurrentText("eval/reward/mean")
    curves = _curves(runs.overlay)
    assert curves[f"{evaluated}: with held-out"] == ([2.0, 4.0], [0.1, 0.2])  # connected
    assert curves[f"{plain}: without"] == ([], [])


def test_export_merged_offers_gguf_and_ollama(qtbot, window, tmp_path, monkeypatch):
    """The Runs page's merged export asks for the format; GGUF and Ollama come out."""
    import pytest

    pytest.importorskip("gguf")
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    from app.pages.runs_page import MERGED_FORMATS
    from tests.test_app_support import load_model, wait_idle

    load_model(qtbot, window)
    wait_idle(qtbot, window)
    store = window.state.store
    run_id = store.create_run("ppo", {}, name="exported")
    step = tmp_path / "step-1"
    window.state.session.save_adapter(step / "adapter")
    store.add_checkpoint(run_id, 1, str(step))
    runs = window.runs_page
    window.show_page(runs)
    runs.refresh()
    runs.select_runs([run_id])
    runs.checkpoint_list.setCurrentRow(0)
    label = next(k for k, v in MERGED_FORMATS.items() if v == "gguf")
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: (label, True))
    target = tmp_path / "out.gguf"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    runs._on_export_merged()
    wait_idle(qtbot, window)
    assert target.read_bytes()[:4] == b"GGUF"
    runs.export_merged_as("ollama", window.state.session.spec, step / "adapter", tmp_path / "o")
    wait_idle(qtbot, window)
    assert (tmp_path / "o" / "Modelfile").read_text().startswith("FROM ./model.gguf")
    for box in window.findChildren(QMessageBox, "infoDialog"):
        box.close()
