"""Exports: TRL preference pairs, ratings JSONL, metrics CSV, samples JSONL, atomic writes."""

import csv
import json

import pytest

from core.errors import StudioError
from core.export import ratings as export
from core.export.ratings import export_metrics, export_pairs, export_ratings, export_samples
from core.store import Store


@pytest.fixture
def store(workspace):
    with Store.open(workspace) as opened:
        yield opened


def _labelled(store):
    """One prompt, two completions and a verdict of each kind, by people and an AI."""
    [prompt_id] = store.add_prompts(["Review:"])
    good = store.add_generation(prompt_id, "Great.", "demo", None, {}, 1)
    bad = store.add_generation(prompt_id, "Awful.", "demo", None, {}, 2)
    # Each rater's latest verdict is the one that counts (core.data.conflicts): the decisive
    # ones come last.
    store.add_comparison(prompt_id, good, bad, "tie", "alice")
    store.add_comparison(prompt_id, good, bad, "both_bad", "bob")
    store.add_comparison(prompt_id, good, bad, "left", "alice")
    store.add_comparison(prompt_id, bad, good, "right", "bob", swapped=True)
    store.add_comparison(prompt_id, bad, good, "left", "ai:judge", soft_label=0.6)
    return good, bad


def _jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_pairs_are_one_row_per_pair_and_ties_are_counted_not_written(store, tmp_path):
    # One row per pair (people outrank AI, verdicts averaged), with margin and source:
    # core.data.preference_export has the rule; tests/core/test_preference_export.py the details.
    _labelled(store)
    out = tmp_path / "pairs.jsonl"
    report = export_pairs(store, out, source="human")
    assert (report.written, report.skipped_ties, report.skipped_both_bad) == (1, 0, 0)
    assert report.path == out
    expected = {"prompt": "Review:", "chosen": "Great.", "rejected": "Awful.", "margin": 1.0}
    assert _jsonl(out) == [{**expected, "source": "human"}]

    report = export_pairs(store, out, source="ai", force=True)
    assert (report.written, report.skipped_ties, report.skipped_both_bad) == (1, 0, 0)
    [row] = _jsonl(out)
    assert (row["chosen"], row["rejected"], row["source"]) == ("Awful.", "Great.", "ai:judge")
    assert row["margin"] == pytest.approx(0.2)
    report = export_pairs(store, out, force=True)
    assert report.written == 1 and (report.counts.human_over_ai, report.counts.ai_disagreed) == (
        1,
        1,
    )

    [prompt_id] = store.add_prompts(["Other:"])
    a, b, c, d = (store.add_generation(prompt_id, t, "demo", None, {}, 1) for t in "abcd")
    store.add_comparison(prompt_id, a, b, "tie", "alice")
    store.add_comparison(prompt_id, c, d, "both_bad", "alice")
    report = export_pairs(store, out, force=True)
    assert (report.written, report.skipped_ties, report.skipped_both_bad) == (1, 1, 1)


def test_pairs_load_as_a_preference_dataset(store, tmp_path):
    datasets = pytest.importorskip("datasets")
    _labelled(store)
    out = tmp_path / "pairs.jsonl"
    export_pairs(store, out)
    dataset = datasets.load_dataset(
        "json", data_files=str(out), split="train", cache_dir=str(tmp_path / "cache")
    )
    # The explicit-prompt preference layout of TRL's RewardTrainer and DPOTrainer.
    assert dataset.column_names == ["prompt", "chosen", "rejected", "margin", "source"]
    assert dataset.num_rows == 1


def test_no_comparisons_of_a_source_is_an_error_with_advice(store, tmp_path):
    with pytest.raises(StudioError, match="no comparisons"):
        export_pairs(store, tmp_path / "p.jsonl")
    _labelled(store)
    store.delete_prompt(store.prompts()[0].id)
    [prompt_id] = store.add_prompts(["p"])
    a = store.add_generation(prompt_id, "a", "demo", None, {}, None)
    b = store.add_generation(prompt_id, "b", "demo", None, {}, None)
    store.add_comparison(prompt_id, a, b, "left", "ai:judge")
    with pytest.raises(StudioError, match="no human comparisons.*--source all"):
        export_pairs(store, tmp_path / "p.jsonl", source="human")
    assert not (tmp_path / "p.jsonl").exists()


def test_ratings_export(store, tmp_path):
    good, bad = _labelled(store)
    store.add_rating(good, 5, "alice", note="ünïcode ok")
    store.add_rating(bad, 1.5, "ai:judge")
    out = tmp_path / "ratings.jsonl"
    assert export_ratings(store, out).written == 2
    assert _jsonl(out) == [
        {
            "prompt": "Review:",
            "response": "Great.",
            "rating": 5.0,
            "rater": "alice",
            "note": "ünïcode ok",
        },
        {
            "prompt": "Review:",
            "response": "Awful.",
            "rating": 1.5,
            "rater": "ai:judge",
            "note": None,
        },
    ]
    assert "ünïcode" in out.read_text(encoding="utf-8")
    assert export_ratings(store, out, source="ai", force=True).written == 1
    store.delete_prompt(store.prompts()[0].id)
    with pytest.raises(StudioError, match="no ratings"):
        export_ratings(store, out)


def test_metrics_csv_has_one_row_per_step_and_the_union_of_keys(store, tmp_path):
    old = store.create_run("ppo", {})
    store.add_metrics(old, 1, {"old": 1.0})
    run_id = store.create_run("ppo", {})
    store.add_metrics(run_id, 2, {"reward/mean": 0.5, "objective/kl": 0.1})
    store.add_metrics(run_id, 1, {"reward/mean": 0.25, "loss/policy": -0.5})
    store.create_run("ppo", {})  # the latest run, but nothing recorded yet
    out = tmp_path / "metrics.csv"
    report = export_metrics(store, out)
    assert (report.written, report.run_id) == (2, run_id)
    with open(out, newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    assert rows == [
        ["step", "loss/policy", "objective/kl", "reward/mean"],
        ["1", "-0.5", "", "0.25"],
        ["2", "", "0.1", "0.5"],
    ]
    assert export_metrics(store, out, run_id=old, force=True).written == 1
    assert out.read_text().splitlines() == ["step,old", "1,1.0"]


def test_metrics_errors_name_the_fix(store, tmp_path):
    out = tmp_path / "metrics.csv"
    with pytest.raises(StudioError, match="no run .* has metrics"):
        export_metrics(store, out)
    empty = store.create_run("ppo", {})
    with pytest.raises(StudioError, match=f"run {empty} .* no metrics.*--run"):
        export_metrics(store, out, run_id=empty)
    with pytest.raises(StudioError, match="no run with id 404"):
        export_metrics(store, out, run_id=404)


def test_samples_jsonl_holds_each_kept_rollout_beside_the_reference(store, tmp_path):
    with_samples = store.create_run("ppo", {})
    store.add_samples(with_samples, 1, [{"prompt": "A", "response": "ok", "reward": 0.5}])
    store.add_samples(
        with_samples, 2, [{"prompt": "B", "response": "great", "reward": 1.0, "reference": "meh"}]
    )
    store.add_samples(with_samples, 2, [{"prompt": "C", "response": "new", "reward": 0}], "eval")
    without = store.create_run("ppo", {})  # samples_per_step=0: nothing kept
    out = tmp_path / "samples.jsonl"
    report = export_samples(store, out)
    assert (report.written, report.run_id) == (3, with_samples)
    train, held_out = {"split": "train"}, {"split": "eval"}
    assert _jsonl(out) == [
        {"step": 1, "prompt": "A", "response": "ok", "reward": 0.5, "reference": None, **train},
        {"step": 2, "prompt": "B", "response": "great", "reward": 1.0, "reference": "meh", **train},
        {"step": 2, "prompt": "C", "response": "new", "reward": 0.0, "reference": None, **held_out},
    ]
    with pytest.raises(StudioError, match=f"run {without} .* kept no samples.*--run"):
        export_samples(store, out, run_id=without)
    # A run that kept only held-out answers (samples_per_step 0) is still the latest with some.
    held_out_only = store.create_run("ppo", {})
    store.add_samples(held_out_only, 5, [{"prompt": "D", "response": "x", "reward": 1}], "eval")
    assert export_samples(store, out, force=True).run_id == held_out_only


def test_a_failed_export_leaves_the_previous_file_whole(store, tmp_path, monkeypatch):
    _labelled(store)
    out = tmp_path / "pairs.jsonl"
    out.write_text("previous export\n")
    calls = []

    def dumps_then_crash(item, **kwargs):
        calls.append(item)
        if len(calls) == 2:
            raise RuntimeError("crash halfway through the file")
        return json.dumps(item, **kwargs)

    monkeypatch.setattr(export.json, "dumps", dumps_then_crash)
    with pytest.raises(RuntimeError):
        export_pairs(store, out, force=True)
    assert out.read_text() == "previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.jsonl", "workspace"]


def test_export_creates_folders_and_refuses_a_folder_as_target(store, tmp_path):
    _labelled(store)
    nested = tmp_path / "a" / "b" / "pairs.jsonl"
    assert export_pairs(store, nested).written == 1 and nested.is_file()  # one row per pair
    with pytest.raises(StudioError, match="is a folder"):
        export_pairs(store, tmp_path)
