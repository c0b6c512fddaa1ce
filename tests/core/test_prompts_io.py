"""Reading prompt files: every format, every malformed input, all-or-nothing imports."""

import json

import pytest

from core.data.prompts_io import PromptRecord, import_prompts, read_prompts
from core.errors import InputFileError
from core.store import Store


def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def _error(path) -> str:
    with pytest.raises(InputFileError) as error:
        read_prompts(path)
    return str(error.value)


# ------------------------------------------------------------------ formats


def test_txt_has_one_prompt_per_non_blank_line(tmp_path):
    path = _write(tmp_path / "p.txt", "\ufeffFirst prompt\r\n\r\n  Second prompt  \n\n\nThird\n")
    assert read_prompts(path) == [
        PromptRecord("First prompt"),
        PromptRecord("Second prompt"),
        PromptRecord("Third"),
    ]


def test_jsonl_reads_prompt_and_optional_reference(tmp_path):
    lines = [
        json.dumps({"prompt": "Review this film:", "reference": "A fine film."}),
        "",
        json.dumps({"prompt": "Sans référence", "id": 7}),
        json.dumps({"prompt": "Null reference", "reference": None}),
    ]
    path = _write(tmp_path / "p.jsonl", "\n".join(lines) + "\n")
    assert read_prompts(path) == [
        PromptRecord("Review this film:", "A fine film."),
        PromptRecord("Sans référence", None),
        PromptRecord("Null reference", None),
    ]


def test_csv_reads_the_prompt_column_and_optional_reference(tmp_path):
    text = 'id,Prompt,reference\n1,"Hello, world",hi\n\n2,"A prompt on\ntwo lines",\n3,Plain,\n'
    path = _write(tmp_path / "p.csv", text)
    assert read_prompts(path) == [
        PromptRecord("Hello, world", "hi"),
        PromptRecord("A prompt on\ntwo lines", None),
        PromptRecord("Plain", None),
    ]


def test_csv_without_reference_column(tmp_path):
    path = _write(tmp_path / "p.csv", "\n\nprompt\nOne\nTwo\n")
    assert read_prompts(path) == [PromptRecord("One"), PromptRecord("Two")]


# ------------------------------------------------------------------- errors


def test_invalid_json_names_the_line(tmp_path):
    lines = ['{"prompt": "a"}', '{"prompt": "b"}', '{"prompt": "c"', '{"prompt": "d"}']
    message = _error(_write(tmp_path / "bad.jsonl", "\n".join(lines)))
    assert "bad.jsonl line 3" in message and "invalid JSON" in message


def test_missing_prompt_field_names_the_line_and_the_keys_found(tmp_path):
    lines = ['{"prompt": "ok"}'] * 4 + ['{"text": "no prompt here", "id": 5}']
    message = _error(_write(tmp_path / "bad.jsonl", "\n".join(lines)))
    assert "line 5" in message and 'missing "prompt"' in message
    assert "id, text" in message


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"prompt": "   "}', "empty prompt"),
        ('{"prompt": 42}', "must be text"),
        ('["prompt", "x"]', "expected a JSON object"),
        ('{"prompt": "x", "reference": 3}', '"reference" must be text'),
    ],
)
def test_bad_jsonl_values_name_the_line(tmp_path, line, expected):
    message = _error(_write(tmp_path / "bad.jsonl", '{"prompt": "fine"}\n\n' + line + "\n"))
    assert "line 3" in message and expected in message


def test_csv_without_prompt_column_lists_the_columns_found(tmp_path):
    message = _error(_write(tmp_path / "bad.csv", "\nquestion,answer\nhi,there\n"))
    assert "bad.csv line 2: no 'prompt' column" in message and "'question', 'answer'" in message


def test_csv_empty_prompt_names_its_line(tmp_path):
    message = _error(_write(tmp_path / "bad.csv", 'prompt,reference\n"two\nlines",r\n,ref\n'))
    assert "bad.csv line 4" in message and "empty prompt" in message


def test_csv_row_with_extra_fields_names_its_line(tmp_path):
    message = _error(_write(tmp_path / "bad.csv", "prompt\nfine\nHello, world\n"))
    assert "line 3" in message and "quote fields" in message


def test_unknown_extension(tmp_path):
    message = _error(_write(tmp_path / "prompts.json", '[{"prompt": "x"}]'))
    assert "unknown prompt file type '.json'" in message and ".jsonl" in message


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("e.txt", ""),
        ("e.txt", "\n  \n\n"),
        ("e.jsonl", "\n\n"),
        ("e.csv", ""),
        ("e.csv", "prompt\n"),
    ],
)
def test_a_file_without_prompts_is_an_error(tmp_path, name, text):
    assert "holds no prompts" in _error(_write(tmp_path / name, text))


def test_undecodable_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("one\ntwo\ncaf\xe9\n".encode("latin-1"))
    message = _error(path)
    assert "latin.txt line 3" in message and "UTF-8" in message and "0xe9" in message


def test_a_missing_file(tmp_path):
    assert "no such file" in _error(tmp_path / "nowhere.txt")


# ------------------------------------------------------------------ imports


def test_import_is_all_or_nothing(tmp_path, workspace):
    lines = [json.dumps({"prompt": f"p{i}"}) for i in range(4)] + ['{"nope": 1}']
    path = _write(tmp_path / "bad.jsonl", "\n".join(lines))
    with Store.open(workspace) as store:
        with pytest.raises(InputFileError, match="line 5"):
            import_prompts(store, path)
        assert store.prompts() == []


def test_import_defaults_the_set_to_the_file_name_and_skips_duplicates(tmp_path, workspace):
    path = _write(tmp_path / "movies.jsonl", '{"prompt": "a", "reference": "r"}\n{"prompt": "b"}\n')
    with Store.open(workspace) as store:
        report = import_prompts(store, path)
        assert (report.imported, report.skipped_duplicates, report.set_name) == (2, 0, "movies")
        assert [(p.text, p.reference) for p in store.prompts("movies")] == [("a", "r"), ("b", None)]
        _write(path, '{"prompt": "b"}\n{"prompt": "c"}\n{"prompt": "c"}\n')
        again = import_prompts(store, path)
        assert (again.imported, again.skipped_duplicates) == (1, 2)
        assert [p.text for p in store.prompts("movies")] == ["a", "b", "c"]
        # Another set is separate: the same texts go in again.
        assert import_prompts(store, path, set_name="other").imported == 2
