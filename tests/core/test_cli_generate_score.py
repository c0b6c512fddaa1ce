"""The `generate` and `score` commands end to end on a tiny model."""

import json

import pytest

from core.cli import main
from core.store import Store


@pytest.fixture
def prompts_file(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text("This movie was\nThe blender is\n", encoding="utf-8")
    return path


def _generate(tiny_model_dir, prompts_file, workspace, *extra):
    return main(
        [
            "generate",
            "--model",
            str(tiny_model_dir),
            "--prompts",
            str(prompts_file),
            "--n",
            "2",
            "--max-new-tokens",
            "6",
            "--workspace",
            str(workspace),
            *extra,
        ]
    )


def test_generate_prints_and_stores_completions(tiny_model_dir, prompts_file, workspace, capsys):
    assert _generate(tiny_model_dir, prompts_file, workspace, "--seed", "3", "--json") == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["prompt"] for line in lines] == ["This movie was"] * 2 + ["The blender is"] * 2
    with Store.open(workspace) as store:
        stored = store.generations()
    assert [g.text for g in stored] == [line["completion"] for line in lines]
    assert all(g.seed == 3 and g.params["n"] == 2 for g in stored)


def test_same_seed_same_completions(tiny_model_dir, prompts_file, tmp_path, capsys):
    outputs = []
    for name in ("a", "b"):
        assert _generate(tiny_model_dir, prompts_file, tmp_path / name, "--seed", "7") == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]


def test_generate_with_bad_model_folder_is_one_line_error(tmp_path, prompts_file, capsys):
    code = _generate(tmp_path / "no-such-model", prompts_file, tmp_path / "ws")
    err = capsys.readouterr().err
    assert code != 0
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_score_stores_one_score_per_source(tiny_model_dir, prompts_file, workspace, capsys):
    assert _generate(tiny_model_dir, prompts_file, workspace) == 0
    capsys.readouterr()
    code = main(
        [
            "score",
            "--reward",
            "sentiment",
            "--reward",
            "length=5@0.3",
            "--workspace",
            str(workspace),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "sentiment: 4 generations scored" in out and "length=5: 4 generations" in out
    with Store.open(workspace) as store:
        sources = sorted({s.source for s in store.scores()})
        assert sources == ["length=5", "sentiment"]
        assert len(store.scores()) == 8


def test_score_with_no_generations_says_what_to_do(workspace, capsys):
    assert main(["score", "--reward", "sentiment", "--workspace", str(workspace)]) == 2
    assert "generate" in capsys.readouterr().err


def test_generations_attach_to_the_prompt_set_they_came_from(
    tiny_model_dir, prompts_file, workspace, capsys
):
    assert main(["import-prompts", str(prompts_file), "--workspace", str(workspace)]) == 0
    with Store.open(workspace) as store:  # the same text in a newer set
        store.add_prompts(["This movie was"], set_name="newer")
    assert _generate(tiny_model_dir, prompts_file, workspace) == 0
    with Store.open(workspace) as store:
        set_ids = {row.id for row in store.prompts("prompts")}
        assert {g.prompt_id for g in store.generations()} <= set_ids
    capsys.readouterr()
    args = ["score", "--reward", "sentiment", "--set", "prompts", "--workspace", str(workspace)]
    assert main(args) == 0
    assert "sentiment: 4 generations scored" in capsys.readouterr().out
