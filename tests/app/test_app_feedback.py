"""AI Feedback page: a judge labels pairs into the store, a reward model trains with a live
per-epoch plot and can be handed to PPO, and the agreement table shows the figures of
hand-made labels. The page is built as the main window builds it: FeedbackPage(state)."""

from __future__ import annotations

import pytest

from app.app_state import AppState
from app.main import settings_at
from app.pages.feedback_page import FeedbackPage
from core.rlaif.agreement import cohen_kappa
from core.store import Store
from tests.app.test_app_support import click, error_dialogs

JOB_TIMEOUT_MS = 60_000
POSITIVE = ["I loved it, wonderful", "great fun and a lovely story", "superb, really happy",
            "excellent and charming", "a delight from start to end", "brilliant and warm"]  # fmt: skip
NEGATIVE = ["awful, I hated it", "boring and a waste of money", "terrible, broke at once",
            "dull and ugly", "the worst film this year", "bad acting and a sad mess"]  # fmt: skip


@pytest.fixture
def page(qtbot, workspace, tmp_path):
    """The page on a fresh workspace, shown; errors open dialogs over it."""
    state = AppState(workspace, settings_at(tmp_path / "settings.ini"))
    widget = FeedbackPage(state)
    state.errors.set_parent_widget(widget)
    qtbot.addWidget(widget)
    widget.resize(1300, 820)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    state.stop_all_jobs()
    qtbot.waitUntil(lambda: not state.jobs(), timeout=JOB_TIMEOUT_MS)
    state.close()


def wait_done(qtbot, page) -> None:
    qtbot.waitUntil(lambda: not page.state.jobs(), timeout=JOB_TIMEOUT_MS)
    assert not error_dialogs(page), error_dialogs(page)[0].text()


def add_pairs(store: Store, prompt: str, texts: list[str]) -> list[int]:
    """Generations of one prompt; returns their ids."""
    [prompt_id] = store.add_prompts([prompt], set_name="test")
    return [store.add_generation(prompt_id, text, "people", None, {}, None) for text in texts]


def test_tiny_judge_labels_pairs_into_the_store(qtbot, page, tiny_model_dir):
    store = page.state.store
    first = add_pairs(store, "The movie was", POSITIVE[:2] + NEGATIVE[:2])
    add_pairs(store, "The blender", POSITIVE[2:4] + NEGATIVE[2:4])
    prompt_id = store.generation(first[0]).prompt_id
    store.add_comparison(prompt_id, first[0], first[1], "left", "ann")
    page.judge_form.judge.select(str(tiny_model_dir))
    page.judge_form.pairs_spin.setValue(4)
    page.judge_form.sample_check.setChecked(False)

    click(qtbot, page, "labelPairsButton")
    assert page.stop_label_button.isEnabled()
    wait_done(qtbot, page)

    rows = store.comparisons("ai")
    assert len(rows) == 4 and {row.rater for row in rows} == {"ai:gpt2#default"}
    assert all(0.0 <= row.soft_label <= 1.0 and "p_left_swapped" in row.detail for row in rows)
    # The person's pair comes first, so judge and person can be compared later.
    assert any({row.left_id, row.right_id} == {first[0], first[1]} for row in rows)
    table = page.verdict_table
    assert table.rowCount() == 4
    newest = max(rows, key=lambda row: row.id)
    assert table.item(0, 3).text() == f"{newest.soft_label:.3f}"
    assert table.item(0, 4).text() == f"{newest.detail['p_left_first']:.3f}"
    assert "4 pairs judged" in page.label_status.text()
    assert "1 that people compared" in page.label_status.text()
    undecided = sum(abs(2 * row.soft_label - 1) < 0.2 for row in rows)
    assert (f"{undecided} undecided" in page.label_status.text()) == (undecided > 0)
    assert page.label_button.isEnabled() and not page.stop_label_button.isEnabled()

    # Again with Stop pressed at once: the judge stops before its first batch.
    add_pairs(store, "I loved", POSITIVE[4:] + NEGATIVE[4:])
    click(qtbot, page, "labelPairsButton")
    click(qtbot, page, "stopLabellingButton")
    wait_done(qtbot, page)
    assert page.label_status.text().startswith("Stopped: 0 pairs")
    assert len(store.comparisons("ai")) == 4


def seed_human_preferences(store: Store, n: int = 12) -> None:
    """n human comparisons where the more positive review is preferred (either side)."""
    for i in range(n):
        good, bad = POSITIVE[i % len(POSITIVE)], NEGATIVE[i % len(NEGATIVE)]
        left, right = (good, bad) if i % 2 == 0 else (bad, good)
        ids = add_pairs(store, f"Review {i}:", [left, right])
        prompt_id = store.generation(ids[0]).prompt_id
        store.add_comparison(prompt_id, ids[0], ids[1], "left" if i % 2 == 0 else "right", "ann")


def test_reward_model_trains_with_a_live_plot_and_goes_to_ppo(qtbot, page, tiny_model_dir):
    store = page.state.store
    seed_human_preferences(store)
    form = page.rm_form
    form.base.select(str(tiny_model_dir))
    form.source_combo.setCurrentIndex(form.source_combo.findData("human"))
    form.epochs_spin.setValue(2)
    expected = page.state.workspace / "reward_models" / "rm-1"
    assert form.out_edit.placeholderText() == str(expected)
    plot = page.window().findChild(type(page.rm_plot), "rmLossPlot")
    seen = []  # (points, still training) at each epoch signal
    original = page._on_epoch

    def spy(report):
        original(report)
        seen.append((plot.point_count(), "rm" in page._busy))

    page._on_epoch = spy  # connected when the job starts

    click(qtbot, page, "trainRewardModelButton")
    assert not page.train_rm_button.isEnabled()
    wait_done(qtbot, page)

    assert seen == [(1, True), (2, True)]  # one point per epoch, while training ran
    plot.refresh()
    x, y = plot.getPlotItem().listDataItems()[0].getData()
    run = store.runs("reward_model")[-1]
    metrics = store.metrics(run.id)
    assert list(x) == [1.0, 2.0] and list(y) == [m["train/loss"] for m in metrics]
    assert run.status == "finished"
    assert (expected / "rm_meta.json").is_file() and (expected / "config.json").is_file()
    assert page.last_reward_model == str(expected)
    assert "Held-out accuracy" in page.rm_result.text() and str(expected) in page.rm_result.text()
    assert form.out_edit.placeholderText().endswith("rm-2")

    with qtbot.waitSignal(page.reward_model_ready, timeout=1000) as blocker:
        click(qtbot, page, "useRewardModelButton")
    assert blocker.args == [str(expected)]

    # The agreement panel scores the new reward model on the human pairs it never saw.
    click(qtbot, page, "refreshAgreementButton")
    wait_done(qtbot, page)
    table = page.agreement_table
    assert table.rowCount() == 1
    accuracy = table.value("RM rm-1", "Agreement")
    assert accuracy.endswith(" %") and 0.0 <= float(accuracy[:-2]) <= 100.0


def test_agreement_table_shows_hand_made_figures(qtbot, page):
    store = page.state.store
    ids = add_pairs(store, "The movie was", [f"text {i}" for i in range(8)])
    prompt_id = store.generation(ids[0]).prompt_id
    human = ["left", "left", "right", "left"]
    # The judge saw the second pair the other way round: "right" there agrees with "left".
    ai = [  # (left, right, verdict, p_left_first, p_left_swapped)
        (ids[0], ids[1], "left", 0.8, 0.7),
        (ids[3], ids[2], "right", 0.3, 0.4),
        (ids[4], ids[5], "right", 0.2, 0.3),
        (ids[6], ids[7], "right", 0.6, 0.3),  # A won in both orders: position decided
    ]
    for pair, verdict in enumerate(human):
        store.add_comparison(prompt_id, ids[2 * pair], ids[2 * pair + 1], verdict, "ann")
    for left, right, verdict, first, swapped in ai:
        detail = {"p_left_first": first, "p_left_swapped": swapped}
        store.add_comparison(prompt_id, left, right, verdict, "ai:stub",
                             soft_label=(first + swapped) / 2, detail=detail)  # fmt: skip

    click(qtbot, page, "refreshAgreementButton")
    wait_done(qtbot, page)

    table = page.agreement_table
    assert table.rowCount() == 1  # no reward model yet
    kappa = cohen_kappa(human, ["left", "left", "right", "right"])
    assert kappa == pytest.approx(0.5)
    assert table.value("ai:stub", "AI labels") == "4"
    assert table.value("ai:stub", "Shared with people") == "4"
    assert table.value("ai:stub", "Agreement") == "75.0 %"
    assert table.value("ai:stub", "Cohen's κ") == "0.50"
    assert table.value("ai:stub", "Position bias") == "25.0 %"
    bias = table.item(0, table.COLUMNS.index("Position bias")).toolTip()
    assert bias == "25.0 % of 4 verdicts judged in both orders"
    assert "4 human and 4 AI comparisons" in page.agreement_summary.text()
    assert "No reward model" in page.agreement_summary.text()
    assert "78 %" in page.findChild(type(page.agreement_summary), "agreementExplanation").text()


def test_ai_round_swaps_the_reward_of_a_paused_run(qtbot, page, tiny_model_dir):
    from types import SimpleNamespace

    from core.config import ModelSpec, PPOConfig
    from core.model.session import ModelSession
    from core.ppo.trainer import PPOTrainer
    from core.rewards.classifier import ClassifierReward
    from core.rlaif.loop import rounds_of
    from core.train.launch import Algorithm, start_run

    PPO = Algorithm.of(PPOTrainer)

    session = ModelSession.load(ModelSpec(name_or_path=str(tiny_model_dir), device="cpu"))
    first_reward = SimpleNamespace(name="len", score=lambda p, r: [len(x) / 10 for x in r])
    config = PPOConfig(steps=3, batch_size=4, mini_batch_size=2, ppo_epochs=1, max_new_tokens=6,
                       samples_per_step=4, seed=0)  # fmt: skip
    store = page.state.store
    seed_human_preferences(store, n=4)
    page.state.set_session(session)  # the model the run trains is the app's loaded one
    trainer = start_run(store, PPO, session, first_reward, ["The movie was", "I loved"] * 2, config)
    steps = iter(trainer)
    next(steps)
    trainer.pause()  # as the Train page's pause: between steps
    page.judge_form.judge.select("policy")  # the run's own base model judges
    page.rm_form.base.select(str(tiny_model_dir))
    page.rm_form.epochs_spin.setValue(1)

    with qtbot.waitSignal(page.ai_round_finished, timeout=JOB_TIMEOUT_MS) as blocker:
        assert page.run_ai_round(trainer.run_id, trainer.control) is not None
    wait_done(qtbot, page)

    record = blocker.args[0]
    assert record is not None and record.step == 1 and record.pairs >= 1
    assert [r.step for r in rounds_of(store, trainer.run_id)] == [1]
    assert page.rm_plot.point_count() == 1
    trainer.resume()
    assert [result.step for result in steps] == [2, 3]  # PPO goes on with the new reward
    assert isinstance(trainer.trainer.reward, ClassifierReward)
    assert str(trainer.trainer.reward.folder) == record.reward_model == page.last_reward_model
    session.unload()


def test_mistakes_reach_the_user_as_readable_dialogs(qtbot, page):
    page.judge_form.judge.select("policy")  # no model is loaded
    page.judge_form.sample_check.setChecked(False)
    click(qtbot, page, "labelPairsButton")
    qtbot.waitUntil(lambda: bool(error_dialogs(page)), timeout=JOB_TIMEOUT_MS)
    assert "no model is loaded" in error_dialogs(page)[0].text()
    error_dialogs(page)[0].close()
    qtbot.waitUntil(lambda: page.label_button.isEnabled())

    rubric = page.judge_form.rubric_edit
    rubric.setPlainText(rubric.toPlainText().replace("{response_b}", ""))
    assert "(edited)" in page.judge_form.rubric_label.text()
    click(qtbot, page, "labelPairsButton")  # refused at once: nothing starts
    assert not page.state.jobs()
    assert "{response_b}" in error_dialogs(page)[0].text()


def test_use_as_ppo_reward_sets_the_train_pages_reward(qtbot, tmp_path):
    from app.main import build_window

    main_window = build_window(tmp_path / "ws", settings_path=tmp_path / "settings.ini")
    qtbot.addWidget(main_window)
    main_window.feedback_page.reward_model_ready.emit(str(tmp_path / "rm-1"))
    assert main_window.train_page.form.rewards.spec_texts() == [f"rm={tmp_path / 'rm-1'}"]
    assert main_window.stack.currentWidget() is main_window.train_page


def test_verdict_column_says_undecided_below_the_confidence_filter(qtbot, workspace):
    from app.widgets.feedback_tables import VerdictTable

    with Store.open(workspace) as store:
        [prompt_id] = store.add_prompts(["Q"])
        ids = [store.add_generation(prompt_id, f"answer {i}", "demo") for i in range(4)]
        store.add_comparison(prompt_id, ids[0], ids[1], "left", "ai:j#r", soft_label=0.9)
        store.add_comparison(prompt_id, ids[2], ids[3], "left", "ai:j#r", soft_label=0.52)
        rows = store.comparisons("ai")
    table = VerdictTable()
    qtbot.addWidget(table)
    table.set_rows(rows)
    column = table.COLUMNS.index("Verdict")
    assert table.item(0, column).text() == "undecided"  # newest first: p = 0.52
    assert "coin flip" in table.item(0, column).toolTip()
    assert table.item(1, column).text() == "left"
    assert table.item(0, table.COLUMNS.index("Judge")).text() == "j#r"


def test_judge_form_offers_the_demo_judge_and_rubric_presets(qtbot, page):
    form = page.judge_form
    combo = form.judge.combo
    assert combo.findData("demo-judge") >= 0
    form.judge.select("demo-judge")
    presets = form.findChild(type(combo), "rubricPresetCombo")
    presets.activated.emit(presets.findData("concision"))
    assert presets.currentIndex() == 0  # back to "Preset…", ready for the next choice
    assert "shorter answer" in form.rubric_edit.toPlainText()
    assert form.rubric_template().rubric_id == "concision"
    assert "concision (preset)" in form.rubric_label.text()
    choice = form.choice("cpu")
    assert (choice.model, choice.rubric_source) == ("demo-judge", "preset:concision")
    form.rubric_edit.appendPlainText(" ")  # an edited preset is another rubric
    assert form.rubric_template().rubric_id != "concision"
