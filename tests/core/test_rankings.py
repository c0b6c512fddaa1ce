"""Rankings: K answers ranked (ties allowed) are stored as their K(K-1)/2 comparisons with
provenance, read as pairs by exports and training, and bad rows are refused whole."""

from __future__ import annotations

import json

import pytest

from core.cli import main
from core.data.rankings import expand, import_rankings
from core.errors import InputFileError
from core.export.ratings import export_pairs
from core.reward_model.pairs import pairs_from_comparisons
from core.store import Store


def _write(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_expand_gives_every_pair_once_with_ties():
    assert expand(((2,), (0, 3), (1,))) == [
        (2, 0, "left"), (2, 3, "left"), (2, 1, "left"),
        (0, 3, "tie"), (0, 1, "left"), (3, 1, "left"),
    ]  # fmt: skip
    assert len(expand(tuple((i,) for i in range(4)))) == 6  # K(K-1)/2


def test_import_rankings_stores_pairs_with_provenance(workspace, tmp_path, capsys):
    ranked = {"prompt": "Review:", "completions": ["ok", "great", "bad", "fine"],
              "ranking": [1, [0, 3], 2]}  # fmt: skip
    path = _write(tmp_path / "ranks.jsonl", [ranked])
    ws = ["--workspace", str(workspace)]
    assert main(["import-rankings", str(path), "--rater", "ann", *ws]) == 0
    assert "imported 1 rankings by ann" in capsys.readouterr().out
    assert main(["import-rankings", str(path), "--rater", "ann", *ws]) == 0  # again
    assert "skipped 1 duplicates" in capsys.readouterr().out
    with Store.open(workspace) as store:
        rows = store.comparisons()
        assert len(rows) == 6
        assert len({row.detail["ranking"] for row in rows}) == 1
        assert all(row.detail["imported_from"].endswith("line 1") for row in rows)
        verdicts = sorted((row.left_text, row.right_text, row.verdict) for row in rows)
        assert ("ok", "fine", "tie") in verdicts and ("great", "bad", "left") in verdicts
        pairs = pairs_from_comparisons(rows)
        assert {(p.chosen, p.rejected) for p in pairs} == {
            ("great", "ok"), ("great", "fine"), ("great", "bad"), ("ok", "bad"), ("fine", "bad"),
        }  # fmt: skip
        out = tmp_path / "pairs.jsonl"
        assert export_pairs(store, out).written == 5  # the tie left out, as ties are


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"prompt": "P", "completions": ["a", "b"]}, "missing: ranking"),
        ({"prompt": "P", "completions": ["a"], "ranking": [0]}, "2 to 16"),
        ({"prompt": "P", "completions": ["a", "b"], "ranking": [0, 0]}, "exactly once"),
        ({"prompt": "P", "completions": ["a", "b"], "ranking": [0]}, "exactly once"),
        ({"prompt": "P", "completions": ["a", "b"], "ranking": [0, 2]}, "indices 0 to 1"),
        ({"prompt": "P", "completions": ["a", "b"], "ranking": [0, True]}, "indices 0 to 1"),
        ({"prompt": "P", "completions": ["a", "a"], "ranking": [0, 1]}, "same text"),
    ],
)
def test_bad_ranking_rows_are_refused_whole(workspace, tmp_path, row, message):
    good = {"prompt": "Q", "completions": ["x", "y"], "ranking": [1, 0]}
    path = _write(tmp_path / "bad.jsonl", [good, row])
    with Store.open(workspace) as store:
        with pytest.raises(InputFileError, match=message) as caught:
            import_rankings(store, path, rater="ann")
        assert "line 2" in str(caught.value)
        assert store.comparisons() == []  # nothing from the good row either


def test_add_ranking_stores_a_ranking_of_stored_answers(workspace):
    with Store.open(workspace) as store:
        [prompt_id] = store.add_prompts(["P"])
        ids = [store.add_generation(prompt_id, text, "demo") for text in "abcd"]
        ranking = store.add_ranking(prompt_id, ids, [[3], [0, 1], [2]], "ann")
        rows = store.comparisons()
        assert len(rows) == 6 and {row.detail["ranking"] for row in rows} == {ranking}
        assert {(r.left_text, r.right_text, r.verdict) for r in rows if r.verdict == "tie"} == {
            ("a", "b", "tie")
        }
        with pytest.raises(ValueError, match="each of the 4 answers once"):
            store.add_ranking(prompt_id, ids, [[3], [0, 1]], "ann")
        assert len(store.comparisons()) == 6
