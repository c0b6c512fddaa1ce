"""DPO/IPO, KTO and SFT on the Train page: one algorithm choice (algorithmCombo) lists
them beside PPO, GRPO and RLOO; choosing one shows its settings and data source, Start
trains it in the background with its live dashboard, Pause / Resume / Stop drive it
through the RunControl PPO uses, and the Runs page resumes it like an on-policy run."""

from __future__ import annotations

import os

import pytest
from PySide6.QtWidgets import QComboBox, QSpinBox

from app.algorithms import ALGORITHMS, offline, on_policy
from app.widgets.offline_dashboard import OfflineDashboard
from core.offline.config import DPOConfig, KTOConfig, ORPOConfig, SFTConfig, SimPOConfig
from tests.app.test_app_algorithms import _choose
from tests.app.test_app_support import (  # noqa: F401 (fixtures)
    click,
    load_model,
    steps_take_at_least,
    wait_idle,
    window_fixture,
)
from tests.core.test_cli_offline import fill_store

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_one_registry_offers_every_algorithm_once(qtbot):
    from app.widgets.train_form import TrainForm

    assert list(ALGORITHMS) == ["ppo", "grpo", "rloo", "dpo", "kto", "sft", "simpo", "orpo"]
    assert list(offline()) == ["dpo", "kto", "sft", "simpo", "orpo"]
    assert list(on_policy()) == ["ppo", "grpo", "rloo"]
    form = TrainForm()
    qtbot.addWidget(form)
    combo = form.findChild(QComboBox, "algorithmCombo")
    labels = [combo.itemText(i) for i in range(combo.count())]
    assert labels == [choice.label for choice in ALGORITHMS.values()]
    form.show()
    assert form.reward_box.isVisible() and not form.data_box.isVisible()
    for label, config_class in (
        ("DPO / IPO (from pairs)", DPOConfig),
        ("KTO (from thumbs)", KTOConfig),
        ("SimPO (from pairs, no reference)", SimPOConfig),
        ("ORPO (from pairs, no reference)", ORPOConfig),
        ("SFT (from demonstrations)", SFTConfig),
    ):
        _choose(form, label)
        assert isinstance(form.config(), config_class)
        assert not form.reward_box.isVisible() and form.data_box.isVisible()
        assert not form.prompt_set_combo.isVisible()  # no sampling: no prompt set
    assert form.data_box.data_edit.isVisible() and not form.data_box.pairs_check.isVisible()
    _choose(form, "KTO (from thumbs)")
    assert form.data_box.pairs_check.isVisible() and not form.data_box.data_edit.isVisible()
    form.data_box.pairs_check.setChecked(False)
    form.findChild(QComboBox, "offlineSourceCombo").setCurrentText("human")
    assert (form.offline_data().source, form.offline_data().with_pairs) == ("human", False)
    _choose(form, "DPO / IPO (from pairs)")
    loss = form.findChild(QComboBox, "lossTypeCombo")  # IPO is DPO's loss choice
    assert [loss.itemText(i) for i in range(loss.count())] == ["sigmoid", "ipo"]
    _choose(form, "PPO")
    assert form.reward_box.isVisible() and not form.data_box.isVisible()
    assert form.prompt_set_combo.isVisible()


def _set(page, values: dict[str, int]) -> None:
    for name, value in values.items():
        page.findChild(QSpinBox, name).setValue(value)


def test_dpo_trains_from_the_train_page_and_resumes_from_the_runs_page(
    qtbot, window, tiny_model_dir, tmp_path
):
    fill_store(window.state.workspace)
    load_model(qtbot, window, str(tiny_model_dir))
    page = window.train_page
    window.show_page(page)
    _choose(page.form, "DPO / IPO (from pairs)")
    _set(page, {"trainStepsSpin": 3, "batchSizeSpin": 2, "checkpointEverySpin": 1})
    page.findChild(QComboBox, "lossTypeCombo").setCurrentText("ipo")
    page.findChild(QComboBox, "offlineSourceCombo").setCurrentText("human")
    click(qtbot, window, "startTrainingButton")
    qtbot.waitUntil(lambda: page.phase == "idle", timeout=180_000)
    wait_idle(qtbot, window)
    dashboard = page.shown_dashboard
    assert isinstance(dashboard, OfflineDashboard) and dashboard.objectName() == "dpoDashboard"
    names = {plot.objectName() for plot in dashboard.plots}
    assert {"offlineLossPlot", "preferenceRewardsPlot", "preferenceAccuracyPlot", "driftPlot"} <= (
        names
    )
    assert all(plot.point_count() == 3 for plot in dashboard.plots)
    rewards = dashboard.findChild(type(dashboard.plots[0]), "preferenceRewardsPlot")
    assert {"rewards/chosen", "rewards/rejected", "rewards/margins"} <= set(rewards._values)
    store = window.state.store
    run = store.runs("dpo")[-1]
    assert run.status == "finished" and run.config["dpo"]["loss_type"] == "ipo"
    assert run.config["data"]["source"] == "human" and run.config["data"]["used"] == 9
    assert "finished" in page.status_label.text() and page.run_bar.state_label.text() == "Finished"
    assert "step-3" in page.run_bar.checkpoint_label.toolTip()
    assert not page.ai_round_button.isEnabled() and not page.rate_samples_button.isEnabled()
    for plot in dashboard.plots:
        plot.refresh()  # the last step's redraw may still be on its timer
    if os.environ.get("RLHF_SCREENSHOT_DIR"):
        page.grab().save(os.path.join(os.environ["RLHF_SCREENSHOT_DIR"], "train_dpo.png"))
    assert page.grab().save(str(tmp_path / "train_dpo.png"))

    # Resume from step 1 with the PPO form showing: DPO and the run's data are chosen.
    _choose(page.form, "PPO")
    page.findChild(QComboBox, "offlineSourceCombo").setCurrentText("all")
    runs = window.runs_page
    window.show_page(runs)
    runs.select_runs([run.id])
    runs.checkpoint_list.setCurrentRow(0)  # step 1
    click(qtbot, window, "resumeRunButton")
    qtbot.waitUntil(lambda: page.phase == "idle", timeout=120_000)
    wait_idle(qtbot, window)
    assert page.form.algorithm().kind == "dpo" and page.form.offline_data().source == "human"
    assert store.run(run.id).status == "finished"
    total = page.form.config().steps  # the form's step total is the run's new one
    assert [m["step"] for m in store.metrics(run.id)] == list(range(1, total + 1))
    assert all(plot.point_count() == total for plot in page.shown_dashboard.plots)


def test_kto_pauses_and_resumes_through_the_run_control(qtbot, window, tiny_model_dir, monkeypatch):
    from core.offline.kto import KTOTrainer

    # Or the first tiny step ends before the click on Pause reaches the run (two steps).
    steps_take_at_least(monkeypatch, KTOTrainer, 1.0)
    fill_store(window.state.workspace)
    load_model(qtbot, window, str(tiny_model_dir))
    page = window.train_page
    window.show_page(page)
    _choose(page.form, "KTO (from thumbs)")
    _set(page, {"trainStepsSpin": 3, "batchSizeSpin": 2})
    click(qtbot, window, "startTrainingButton")
    qtbot.waitUntil(lambda: page.phase == "running")
    click(qtbot, window, "pauseTrainingButton")  # before the first step ends: after step 1
    qtbot.waitUntil(lambda: page.phase == "paused", timeout=120_000)
    store = window.state.store
    run = store.runs("kto")[-1]
    assert store.run(run.id).status == "paused" and len(store.metrics(run.id)) == 1
    assert page.shown_dashboard.objectName() == "ktoDashboard"
    click(qtbot, window, "resumeTrainingButton")
    qtbot.waitUntil(lambda: page.phase == "idle", timeout=120_000)
    wait_idle(qtbot, window)
    assert store.run(run.id).status == "finished" and len(store.metrics(run.id)) == 3
    assert all(plot.point_count() == 3 for plot in page.shown_dashboard.plots)


@pytest.mark.parametrize(
    ("label", "kind", "own_plot"),
    [
        ("SimPO (from pairs, no reference)", "simpo", None),
        ("ORPO (from pairs, no reference)", "orpo", "lossTermsPlot"),
    ],
)
def test_reference_free_pair_trainers_train_live_and_resume_from_the_runs_page(
    qtbot, window, tiny_model_dir, tmp_path, label, kind, own_plot
):
    fill_store(window.state.workspace)
    load_model(qtbot, window, str(tiny_model_dir))
    page = window.train_page
    window.show_page(page)
    _choose(page.form, label)
    assert page.form.data_box.isVisible() and not page.form.reward_box.isVisible()
    _set(page, {"trainStepsSpin": 3, "batchSizeSpin": 2, "checkpointEverySpin": 1})
    page.findChild(QComboBox, "tiesCombo").setCurrentText("soft")
    click(qtbot, window, "startTrainingButton")
    qtbot.waitUntil(lambda: page.phase == "idle", timeout=180_000)
    wait_idle(qtbot, window)
    dashboard = page.shown_dashboard
    assert isinstance(dashboard, OfflineDashboard) and dashboard.objectName() == f"{kind}Dashboard"
    names = {plot.objectName() for plot in dashboard.plots}
    assert {"offlineLossPlot", "preferenceRewardsPlot", "preferenceAccuracyPlot"} <= names
    assert "driftPlot" not in names  # no reference model, no drift from it
    assert own_plot is None or own_plot in names
    assert all(plot.point_count() == 3 for plot in dashboard.plots)
    store = window.state.store
    run = store.runs(kind)[-1]
    assert run.status == "finished" and run.config[kind]["ties"] == "soft"
    assert run.config["data"]["used"] == 11  # dpo's pairs, the tie kept
    for plot in dashboard.plots:
        plot.refresh()
    assert page.grab().save(str(tmp_path / f"train_{kind}.png"))

    # The form says skip; the resumed run keeps the checkpoint's soft ties (same data).
    page.findChild(QComboBox, "tiesCombo").setCurrentText("skip")
    _choose(page.form, "PPO")
    runs = window.runs_page
    window.show_page(runs)
    runs.select_runs([run.id])
    runs.checkpoint_list.setCurrentRow(0)  # step 1
    click(qtbot, window, "resumeRunButton")
    qtbot.waitUntil(lambda: page.phase == "idle", timeout=120_000)
    wait_idle(qtbot, window)
    assert page.form.algorithm().kind == kind
    assert store.run(run.id).status == "finished", store.run(run.id).error
    total = page.form.config().steps
    assert [m["step"] for m in store.metrics(run.id)] == list(range(1, total + 1))
