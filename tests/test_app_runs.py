"""Runs page: overlaid curves of several runs, including metrics only some steps report."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox

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
