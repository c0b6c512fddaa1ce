"""import-pairs / import-ratings: TRL's row forms in, all or nothing, duplicates counted."""

from __future__ import annotations

import json

import pytest

from core.cli import main
from core.data.preference_import import import_pairs, import_ratings
from core.errors import InputFileError
from core.store import Store


@pytest.fixture
def store(workspace):
    with Store.open(workspace) as opened:
        yield opened


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def user(text):
    return [{"role": "user", "content": text}]


def assistant(text):
    return [{"role": "assistant", "content": text}]


def _pairs(store):
    """(prompt, chosen, rejected, rater, prompt format) of every stored comparison."""
    formats = {g.id: g.params["prompt_format"] for g in store.generations()}
    return [
        (c.prompt, c.left_text, c.right_text, c.rater, formats[c.left_id])
        for c in store.comparisons()
        if c.verdict == "left"
    ]


def test_standard_and_conversational_rows_become_comparisons(store, tmp_path):
    path = _write_jsonl(
        tmp_path / "prefs.jsonl",
        [
            {"prompt": "Q1 ", "chosen": "good", "rejected": "bad", "margin": 2.5},
            {"prompt": user("Q2"), "chosen": assistant("yes"), "rejected": assistant("no")},
            {"chosen": user("Q3") + assistant("a"), "rejected": user("Q3") + assistant("b")},
            {"prompt": "Q1 ", "chosen": "good", "rejected": "bad"},  # a duplicate
            {"prompt": "Q4", "chosen": "same", "rejected": "same"},  # says nothing
            # HuggingFaceH4/ultrafeedback_binarized: a prompt and whole conversations.
            {"prompt": "Q5", "chosen": user("Q5") + assistant("c"),
             "rejected": user("Q5") + assistant("d"), "score_chosen": 8.0},
        ],
    )  # fmt: skip
    report = import_pairs(store, path, rater="ai:ultrafeedback")
    assert (report.imported, report.duplicates, report.identical) == (4, 1, 1)
    assert (report.set_name, report.conversational) == ("prefs", 3)
    assert _pairs(store) == [
        ("Q1 ", "good", "bad", "ai:ultrafeedback", "plain"),  # the prompt kept exactly
        ("Q2", "yes", "no", "ai:ultrafeedback", "chat"),
        ("Q3", "a", "b", "ai:ultrafeedback", "chat"),
        ("Q5", "c", "d", "ai:ultrafeedback", "chat"),
    ]
    first = store.comparisons()[0]
    assert first.detail["margin"] == 2.5 and first.detail["imported_from"].endswith("line 1")
    assert first.soft_label is None  # a dataset's verdict, not a judge's probability
    # Importing again stores nothing new; another rater's verdicts are new.
    assert import_pairs(store, path, rater="ai:ultrafeedback").imported == 0
    assert import_pairs(store, path, rater="alice").imported == 4
    assert len(store.prompts("prefs")) == 4  # prompts and answers are reused, not repeated
    assert len(store.generations()) == 8


def test_a_bad_row_names_its_line_and_nothing_is_imported(store, tmp_path):
    path = _write_jsonl(
        tmp_path / "bad.jsonl",
        [
            {"prompt": "fine", "chosen": "a", "rejected": "b"},
            {"prompt": "fine", "chosen": "a", "rejected": "b", "margin": "big"},
        ],
    )
    with pytest.raises(InputFileError, match=r'bad.jsonl line 2: "margin" must be a number'):
        import_pairs(store, path)
    assert store.comparisons() == [] and store.prompts() == []


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"prompt": "p", "chosen": "a"}, 'needs "chosen" and "rejected"'),
        ({"prompt": "p", "completion": "a", "label": True}, "use import-ratings"),
        ({"chosen": "p a", "rejected": "p b"}, 'add a "prompt" column'),
        ({"prompt": user("p"), "chosen": "a", "rejected": "b"}, "mixes text and message lists"),
        (
            {
                "prompt": [{"role": "system", "content": "be nice"}, *user("p"), *assistant("x")],
                "chosen": assistant("a"),
                "rejected": assistant("b"),
            },
            r"holds messages \['system', 'user', 'assistant'\].*ends with the user message",
        ),  # fmt: skip
        (
            {"chosen": user("p") + assistant("a"), "rejected": user("q") + assistant("b")},
            "start with different messages",
        ),
        ({"prompt": "  ", "chosen": "a", "rejected": "b"}, 'empty "prompt"'),
        (
            {
                "prompt": "other",
                "chosen": user("p") + assistant("a"),
                "rejected": user("p") + assistant("b"),
            },
            '"prompt" differs from the user message',
        ),  # fmt: skip
        ({"prompt": 3, "chosen": "a", "rejected": "b"}, '"prompt" must be text'),
    ],
)
def test_rows_that_cannot_be_read_are_refused_with_the_fix(store, tmp_path, row, message):
    path = _write_jsonl(tmp_path / "rows.jsonl", [row])
    with pytest.raises(InputFileError, match=message):
        import_pairs(store, path)


def test_csv_and_parquet_files(store, tmp_path):
    csv_file = tmp_path / "hh.csv"
    csv_file.write_text(
        'prompt,chosen,rejected,score_chosen,score_rejected\n"Hi, you",hello,go away,8,2\n',
        encoding="utf-8",
    )
    assert import_pairs(store, csv_file, rater="hh").imported == 1
    [row] = store.comparisons()
    assert (row.prompt, row.left_text, row.right_text) == ("Hi, you", "hello", "go away")
    assert (row.detail["score_chosen"], row.detail["score_rejected"]) == (8.0, 2.0)

    pyarrow = pytest.importorskip("pyarrow")
    import pyarrow.parquet as parquet

    table = pyarrow.Table.from_pylist(
        [{"prompt": user("Q"), "chosen": assistant("a"), "rejected": assistant("b")}]
    )
    parquet.write_table(table, tmp_path / "conv.parquet")
    report = import_pairs(store, tmp_path / "conv.parquet")
    assert (report.imported, report.conversational) == (1, 1)


def test_a_saved_dataset_folder_and_its_splits(store, tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = [
        {"prompt": "a", "chosen": "x", "rejected": "z"},
        {"prompt": "b", "chosen": "y", "rejected": "w"},
    ]
    source = _write_jsonl(tmp_path / "rows.jsonl", rows)
    dataset = datasets.load_dataset(
        "json", data_files=str(source), split="train", cache_dir=str(tmp_path / "cache")
    )
    datasets.DatasetDict(train=dataset, test=dataset).save_to_disk(str(tmp_path / "ds"))
    with pytest.raises(InputFileError, match="splits test, train; choose one with --split"):
        import_pairs(store, tmp_path / "ds")
    report = import_pairs(store, tmp_path / "ds", split="train")
    assert (report.imported, report.set_name) == (2, "ds")


def test_without_datasets_a_folder_says_what_to_install(store, tmp_path, monkeypatch):
    import sys

    (tmp_path / "folder").mkdir()
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets now fails
    with pytest.raises(InputFileError, match="needs the datasets package"):
        import_pairs(store, tmp_path / "folder")


def test_ratings_take_labels_or_scores(store, tmp_path):
    path = _write_jsonl(
        tmp_path / "kto.jsonl",
        [
            {"prompt": "p", "completion": "nice", "label": True},
            {"prompt": "p", "completion": "rude", "label": False},
            {"prompt": user("q"), "completion": assistant("ok"), "label": True},
            {"prompt": "p", "response": "fine", "score": 3.5},  # the ratings export's name
            {"prompt": "p", "completion": "nice", "label": True},  # a duplicate
        ],
    )
    report = import_ratings(store, path, rater="bob")
    assert (report.imported, report.duplicates, report.conversational) == (4, 1, 1)
    assert [(r.prompt, r.response, r.value, r.rater) for r in store.ratings()] == [
        ("p", "nice", 1.0, "bob"),
        ("p", "rude", 0.0, "bob"),
        ("q", "ok", 1.0, "bob"),
        ("p", "fine", 3.5, "bob"),
    ]
    bad = _write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "p", "completion": "x"}])
    with pytest.raises(InputFileError, match=r'line 1: a rating row needs a "label"'):
        import_ratings(store, bad)
    pairs = _write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": "p", "chosen": "a"}])
    with pytest.raises(InputFileError, match="use import-pairs"):
        import_ratings(store, pairs)


def test_cli_imports_and_says_what_went_in(tmp_path, workspace, capsys):
    path = _write_jsonl(
        tmp_path / "prefs.jsonl",
        [{"prompt": "p", "chosen": "a", "rejected": "b"}, {"prompt": "p", "chosen": "a", "rejected": "b"}],
    )  # fmt: skip
    args = ["import-pairs", str(path), "--rater", "ai:gpt", "--set", "mine"]
    assert main([*args, "--workspace", str(workspace)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("imported 1 pairs by ai:gpt into prompt set mine")
    assert "skipped 1 duplicates" in out
    assert main(["import-pairs", str(tmp_path / "nope.jsonl"), "--workspace", str(workspace)]) == 2
    assert "nope.jsonl: no such file" in capsys.readouterr().err
    ratings = _write_jsonl(tmp_path / "r.jsonl", [{"prompt": "p", "completion": "a", "label": 0}])
    assert main(["import-ratings", str(ratings), "--workspace", str(workspace)]) == 0
    assert capsys.readouterr().out.startswith("imported 1 ratings by r into prompt set r")


def test_import_prompts_takes_conversational_prompts_and_points_at_import_pairs(
    tmp_path, workspace, capsys
):
    path = _write_jsonl(
        tmp_path / "trl.jsonl",
        [{"prompt": user("Hello"), "chosen": assistant("a"), "rejected": assistant("b")}],
    )
    assert main(["import-prompts", str(path), "--workspace", str(workspace)]) == 0
    captured = capsys.readouterr()
    assert "imported 1 prompts into set trl" in captured.out
    assert "also holds feedback (chosen, rejected)" in captured.err
    assert f"rlhf-studio-cli import-pairs {path}" in captured.err
    with Store.open(workspace) as store:
        assert [row.text for row in store.prompts("trl")] == ["Hello"]
