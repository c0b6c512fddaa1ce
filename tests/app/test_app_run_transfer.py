"""Runs page: export a run for a cluster and import what it trained there, each in a
background job behind a folder dialog; the imported curve overlays its source run's."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from tests.app.test_app_runs import _curves
from tests.app.test_app_support import (
    click,
    error_dialogs,
    wait_idle,
    window_fixture,  # noqa: F401 (fixture)
)
from tests.core.test_run_transfer import SCORER, _recorded_run


def _choose_folder(monkeypatch, folder: Path) -> list[str]:
    """Make the folder dialog answer `folder`; returns the captions it was asked with."""
    asked: list[str] = []

    def answer(_parent, caption="", *_args, **_kwargs):
        asked.append(caption)
        return str(folder)

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(answer))
    return asked


def _info_texts(win) -> list[str]:
    return [box.text() for box in win.findChildren(QMessageBox, "infoDialog") if box.isVisible()]


def test_export_then_import_a_cluster_run_from_the_runs_page(qtbot, window, monkeypatch, tmp_path):
    scorer = tmp_path / "score.py"
    scorer.write_text(SCORER, encoding="utf-8")
    source = _recorded_run(window.state.workspace, scorer)
    runs = window.runs_page
    window.show_page(runs)
    runs.refresh()
    runs.select_runs([source])

    exports = tmp_path / "exports"
    exports.mkdir()
    asked = _choose_folder(monkeypatch, exports)
    click(qtbot, window, "exportRunButton")
    wait_idle(qtbot, window)
    assert not error_dialogs(window), error_dialogs(window)[0].text()
    folder = exports / f"ppo-run{source}-cluster"
    assert asked and (folder / "launch.sh").is_file() and os.access(folder / "launch.sh", os.X_OK)
    assert (folder / "rewards" / "score.py").read_text() == SCORER
    assert any("launch.sh" in text for text in _info_texts(window))
    click(qtbot, window, "exportRunButton")  # again: beside the first, never over it
    wait_idle(qtbot, window)
    assert (exports / f"ppo-run{source}-cluster-2" / "launch.sh").is_file()

    # What launch.sh would have written there: a workspace with the run trained further.
    trained = _recorded_run(folder / "workspace", Path("rewards/score.py"))
    from core.store import Store

    with Store.open(folder / "workspace") as cluster:
        for step in (2, 3):
            cluster.add_metrics(trained, step, {"reward/mean": step / 10})
    _choose_folder(monkeypatch, folder)
    click(qtbot, window, "importRunButton")
    wait_idle(qtbot, window)
    assert not error_dialogs(window), error_dialogs(window)[0].text()

    store = window.state.store
    imported = store.runs()[-1]
    assert imported.name.endswith("(imported)") and runs.table.rowCount() == 2
    assert sorted(runs.selected_run_ids()) == [source, imported.id]
    curves = _curves(runs.overlay)
    assert curves[f"{imported.id}: {imported.name}"][0] == [1.0, 2.0, 3.0]
    assert curves[f"{source}: {store.run(source).name}"][0] == [1.0]
    name_cell = runs.table.item(0, 1)  # newest first
    assert str(folder) in name_cell.toolTip()
    window.grab().save(str(tmp_path / "runs-imported.png"))
    if os.environ.get("RLHF_STUDIO_SHOT_DIR"):  # a look at the page, on request
        window.grab().save(os.path.join(os.environ["RLHF_STUDIO_SHOT_DIR"], "runs-import.png"))


def test_export_without_a_selected_run_says_what_to_do(qtbot, window, monkeypatch, tmp_path):
    asked = _choose_folder(monkeypatch, tmp_path)
    window.show_page(window.runs_page)
    click(qtbot, window, "exportRunButton")
    assert not asked
    [dialog] = error_dialogs(window)
    assert "Select the run to export" in dialog.text()
