"""People as raters: kappa between them, alpha over all, conflicts, habits, effort; and the
one conflict rule that exports, reward-model training and DPO share."""

from __future__ import annotations

import json

import pytest

from core.cli import main
from core.export.ratings import export_pairs
from core.offline.data import dpo_pairs
from core.rating.agreement import effort, krippendorff_alpha, people_report, rater_pairs
from core.reward_model.pairs import pairs_from_comparisons
from core.store import Store


@pytest.fixture
def store(workspace):
    with Store.open(workspace) as opened:
        yield opened


def _pair(store, prompt, texts=("A short one.", "A much longer answer.")):
    [prompt_id] = store.add_prompts([prompt])
    a, b = (store.add_generation(prompt_id, t, "demo") for t in texts)
    return prompt_id, a, b


def _cast(store, votes):
    """votes: {prompt: [(verdict on (a, b), rater, swapped sides?)]}."""
    for prompt, cast in votes.items():
        prompt_id, a, b = _pair(store, prompt)
        for verdict, rater, swapped in cast:
            if swapped:  # shown the other way round: the same opinion reads the other side
                flipped = {"left": "right", "right": "left"}.get(verdict, verdict)
                store.add_comparison(prompt_id, b, a, flipped, rater)
            else:
                store.add_comparison(prompt_id, a, b, verdict, rater)


def test_kappa_for_every_two_people_and_alpha_over_all(store):
    _cast(store, {
        "q1": [("left", "ann", False), ("left", "bob", True), ("left", "cid", False)],
        "q2": [("right", "ann", False), ("right", "bob", False)],
        "q3": [("left", "ann", False), ("right", "bob", False)],
        "q4": [("right", "ann", False), ("left", "cid", False)],
    })  # fmt: skip
    rows = store.comparisons("human")
    by_names = {(p.first, p.second): p for p in rater_pairs(rows)}
    assert set(by_names) == {("ann", "bob"), ("ann", "cid"), ("bob", "cid")}
    ann_bob = by_names["ann", "bob"]
    # ann L R L, bob L R R: p_o = 2/3, p_e = (2*1 + 1*2) / 9 = 4/9 -> kappa = 0.4
    assert (ann_bob.n_shared, ann_bob.agreement) == (3, pytest.approx(2 / 3))
    assert ann_bob.kappa == pytest.approx(0.4)
    assert by_names["bob", "cid"].n_shared == 1
    alpha = krippendorff_alpha(rows)
    assert alpha is not None and -1.0 <= alpha < 1.0
    # Perfect agreement gives alpha 1; one verdict everywhere leaves it undefined.
    agree = [r for r in rows if r.prompt in ("q1", "q2")]
    assert krippendorff_alpha(agree) == pytest.approx(1.0)
    assert krippendorff_alpha([r for r in rows if r.prompt == "q1"]) is None


def test_conflicts_are_listed_and_handled_one_way_everywhere(store, tmp_path):
    _cast(store, {
        "cancel": [("left", "ann", False), ("right", "bob", True)],
        "split": [("left", "ann", False), ("left", "bob", False), ("right", "cid", False)],
        "agreed": [("left", "ann", False), ("left", "bob", True)],
        "re-rated": [("left", "ann", False), ("right", "bob", False), ("left", "bob", False)],
    })  # fmt: skip
    rows = store.comparisons("human")
    report = people_report(store)
    assert [(c.prompt, c.outcome) for c in report.conflicts] == [
        ("cancel", "conflict"),
        ("split", "split"),
    ]
    cancel = report.conflicts[0]
    assert cancel.votes == {"ann": "right", "bob": "left"}  # as if answers[0] were left
    assert cancel.answers == ("A much longer answer.", "A short one.")
    # The export, the reward model and DPO all: leave "cancel" out, keep "split" at 2/3.
    out = tmp_path / "pairs.jsonl"
    written = export_pairs(store, out)
    exported = {row["prompt"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert set(exported) == {"split", "agreed", "re-rated"}
    assert written.counts.conflicting == 1 and written.counts.split_votes == 1
    assert exported["split"]["margin"] == pytest.approx(1 / 3)  # |2 * 2/3 - 1|
    rm = {p.prompt: p.label for p in pairs_from_comparisons(rows)}
    dpo, data_report = dpo_pairs(rows)
    assert (
        rm
        == {p.prompt: p.label for p in dpo}
        == pytest.approx({"split": 2 / 3, "agreed": 1.0, "re-rated": 1.0})
    )
    assert data_report.skipped == {"conflicts": 1}
    for prompt in rm:
        assert exported[prompt]["chosen"] == "A short one."


def test_self_agreement_side_bias_and_length_preference(store):
    _cast(store, {
        # ann picks the left side, whatever is there
        "r1": [("left", "ann", False), ("right", "ann", True)],  # swapped repeat: other answer
        "r2": [("left", "ann", False), ("left", "ann", True)],  # swapped repeat: same answer
        "r3": [("left", "ann", False)],
    })  # fmt: skip
    habits = {h.rater: h for h in people_report(store).raters}["ann"]
    assert (habits.n_labels, habits.n_repeats, habits.n_decisive) == (5, 2, 5)
    assert habits.self_agreement == pytest.approx(0.5)
    assert habits.side_bias == pytest.approx(4 / 5)
    assert habits.length_preference == pytest.approx(
        1 / 5
    )  # the swapped r1 showed the long one left


def test_effort_counts_breaks_out():
    times = ["2026-01-01T10:00:00+00:00", "2026-01-01T10:00:10+00:00",
             "2026-01-01T10:00:40+00:00", "2026-01-01T12:00:00+00:00"]  # fmt: skip
    per_label, per_hour = effort(times)
    assert per_label == pytest.approx(20.0)  # median of 10 s and 30 s; the 2 h gap a break
    assert per_hour == pytest.approx(2 * 3600 / 40)
    assert effort(times[:1]) == (None, None)


def test_agreement_cli_reports_people(store, workspace, capsys):
    _cast(store, {"q1": [("left", "ann", False), ("right", "bob", False)]})
    assert main(["agreement", "--device", "cpu", "--workspace", str(workspace)]) == 0
    out = capsys.readouterr().out
    assert "ann vs bob: 1 shared pairs" in out and "Conflicts between people: 1" in out
    assert "[conflict] q1" in out
    assert main(["agreement", "--json", "--device", "cpu", "--workspace", str(workspace)]) == 0
    people = json.loads(capsys.readouterr().out)["people"]
    assert [c["prompt"] for c in people["conflicts"]] == ["q1"]
    assert [r["rater"] for r in people["raters"]] == ["ann", "bob"]


def test_anonymized_exports_carry_no_names_and_keep_pseudonyms_stable(store, workspace, tmp_path):
    _cast(store, {"q1": [("left", "Alice Smith", False), ("right", "bob", False)]})
    [generation] = [g.id for g in store.generations()][:1]
    store.add_rating(generation, 1.0, "Alice Smith", note="Alice liked it")
    store.add_rating(generation, 0.0, "ai:judge")
    ws = ["--workspace", str(workspace)]
    outputs = []
    for run in (1, 2):
        for fmt in ("ratings", "pairs"):
            out = tmp_path / f"{fmt}{run}.jsonl"
            args = ["export", "--format", fmt, "--out", str(out), "--anonymize", *ws]
            assert main(args) == 0
            outputs.append(out.read_text(encoding="utf-8"))
    for text in outputs:
        assert "Alice" not in text and "bob" not in text
    assert outputs[0] == outputs[2]  # the same pseudonyms in every export of the workspace
    raters = [json.loads(line)["rater"] for line in outputs[0].splitlines()]
    assert raters[0].startswith("rater-") and raters[1] == "ai:judge"
    with Store.open(tmp_path / "other") as other:  # another workspace: other pseudonyms
        from core.rating.pseudonyms import pseudonym

        assert pseudonym(other.workspace_id, "Alice Smith") != raters[0]
    plain = tmp_path / "plain.jsonl"
    assert main(["export", "--format", "ratings", "--out", str(plain), *ws]) == 0
    assert "Alice Smith" in plain.read_text(encoding="utf-8")
    kto = ["export", "--format", "kto", "--out", str(tmp_path / "k"), "--anonymize", *ws]
    assert main(kto) == 2  # refused: kto rows name no one


def test_hidden_repeats_pick_an_old_unrepeated_vote_of_the_rater(store):
    import random

    from core.rating.repeats import MIN_GAP, pick_repeat

    _cast(store, {f"q{i}": [("left", "ann", False)] for i in range(MIN_GAP + 2)})
    _cast(store, {"bob's": [("left", "bob", False)]})
    rows = store.comparisons("human")
    prompts = {row.prompt_id for row in rows}
    picks = {pick_repeat(rows, "ann", prompts, random.Random(seed)).prompt for seed in range(40)}
    assert picks == {"q0", "q1"}  # not the last MIN_GAP votes, never bob's
    first = rows[0]
    store.add_comparison(first.prompt_id, first.right_id, first.left_id, "right", "ann",
                         detail={"repeat_of": first.id})  # fmt: skip
    rows = store.comparisons("human")
    picks = {pick_repeat(rows, "ann", prompts, random.Random(seed)).prompt for seed in range(40)}
    assert picks == {"q1", "q2"}  # q0 is repeated; the repeat itself is never picked
    assert pick_repeat(rows, "ann", set(), random.Random(0)) is None
    habits = {h.rater: h for h in people_report(store).raters}["ann"]
    assert (habits.n_repeats, habits.self_agreement) == (1, 1.0)  # the same answer again
