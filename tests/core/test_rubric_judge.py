"""The rubric is part of the judge; ground truth of the rubric presets; AI coin flips."""

from __future__ import annotations

import pytest

from core.data.preference_export import COIN_FLIPS, drop_coin_flips
from core.errors import InputFileError
from core.judge.rubrics import rubric_of_rater, truth_margin, truth_score
from core.offline.data import dpo_pairs, kto_examples
from core.rewards.judge import LLMJudge
from core.rewards.judge_templates import (
    PAIRWISE,
    POINTWISE,
    default_template,
    parse_template,
    preset_template,
    resolve_rubric,
)
from core.rlaif.agreement import agreement_report
from core.rlaif.labelling import label_pairs
from core.store import Store

POSITIVE = "I loved it, a wonderful and charming film with great music."
NEGATIVE = "Awful. A boring, dreadful mess and a total waste of money."


def test_rubric_ids_name_presets_and_hash_other_texts(tmp_path):
    assert preset_template("positivity").rubric_id == "positivity"
    assert preset_template("concision", POINTWISE).rubric_id == "concision"
    assert default_template(PAIRWISE).rubric_id == "default"
    mine = tmp_path / "My rubric.txt"
    mine.write_text("Judge: {prompt} A: {response_a} B: {response_b} Answer:", encoding="utf-8")
    first = resolve_rubric(str(mine)).rubric_id
    assert first.startswith("My-rubric-") and len(first) == len("My-rubric-") + 6
    mine.write_text("Judge! {prompt} A: {response_a} B: {response_b} Answer:", encoding="utf-8")
    assert resolve_rubric(str(mine)).rubric_id != first  # another text, another judge
    # An edited preset is not the preset any more.
    edited = preset_template("positivity").text.replace("positive", "cheerful")
    assert parse_template(edited, "preset:positivity (edited)").rubric_id != "positivity"
    assert rubric_of_rater("ai:demo-judge#concision") == "concision"
    assert rubric_of_rater("ai:gpt2") is None and rubric_of_rater("ann#1") is None


def test_presets_use_a_wording_the_demo_judge_trains_on():
    from core.judge.rubrics import CRITERIA, PRESETS

    for name in PRESETS:
        assert CRITERIA[name].clauses[0] in preset_template(name).text
        assert CRITERIA[name].point_clauses[0] in preset_template(name, POINTWISE).text


def test_resolve_rubric_takes_presets_files_and_refuses_unknown_names(tmp_path):
    assert resolve_rubric("positive-concise").source == "preset:positive-concise"
    assert resolve_rubric(None).rubric_id == "default"
    with pytest.raises(InputFileError, match="neither a preset"):
        resolve_rubric("friendliness")
    with pytest.raises(InputFileError, match="Cannot read rubric"):
        resolve_rubric(tmp_path / "missing.txt")


def test_ground_truth_of_the_presets():
    assert truth_margin("positivity", POSITIVE, NEGATIVE) > 0.5
    assert truth_margin("positivity", NEGATIVE, POSITIVE) < -0.5
    short, long = "Great fun, loved it.", POSITIVE + " " + POSITIVE
    assert truth_margin("concision", short, long) > 0.4
    # Positive-concise: sentiment first; between two warm reviews, the shorter.
    assert truth_margin("positive-concise", NEGATIVE, long) < -0.5
    assert truth_margin("positive-concise", short, long) > 0.4
    # An answer that does not answer loses under both length rubrics.
    assert truth_margin("concision", "Ok", POSITIVE) == -1.0
    assert truth_margin("positive-concise", "Great!", POSITIVE) == -1.0
    assert truth_score("positivity", POSITIVE) > 8 > 3 > truth_score("positivity", NEGATIVE)
    assert truth_score("concision", short) > truth_score("concision", long)
    assert truth_score("concision", "") == 1.0


def _pairs(store: Store, n: int) -> None:
    [prompt_id] = store.add_prompts(["The movie was"])
    for index in range(n):
        store.add_generation(prompt_id, f"{POSITIVE} {index}", "demo")
        store.add_generation(prompt_id, f"{NEGATIVE} {index}", "demo")


def test_another_rubric_labels_the_same_pairs_again_as_another_judge(workspace, tiny_model_dir):
    with Store.open(workspace) as store:
        _pairs(store, 3)
        judges = {
            name: LLMJudge.load(str(tiny_model_dir), device="cpu", pairwise=preset_template(name))
            for name in ("positivity", "concision")
        }
        try:
            first = label_pairs(store, judges["positivity"])
            again = label_pairs(store, judges["positivity"])
            other = label_pairs(store, judges["concision"])
        finally:
            for judge in judges.values():
                judge.unload()
        assert (first.labelled, again.labelled, other.labelled) == (3, 0, 3)
        rows = store.comparisons("ai")
        assert {r.rater for r in rows} == {"ai:gpt2#positivity", "ai:gpt2#concision"}
        by_rater: dict[str, set] = {}
        for row in rows:
            by_rater.setdefault(row.rater, set()).add(frozenset((row.left_id, row.right_id)))
        # The same pairs under both rubrics, so they can be compared side by side.
        assert by_rater["ai:gpt2#positivity"] == by_rater["ai:gpt2#concision"]
        assert all(row.detail["rubric_id"] in ("positivity", "concision") for row in rows)
        report = agreement_report(store)
    # Each rubric's text is kept once in the workspace.
    saved = sorted(p.name for p in (workspace / "rubrics").iterdir())
    assert saved == ["concision.txt", "positivity.txt"]
    assert "shorter answer" in (workspace / "rubrics" / "concision.txt").read_text()
    judged = {(j.model, j.rubric): j.n_ai for j in report.judges}
    assert judged == {("gpt2", "concision"): 3, ("gpt2", "positivity"): 3}
    assert "Judge gpt2  rubric positivity  (3 comparisons)" in report.format()


def _mixed_comparisons(workspace):
    with Store.open(workspace) as store:
        [prompt_id] = store.add_prompts(["Q"])
        ids = [store.add_generation(prompt_id, f"answer {i}", "demo") for i in range(8)]
        store.add_comparison(prompt_id, ids[0], ids[1], "left", "ann")
        store.add_comparison(prompt_id, ids[2], ids[3], "left", "ai:j#r", soft_label=0.9)
        store.add_comparison(prompt_id, ids[4], ids[5], "left", "ai:j#r", soft_label=0.55)
        store.add_comparison(prompt_id, ids[6], ids[7], "right", "ai:j#r", soft_label=0.45)
        return store.comparisons("all")


def test_coin_flips_never_train_silently(workspace):
    rows = _mixed_comparisons(workspace)
    kept, dropped = drop_coin_flips(rows)
    assert dropped == 2 and [r.soft_label for r in kept] == [None, 0.9]
    assert drop_coin_flips(rows, 0.0) == (rows, 0)

    pairs, report = dpo_pairs(rows)
    assert len(pairs) == 2 and report.skipped == {COIN_FLIPS: 2}
    assert "2 AI coin flips" in report.line("pairs")
    assert len(dpo_pairs(rows, min_confidence=0.0)[0]) == 4
    examples, report = kto_examples([], rows)
    assert len(examples) == 4 and report.skipped == {COIN_FLIPS: 2}


def test_cli_trainers_take_min_confidence():
    from core.cli import build_parser

    parser = build_parser()
    for command in (["train-rm"], ["dpo"], ["kto"]):
        assert parser.parse_args(command).min_confidence == pytest.approx(0.2)
        assert parser.parse_args([*command, "--min-confidence", "0"]).min_confidence == 0.0
    with pytest.raises(SystemExit):
        parser.parse_args(["dpo", "--min-confidence", "2"])
