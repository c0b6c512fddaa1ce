"""Pairs and KTO exports as TRL reads them: one row per pair, confidence, source, chat rows."""

from __future__ import annotations

import json

import pytest

from core.cli import main
from core.data.preference_import import import_pairs, import_ratings
from core.errors import StudioError
from core.export.ratings import export_kto, export_metrics, export_pairs
from core.store import Store


@pytest.fixture
def store(workspace):
    with Store.open(workspace) as opened:
        yield opened


def _jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _pair(store, prompt="Review:", texts=("Great.", "Awful."), prompt_format="plain"):
    [prompt_id] = store.add_prompts([prompt])
    params = {"prompt_format": prompt_format}
    a, b = (store.add_generation(prompt_id, t, "demo", None, params, 1) for t in texts)
    return prompt_id, a, b


def test_ai_coin_flips_are_dropped_and_counted(store, tmp_path, workspace, capsys):
    for index, p_left in enumerate((0.4998, 0.5002, 0.9, 0.3)):
        prompt_id, a, b = _pair(store, f"Q{index}")
        verdict = "left" if p_left > 0.5 else "right"
        store.add_comparison(prompt_id, a, b, verdict, "ai:weak", soft_label=p_left)
    out = tmp_path / "pairs.jsonl"
    report = export_pairs(store, out)
    assert (report.written, report.counts.low_confidence) == (2, 2)
    rows = _jsonl(out)
    assert [(r["prompt"], r["chosen"], r["source"]) for r in rows] == [
        ("Q2", "Great.", "ai:weak"),
        ("Q3", "Awful.", "ai:weak"),
    ]
    assert [r["margin"] for r in rows] == pytest.approx([0.8, 0.4])  # |2p - 1|
    assert export_pairs(store, out, force=True, min_confidence=0.0).written == 4
    assert export_pairs(store, out, force=True, min_confidence=0.5).written == 1
    with pytest.raises(StudioError, match="between 0"):
        export_pairs(store, out, force=True, min_confidence=1.5)
    # The CLI says on stderr how many it dropped.
    args = ["export", "--format", "pairs", "--out", str(out), "--force"]
    assert main([*args, "--workspace", str(workspace)]) == 0
    assert "dropped 2 AI pairs with confidence below 0.2" in capsys.readouterr().err


def test_one_row_per_pair_people_outrank_ai_and_cancelling_verdicts_are_left_out(store, tmp_path):
    prompt_id, good, bad = _pair(store, "Q1")
    store.add_comparison(prompt_id, bad, good, "left", "ai:judge", soft_label=0.9)  # AI: bad
    store.add_comparison(prompt_id, good, bad, "left", "alice")
    store.add_comparison(prompt_id, bad, good, "right", "bob")  # the same verdict, swapped
    prompt_id, a, b = _pair(store, "Q2")
    store.add_comparison(prompt_id, a, b, "left", "alice")
    store.add_comparison(prompt_id, a, b, "right", "bob")  # they cancel out
    prompt_id, a, b = _pair(store, "Q3")
    store.add_comparison(prompt_id, a, b, "left", "ai:one", soft_label=0.9)
    store.add_comparison(prompt_id, b, a, "left", "ai:two", soft_label=0.6)  # mean 0.65 for a
    out = tmp_path / "pairs.jsonl"
    report = export_pairs(store, out)
    counts = report.counts
    assert (report.written, counts.conflicting, counts.human_over_ai, counts.ai_disagreed) == (
        2, 1, 1, 1,
    )  # fmt: skip
    first, third = _jsonl(out)
    assert first == {"prompt": "Q1", "chosen": "Great.", "rejected": "Awful.", "margin": 1.0,
                     "source": "human"}  # fmt: skip
    assert (third["chosen"], third["source"]) == ("Great.", "ai:one+ai:two")
    assert third["margin"] == pytest.approx(0.3)


def test_chat_generations_export_as_conversational_rows(store, tmp_path):
    prompt_id, a, b = _pair(store, "Hi", prompt_format="chat")
    store.add_comparison(prompt_id, a, b, "left", "alice")
    out = tmp_path / "pairs.jsonl"
    report = export_pairs(store, out)
    assert report.conversational
    assert _jsonl(out) == [{
        "prompt": [{"role": "user", "content": "Hi"}],
        "chosen": [{"role": "assistant", "content": "Great."}],
        "rejected": [{"role": "assistant", "content": "Awful."}],
        "margin": 1.0, "source": "human",
    }]  # fmt: skip
    export_pairs(store, out, force=True, layout="standard")
    assert _jsonl(out)[0]["prompt"] == "Hi"
    prompt_id, a, b = _pair(store, "Plain one")
    store.add_comparison(prompt_id, a, b, "left", "alice")
    with pytest.raises(StudioError, match="1 of the 2 rows .* --layout conversational"):
        export_pairs(store, out, force=True)
    assert export_pairs(store, out, force=True, layout="conversational").written == 2


def test_imported_rows_come_back_identical(store, tmp_path):
    rows = [
        {"prompt": "P1", "chosen": "a", "rejected": "b", "margin": 2.5,
         "score_chosen": 9.0, "score_rejected": 3.0},
        {"prompt": "P2", "chosen": "c", "rejected": "d", "margin": 0.5,
         "score_chosen": 7.0, "score_rejected": 6.0},
    ]  # fmt: skip
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    import_pairs(store, source, rater="ai:gpt")
    out = tmp_path / "out.jsonl"
    export_pairs(store, out)
    assert _jsonl(out) == [{**row, "source": "ai:gpt"} for row in rows]

    conversational = [{"prompt": [{"role": "user", "content": "Q"}],
                       "chosen": [{"role": "assistant", "content": "x"}],
                       "rejected": [{"role": "assistant", "content": "y"}]}]  # fmt: skip
    source.write_text(json.dumps(conversational[0]) + "\n", encoding="utf-8")
    with Store.open(tmp_path / "other") as other:
        import_pairs(other, source, rater="carol")
        export_pairs(other, out, force=True)
    assert _jsonl(out) == [{**conversational[0], "margin": 1.0, "source": "human"}]


def test_kto_rows_are_what_kto_trains_on(store, tmp_path, workspace, capsys):
    from core.offline.data import store_thumbs

    source = tmp_path / "kto.jsonl"
    rows = [
        {"prompt": "p", "completion": "nice", "label": True},
        {"prompt": "p", "completion": "rude", "label": False},
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    import_ratings(store, source, rater="bob")
    rude = next(r.generation_id for r in store.ratings() if r.response == "rude")
    store.add_rating(rude, 1.0, "ai:judge")  # every rating is an example, as kto takes it
    prompt_id, fine, meh = _pair(store, "q", texts=("fine", "meh"))
    store.add_comparison(prompt_id, fine, meh, "left", "ann")  # split into its two sides
    out = tmp_path / "kto.out.jsonl"
    for with_pairs in (True, False):
        report = export_kto(store, out, force=True, with_pairs=with_pairs)
        examples, _ = store_thumbs(store, "all", with_pairs=with_pairs)
        trained = [{"prompt": e.prompt, "completion": e.response, "label": e.desirable}
                   for e in examples]  # fmt: skip
        assert _jsonl(out) == trained and report.written == len(trained)
    assert report.written == 3 and report.labels_true == 2  # the ratings only
    assert export_kto(store, out, force=True, label_threshold=1.5).labels_true == 1  # fine
    args = ["export", "--format", "kto", "--out", str(out), "--force", "--layout", "conversational"]
    assert main([*args, "--workspace", str(workspace)]) == 0
    assert "wrote 5 conversational rows (3 desirable, 2 not)" in capsys.readouterr().out
    assert _jsonl(out)[0]["completion"] == [{"role": "assistant", "content": "nice"}]


def test_metrics_without_run_takes_the_newest_training_run_and_says_which(
    store, tmp_path, workspace, capsys
):
    ppo = store.create_run("ppo", {}, name="my ppo")
    store.add_metrics(ppo, 1, {"reward/mean": 0.5})
    rm = store.create_run("reward_model", {}, name="rm rm-1")  # newer, but per epoch
    store.add_metrics(rm, 1, {"train/loss": 0.7})
    out = tmp_path / "metrics.csv"
    assert export_metrics(store, out).run_id == ppo
    assert main(["export", "--format", "metrics", "--out", str(out), "--force",
                 "--workspace", str(workspace)]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert f"exporting run {ppo} (ppo, my ppo), the newest training run" in captured.err
    assert captured.out.startswith(f"wrote 1 steps of run {ppo}")
    assert export_metrics(store, out, run_id=rm, force=True).run_id == rm  # named: fine
    store.delete_metrics_after(ppo, 0)
    with pytest.raises(StudioError, match=f"run {rm} .reward_model. has per-epoch.*--run {rm}"):
        export_metrics(store, out, force=True)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--format", "ratings", "--min-confidence", "0.5"], "--min-confidence applies to"),
        (["--format", "metrics", "--layout", "standard"], "--layout applies to"),
        (["--format", "pairs", "--label-threshold", "1"], "--label-threshold applies to"),
    ],
)
def test_flags_of_other_formats_are_refused(tmp_path, workspace, capsys, argv, message):
    assert main(["export", *argv, "--out", str(tmp_path / "x"), "--workspace", str(workspace)]) == 2
    assert message in capsys.readouterr().err
