"""Resolving a pair people disagree on: stored beside the verdicts (never instead of them),
read by the one conflict rule in exports, reward-model training and DPO alike; the
`resolve` command; and old workspaces gaining the table on opening."""

from __future__ import annotations

import json
import sqlite3

import pytest

from core.cli import main
from core.export.ratings import export_pairs
from core.offline.data import store_pairs
from core.rating.agreement import people_report
from core.reward_model.training import pairs_from_comparisons
from core.store import STORE_FILENAME, Store
from core.store import schema as store_schema

SHORT, LONG = "A short one.", "A much longer answer."


@pytest.fixture
def store(workspace):
    with Store.open(workspace) as opened:
        yield opened


def _disputed(store, prompt="q1", votes=(("left", "ann"), ("right", "bob"))):
    """A pair (a=SHORT on the left, b=LONG) with people's verdicts; (prompt id, a, b)."""
    [prompt_id] = store.add_prompts([prompt])
    a, b = (store.add_generation(prompt_id, text, "demo") for text in (SHORT, LONG))
    for verdict, rater in votes:
        store.add_comparison(prompt_id, a, b, verdict, rater)
    return prompt_id, a, b


def _everywhere(store, tmp_path):
    """{prompt: (chosen, label)} as the export, the reward model and DPO read the store."""
    out = tmp_path / "pairs.jsonl"
    export_pairs(store, out, force=True)
    exported = {
        row["prompt"]: (row["chosen"], round(1 - (1 - row["margin"]) / 2, 6))
        for row in map(json.loads, out.read_text().splitlines())
    }
    rm = {
        p.prompt: (p.chosen, round(p.label, 6))
        for p in pairs_from_comparisons(store.comparisons(), resolutions=store.resolutions())
    }
    dpo_list, _ = store_pairs(store, "all")
    dpo = {p.prompt: (p.chosen, round(p.label, 6)) for p in dpo_list}
    assert exported == rm == dpo
    return exported


def test_a_resolution_settles_a_conflict_everywhere_and_keeps_the_verdicts(store, tmp_path):
    _, a, b = _disputed(store)
    _disputed(store, "q2", (("left", "ann"), ("left", "bob"), ("right", "cid")))  # split
    assert _everywhere(store, tmp_path) == {"q2": (SHORT, pytest.approx(2 / 3, abs=1e-6))}
    [conflict, split] = people_report(store).conflicts
    assert (conflict.outcome, conflict.resolution) == ("conflict", None)
    verdicts_before = store.comparisons()

    # The conflict lists answers sorted: A = LONG, B = SHORT; bob's side wins.
    assert conflict.answers == (LONG, SHORT) and conflict.generation_ids == (b, a)
    from core.rating.resolutions import settle

    done = settle(store, b, a, "A", "cid", note="the longer one answers the question")
    assert (done.picked, done.verdicts) == ("A", 2)
    assert store.comparisons() == verdicts_before  # nothing deleted or changed
    [row] = store.resolutions()
    assert (row.resolver, row.verdict, row.left_id, row.right_id) == ("cid", "left", b, a)
    assert row.note == "the longer one answers the question"
    assert row.comparison_ids == conflict.comparison_ids  # provenance: what it settled

    settled = _everywhere(store, tmp_path)
    assert settled["q1"] == (LONG, 1.0)
    report = people_report(store)
    assert [(c.outcome, c.resolution, c.resolver) for c in report.conflicts] == [
        ("resolved", "A", "cid"),
        ("split", None, None),
    ]
    # A later verdict does not reopen it; a newer resolution replaces it (a tie: left out).
    store.add_comparison(row.prompt_id, a, b, "left", "ann")
    assert _everywhere(store, tmp_path)["q1"] == (LONG, 1.0)
    settle(store, a, b, "tie", "dee")
    assert "q1" not in _everywhere(store, tmp_path)
    assert [c.resolution for c in people_report(store).conflicts][0] == "tie"


def test_settle_refuses_bad_picks_and_unrated_pairs(store):
    from core.errors import StudioError
    from core.rating.resolutions import parse_pair, settle

    prompt_id, a, b = _disputed(store, votes=())
    with pytest.raises(StudioError, match="no one has rated pair"):
        settle(store, a, b, "A", "ann")
    store.add_comparison(prompt_id, a, b, "left", "ann")
    with pytest.raises(StudioError, match="pick A, B or tie"):
        settle(store, a, b, "left", "ann")
    with pytest.raises(ValueError, match="a person's name"):
        settle(store, a, b, "A", "ai:judge")
    with pytest.raises(StudioError, match="A:B"):
        parse_pair("12-15")
    assert store.resolutions() == []


def test_resolve_cli_lists_and_settles_on_the_same_path(store, workspace, tmp_path, capsys):
    _, a, b = _disputed(store)
    ws = ["--workspace", str(workspace)]
    assert main(["resolve", *ws]) == 0
    listed = capsys.readouterr().out
    assert f"{b}:{a}  [conflict] q1" in listed and "ann" in listed and "bob" in listed
    assert main(["agreement", "--device", "cpu", *ws]) == 0
    assert f"(pair {b}:{a})" in capsys.readouterr().out

    assert main(["resolve", f"{b}:{a}", *ws]) == 2  # no --pick: one clear line
    assert "--pick A|B|tie" in capsys.readouterr().err
    assert main(["resolve", f"{b}:{a}", "--pick", "B", "--rater", "eve", "--note", "n", *ws]) == 0
    assert "resolved pair" in capsys.readouterr().out
    [row] = store.resolutions()
    assert (row.resolver, row.verdict) == ("eve", "right")
    out = tmp_path / "pairs.jsonl"
    assert main(["export", "--format", "pairs", "--out", str(out), *ws]) == 0
    assert "1 pairs people disagreed on were written as a person resolved them" in (
        capsys.readouterr().err
    )
    [exported] = map(json.loads, out.read_text().splitlines())
    assert (exported["chosen"], exported["rejected"]) == (SHORT, LONG)
    assert "eve" not in out.read_text()  # the resolver is provenance, not export data
    assert main(["resolve", *ws]) == 0
    relisted = capsys.readouterr().out
    assert "[resolved]" in relisted and "eve picked B" in relisted


def test_a_version_3_workspace_gains_the_resolutions_table(workspace):
    path = workspace / STORE_FILENAME
    conn = sqlite3.connect(path)
    for migration in store_schema.MIGRATIONS[:3]:
        migration(conn)
    conn.execute("PRAGMA user_version = 3")
    conn.execute("INSERT INTO prompts (text, set_name, created) VALUES ('q', 'default', 'now')")
    conn.commit()
    conn.close()
    with Store.open(workspace) as store:
        assert store_schema.schema_version(store._conn) == len(store_schema.MIGRATIONS) == 4
        assert store.resolutions() == [] and [p.text for p in store.prompts()] == ["q"]
