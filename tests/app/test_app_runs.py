"""Runs page: overlaid curves of several runs, including metrics only some steps report."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QMessageBox

from tests.app.test_app_support import window_fixture  # noqa: F401 (fixture)


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


def _cells(runs, run_id: int) -> dict[str, str]:
    header = [runs.table.horizontalHeaderItem(c).text() for c in range(runs.table.columnCount())]
    for row in range(runs.table.rowCount()):
        if runs.table.item(row, 0).text() == str(run_id):
            return {name: runs.table.item(row, c).text() for c, name in enumerate(header)}
    raise AssertionError(f"run {run_id} not listed")


def test_each_run_kind_shows_its_own_metrics_figures_and_config(qtbot, window):
    store = window.state.store
    dpo = store.create_run("dpo", {"beta": 0.1, "lora": {"r": 16}}, name="dpo")
    for step in range(1, 4):
        held_out = {"eval/rewards/accuracy": 0.75} if step == 3 else {}
        store.add_metrics(dpo, step, {"loss": 0.7 - step / 10, "rewards/margins": step / 10,
                                      "rewards/accuracy": 0.5 + step / 10, **held_out})  # fmt: skip
    rm = store.create_run("reward_model", {"rm": {"epochs": 2}}, name="rm")
    store.add_metrics(rm, 1, {"train/loss": 0.6, "eval/loss": 0.65, "eval/accuracy": 0.7})
    ppo = store.create_run("ppo", {}, name="ppo")
    store.add_metrics(ppo, 1, {"reward/mean": 0.25, "objective/kl": 0.05})
    runs = window.runs_page
    window.show_page(runs)
    runs.refresh()
    combo = window.findChild(QComboBox, "overlayMetricCombo")

    # Nothing selected: a hint, not empty 0-1 axes.
    assert "Select" in runs.overlay.hint_text()

    # Each row's figures are its kind's, none left blank.
    assert (_cells(runs, dpo)["Result"], _cells(runs, dpo)["Also"]) == (
        "accuracy 0.750", "margin +0.300")  # fmt: skip
    assert _cells(runs, rm)["Result"] == "held-out accuracy 0.700"
    assert _cells(runs, ppo)["Result"] == "reward +0.250" and _cells(runs, ppo)["Also"]

    # A DPO run offers its loss, margins and accuracy, and draws the loss at once.
    runs.select_runs([dpo])
    offered = [combo.itemText(i) for i in range(combo.count())]
    assert offered[:3] == ["loss", "rewards/margins", "rewards/accuracy"]
    assert "reward/mean" not in offered
    assert _curves(runs.overlay)[f"{dpo}: dpo"][0] == [1.0, 2.0, 3.0]
    assert runs.overlay.hint_text() == ""
    assert runs.config_view.settings() == {"beta": "0.1", "lora.r": "16"}

    # A reward model: its held-out accuracy first.
    runs.select_runs([rm])
    assert combo.currentText() == "eval/accuracy"
    assert _curves(runs.overlay)[f"{rm}: rm"] == ([1.0], [0.7])


def test_export_merged_offers_gguf_and_ollama(qtbot, window, tmp_path, monkeypatch):
    """The Runs page's merged export asks for the format; GGUF and Ollama come out."""
    import pytest

    pytest.importorskip("gguf")
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    from app.pages.runs_page import MERGED_FORMATS
    from tests.app.test_app_support import load_model, wait_idle

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
