"""The store's CLI commands: import-prompts, prompts, export — through the real dispatcher."""

import json

import pytest

from core.cli import main
from core.store import Store


def _cli(capsys, *argv):
    """Run the CLI; return (exit status, stdout, stderr)."""
    status = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_import_prompts_reports_count_set_and_workspace(capsys, tmp_path, workspace):
    path = tmp_path / "films.txt"
    path.write_text("Review of a film:\n\nThe sequel was\n")
    status, out, _ = _cli(capsys, "import-prompts", path, "--workspace", workspace)
    assert status == 0
    assert out.strip() == f"imported 2 prompts into set films (workspace {workspace})"
    status, out, _ = _cli(capsys, "import-prompts", path, "--set", "mine", "--workspace", workspace)
    assert out.startswith("imported 2 prompts into set mine")
    status, out, _ = _cli(capsys, "import-prompts", path, "--set", "mine", "--workspace", workspace)
    assert out.strip().endswith(
        f"imported 0 prompts into set mine (workspace {workspace}); skipped 2 already in the set"
    )
    with Store.open(workspace) as store:
        assert store.prompt_sets() == ["films", "mine"]
        assert [p.text for p in store.prompts("mine")] == ["Review of a film:", "The sequel was"]


def test_import_prompts_uses_the_default_workspace(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("RLHF_STUDIO_HOME", str(tmp_path / "home"))
    path = tmp_path / "p.txt"
    path.write_text("hello\n")
    status, out, _ = _cli(capsys, "import-prompts", path)
    assert status == 0
    default = tmp_path / "home" / "workspaces" / "default"
    assert f"(workspace {default})" in out
    with Store.open(default) as store:
        assert [p.text for p in store.prompts("p")] == ["hello"]


def test_a_bad_prompt_file_is_a_one_line_error_and_imports_nothing(capsys, tmp_path, workspace):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "a"}\n{"prompt": "b"}\n{"prompt": \n')
    status, out, err = _cli(capsys, "import-prompts", path, "--workspace", workspace)
    assert status != 0 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "bad.jsonl line 3: invalid JSON" in err
    with Store.open(workspace) as store:
        assert store.prompts() == []


def test_import_prompts_of_a_missing_file(capsys, tmp_path, workspace):
    status, _, err = _cli(capsys, "import-prompts", tmp_path / "no.txt", "--workspace", workspace)
    assert status != 0 and "no such file" in err


def test_prompts_lists_sets_and_the_prompts_of_a_set(capsys, workspace):
    status, _, err = _cli(capsys, "prompts", "--workspace", workspace)
    assert status != 0 and "import-prompts" in err
    with Store.open(workspace) as store:
        ids = store.add_prompts(["one", "two\nlines"], set_name="a")
        store.add_prompts(["three"], set_name="b")
    status, out, _ = _cli(capsys, "prompts", "--workspace", workspace)
    assert status == 0 and out.splitlines() == ["a\t2 prompts", "b\t1 prompts"]
    status, out, _ = _cli(capsys, "prompts", "--set", "a", "--workspace", workspace)
    assert out.splitlines() == [f"{ids[0]}\tone", f"{ids[1]}\ttwo lines"]
    status, _, err = _cli(capsys, "prompts", "--set", "zzz", "--workspace", workspace)
    assert status != 0 and "sets here: a, b" in err


def _fill(workspace):
    with Store.open(workspace) as store:
        [prompt_id] = store.add_prompts(["Review:"])
        good = store.add_generation(prompt_id, "Great.", "demo", None, {}, None)
        bad = store.add_generation(prompt_id, "Awful.", "demo", None, {}, None)
        for verdict in ("tie", "both_bad", "both_bad", "left", "left"):
            store.add_comparison(prompt_id, good, bad, verdict, "alice")
        store.add_comparison(prompt_id, good, bad, "right", "ai:judge")
        store.add_rating(good, 4, "alice")
        run_id = store.create_run("ppo", {})
        for step in range(3):
            store.add_metrics(run_id, step, {"reward/mean": step / 2})
        store.add_samples(run_id, 2, [{"prompt": "Review:", "response": "Fine.", "reward": 0.2}])
        return run_id


def test_export_pairs_ratings_and_metrics(capsys, tmp_path, workspace):
    run_id = _fill(workspace)
    out = tmp_path / "pairs.jsonl"
    status, text, _ = _cli(
        capsys,
        "export",
        "--format",
        "pairs",
        "--out",
        out,
        "--source",
        "human",
        "--workspace",
        workspace,
    )
    assert status == 0
    # One row per pair: alice's latest of her five verdicts, "Great." (see
    # core.data.conflicts); the pair is exported once.
    assert text.startswith("wrote 1 pairs; left out 0 ties, 0 both-bad")
    assert [json.loads(line)["chosen"] for line in out.read_text().splitlines()] == ["Great."]

    status, text, err = _cli(
        capsys, "export", "--format", "pairs", "--out", out, "--force", "--workspace", workspace
    )
    assert text.startswith("wrote 1 pairs;")
    assert (
        "1 pairs had human and AI verdicts; the human one was kept (the AI disagreed on 1)" in err
    )

    ratings = tmp_path / "ratings.jsonl"
    status, text, _ = _cli(
        capsys, "export", "--format", "ratings", "--out", ratings, "--workspace", workspace
    )
    assert status == 0 and text.startswith("wrote 1 ratings")
    assert json.loads(ratings.read_text())["rating"] == 4.0

    metrics = tmp_path / "metrics.csv"
    status, text, _ = _cli(
        capsys,
        "export",
        "--format",
        "metrics",
        "--out",
        metrics,
        "--run",
        run_id,
        "--workspace",
        workspace,
    )
    assert status == 0 and text.startswith(f"wrote 3 steps of run {run_id}")
    assert metrics.read_text().splitlines() == ["step,reward/mean", "0,0.0", "1,0.5", "2,1.0"]

    samples = tmp_path / "samples.jsonl"
    status, text, _ = _cli(
        capsys, "export", "--format", "samples", "--out", samples, "--workspace", workspace
    )
    assert status == 0 and text.startswith(f"wrote 1 samples of run {run_id}")
    assert json.loads(samples.read_text())["response"] == "Fine."


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--format", "pairs", "--run", "1"], "--run applies to --format metrics and samples"),
        (["--format", "samples", "--source", "ai"], "--source applies to pairs, kto and ratings"),
        (["--format", "metrics", "--source", "ai"], "--source applies to pairs, kto and ratings"),
        (["--format", "metrics", "--run", "77"], "no run with id 77"),
        (["--format", "ratings", "--source", "ai"], "no AI ratings"),
    ],
)
def test_export_bad_input_is_a_one_line_error(capsys, tmp_path, workspace, argv, message):
    _fill(workspace)
    out = tmp_path / "out.file"
    status, _, err = _cli(capsys, "export", *argv, "--out", out, "--workspace", workspace)
    assert status != 0
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_export_rejects_an_unknown_format(capsys, tmp_path, workspace):
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "export",
                "--format",
                "parquet",
                "--out",
                str(tmp_path / "x"),
                "--workspace",
                str(workspace),
            ]
        )
    assert exit_info.value.code != 0
    assert "invalid choice" in capsys.readouterr().err
