"""The DPO / KTO / SFT pieces of the Train page: the algorithm registry, the form rows
their settings make, the worker job, and the live dashboard fed by a real run (the Train
page itself: tests/app/test_app_train_offline.py)."""

from __future__ import annotations

import os

import pytest
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QWidget

from app.algorithms import on_policy
from app.jobs.offline import OfflineRequest, run_offline
from app.offline_algorithms import OFFLINE_ALGORITHMS as ALGORITHMS
from app.widgets.offline_dashboard import OfflineDashboard
from app.widgets.settings_form import SettingRows
from core.config import ModelSpec
from core.model.session import ModelSession
from core.offline.config import DPOConfig, SFTConfig
from core.store import Store
from core.train import RunControl, RunEnded, RunStarted, StepDone
from tests.core.test_cli_offline import fill_store

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_registry_lists_every_algorithm_with_its_settings(qtbot):
    assert list(ALGORITHMS) == ["dpo", "kto", "sft", "simpo", "orpo"]
    assert all(entry.plots for entry in ALGORITHMS.values())
    assert not set(ALGORITHMS) & set(on_policy())  # one entry per algorithm across both
    host = QWidget()
    qtbot.addWidget(host)
    form = QFormLayout(host)
    edited = []
    rows = SettingRows(DPOConfig, "main", form, edited.append)
    assert host.findChild(QComboBox, "lossCombo") is None  # named by field, not flag
    loss = host.findChild(QComboBox, "lossTypeCombo")
    assert [loss.itemText(i) for i in range(loss.count())] == ["sigmoid", "ipo"]
    beta = host.findChild(QDoubleSpinBox, "betaSpin")
    beta.setValue(0.3)
    assert edited[-1] == "beta" and rows.values()["beta"] == pytest.approx(0.3)


@pytest.mark.parametrize("kind", ["dpo", "kto", "sft", "simpo", "orpo"])
def test_the_job_trains_and_the_dashboard_draws_every_step(qtbot, tiny_model_dir, workspace, kind):
    fill_store(workspace)
    config_class = ALGORITHMS[kind].config_class
    config = config_class(steps=3, batch_size=2, eval_every=1, learning_rate=5e-3)
    session = ModelSession.load(ModelSpec(name_or_path=str(tiny_model_dir), device="cpu"))
    events = list(run_offline(session, OfflineRequest(workspace, kind, config), RunControl()))
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunEnded)
    assert events[-1].status == "finished" and events[-1].checkpoint.endswith("step-3")
    steps = [event for event in events if isinstance(event, StepDone)]

    dashboard = OfflineDashboard(ALGORITHMS[kind].plots)
    qtbot.addWidget(dashboard)
    dashboard.resize(1200, 500)
    dashboard.reset(config.steps)
    for event in steps:
        dashboard.add_step(event.step, event.total, event.metrics)
    assert all(plot.point_count() == 3 for plot in dashboard.plots)
    assert dashboard.step_label.text().startswith("Step 3/3 · loss ")
    with Store.open(workspace) as store:
        run = store.runs(kind)[0]
        assert run.config["data"]["used"] > 0
        dashboard.load_history(config.steps, store.metrics(run.id))
    assert all(plot.point_count() == 3 for plot in dashboard.plots)
    if kind == "dpo" and os.environ.get("RLHF_SCREENSHOT_DIR"):
        dashboard.show()
        qtbot.waitExposed(dashboard)
        for plot in dashboard.plots:
            plot.refresh()
        dashboard.grab().save(os.path.join(os.environ["RLHF_SCREENSHOT_DIR"], "dpo_dash.png"))


def test_sft_reads_a_demonstrations_file(tiny_model_dir, workspace, tmp_path):
    demos = tmp_path / "demos.csv"
    demos.write_text("prompt,response\n" + "".join(f"P{i},Lovely.\n" for i in range(5)))
    session = ModelSession.load(ModelSpec(name_or_path=str(tiny_model_dir), device="cpu"))
    request = OfflineRequest(workspace, "sft", SFTConfig(steps=1, batch_size=2), data_file=demos)
    events = list(run_offline(session, request, RunControl()))
    assert events[-1].status == "finished"
    with Store.open(workspace) as store:
        assert store.runs("sft")[0].config["data"] == {
            "source": str(demos),
            "used": 5,
            "skipped": {},
        }
