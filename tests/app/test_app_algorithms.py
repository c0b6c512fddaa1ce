"""The Train page's algorithm choice (PPO / GRPO / RLOO): the form shows only the chosen
algorithm's settings, the dashboard only its plots, a GRPO run trains from the GUI and
resumes from the Runs page, and the Runs page overlays runs of different algorithms."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QSpinBox, QWidget

from app.algorithms import ALGORITHMS
from app.widgets.dashboard import TrainingDashboard
from app.widgets.train_form import TrainForm
from core.config import PPOConfig
from core.config.critic_free import GRPOConfig, RLOOConfig
from core.config.settings import settings_of
from tests.app.test_app_runs import _curves
from tests.app.test_app_support import (  # noqa: F401 (fixtures)
    click,
    load_model,
    wait_idle,
    window_fixture,
)


def _names(widget: QWidget) -> set[str]:
    return {child.objectName() for child in widget.findChildren(QWidget) if child.objectName()}


def _choose(form: TrainForm, label: str) -> None:
    combo = form.findChild(QComboBox, "algorithmCombo")
    combo.setCurrentText(label)
    combo.activated.emit(combo.currentIndex())


def test_the_form_shows_only_the_chosen_algorithms_settings(qtbot):
    form = TrainForm()
    qtbot.addWidget(form)
    combo = form.findChild(QComboBox, "algorithmCombo")
    assert [combo.itemText(i) for i in range(combo.count())][:3] == ["PPO", "GRPO", "RLOO"]
    assert "vfCoefSpin" in _names(form) and "groupSizeSpin" not in _names(form)

    _choose(form, "GRPO")
    names = _names(form)
    assert {"groupSizeSpin", "betaSpin", "klPenaltyCombo", "scaleRewardsCombo"} <= names
    assert not {"vfCoefSpin", "klModeCombo", "gammaSpin", "klTargetSpin"} & names
    assert isinstance(form.config(), GRPOConfig) and form.algorithm().kind == "grpo"
    for name in (f.widget_name() for f in settings_of(GRPOConfig)):
        # One widget per objectName: the old algorithm's rows are gone.
        assert len(form.findChildren(QWidget, name)) == 1, name

    form.field_widget("group_size").setValue(3)  # the batch left alone follows it
    assert form.config().batch_size % 3 == 0
    form.findChild(QDoubleSpinBox, "betaSpin").setValue(0.0)
    assert not form.field_widget("kl_penalty").isEnabled()  # no KL: nowhere to put it

    _choose(form, "RLOO")
    assert isinstance(form.config(), RLOOConfig) and "scaleRewardsCombo" not in _names(form)
    assert form.config().kl_penalty == "reward"
    _choose(form, "PPO")
    assert isinstance(form.config(), PPOConfig) and "klModeCombo" in _names(form)


def test_the_dashboard_drops_the_value_loss_and_adds_group_statistics(qtbot):
    dashboard = TrainingDashboard()
    qtbot.addWidget(dashboard)
    dashboard.reset(GRPOConfig(steps=3))
    loss_keys = list(dashboard.loss_plot._values)
    assert loss_keys == ["loss/policy", "loss/kl"]
    group = dashboard.findChild(type(dashboard.loss_plot), "groupPlot")
    assert group is not None and group in dashboard.plots
    dashboard.add_step(1, 3, {"reward/mean": 0.1, "group/zero_std_frac": 0.25, "loss/kl": 0.0})
    group.refresh()
    assert group.point_count() == 1
    dashboard.reset(PPOConfig(steps=3))
    assert list(dashboard.loss_plot._values) == ["loss/policy", "loss/value"]
    assert group not in dashboard.plots and group.isHidden()


def test_grpo_trains_from_the_gui_and_resumes_from_the_runs_page(qtbot, window, tmp_path):
    load_model(qtbot, window)
    page = window.train_page
    window.show_page(page)
    _choose(page.form, "GRPO")
    values = {
        "trainStepsSpin": 2,
        "batchSizeSpin": 4,
        "groupSizeSpin": 2,
        "miniBatchSpin": 4,
        "maxNewTokensSpin": 8,
        "checkpointEverySpin": 1,
        "loraRankSpin": 16,  # the Model page's LoRA: no reload needed
        "loraAlphaSpin": 32,
    }
    for name, value in values.items():
        page.findChild(QSpinBox, name).setValue(value)
    click(qtbot, window, "startTrainingButton")
    qtbot.waitUntil(lambda: page.phase == "idle", timeout=180_000)
    wait_idle(qtbot, window)
    store = window.state.store
    run = store.runs()[-1]
    assert run.kind == "grpo" and run.status == "finished"
    assert len(store.metrics(run.id)) == 2
    assert "loss/value" not in store.metrics(run.id)[0]
    qtbot.waitUntil(page.dashboard.all_drawn)
    assert page.dashboard.findChild(type(page.dashboard.loss_plot), "groupPlot").point_count() == 2
    assert page.grab().save(str(tmp_path / "train_grpo.png"))  # the page draws offscreen

    # Resume from step 1 with the PPO form showing: the checkpoint's algorithm is chosen.
    _choose(page.form, "PPO")
    runs = window.runs_page
    window.show_page(runs)
    runs.select_runs([run.id])
    runs.checkpoint_list.setCurrentRow(0)  # step 1
    click(qtbot, window, "resumeRunButton")
    qtbot.waitUntil(lambda: page.phase == "idle", timeout=120_000)
    wait_idle(qtbot, window)
    assert page.form.algorithm().kind == "grpo"
    assert store.run(run.id).status == "finished"
    total = page.form.config().steps  # the form's step total is the run's new one
    assert [m["step"] for m in store.metrics(run.id)] == list(range(1, total + 1))


def test_runs_of_different_algorithms_overlay_with_their_kind(qtbot, window):
    store = window.state.store
    ids = {}
    for kind in ALGORITHMS:
        ids[kind] = store.create_run(kind, {}, name=f"a {kind} run")
        for step in (1, 2):
            store.add_metrics(ids[kind], step, {"reward/mean": step / 10})
    runs = window.runs_page
    window.show_page(runs)
    runs.refresh()
    runs.select_runs(list(ids.values()))
    # Offered while any on-policy run is selected (each kind offers its own metrics).
    runs.metric_combo.setCurrentText("reward/mean")
    assert runs.metric_combo.currentText() == "reward/mean"
    curves = _curves(runs.overlay)
    for kind, run_id in ids.items():
        assert curves[f"{run_id}: a {kind} run ({kind})"][0] == [1.0, 2.0]
