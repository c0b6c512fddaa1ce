"""Chat preference data with a system message or several turns (HH-RLHF style): imported
as conversations, rendered whole through the chat template, trained on, exported back;
a plain-text model refuses them in one line."""

import json

import pytest
from transformers import AutoTokenizer

from core.cli import main
from core.data.preference_import import import_pairs
from core.data.prompt_format import prompt_token_ids
from core.data.trl_rows import conversation_of
from core.store import Store

SYSTEM = {"role": "system", "content": "You are terse."}
TURNS = [
    {"role": "user", "content": "Name a fruit."},
    {"role": "assistant", "content": "Apple."},
    {"role": "user", "content": "Another?"},
]


def _rows() -> list[dict]:
    answer = lambda text: [{"role": "assistant", "content": text}]  # noqa: E731
    return [
        {"prompt": [SYSTEM, TURNS[0]], "chosen": answer("Pear."), "rejected": answer("No.")},
        {"chosen": [*TURNS, *answer("Plum.")], "rejected": [*TURNS, *answer("Rock.")]},
    ]


@pytest.fixture
def pairs_file(tmp_path):
    path = tmp_path / "hh.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in _rows()), encoding="utf-8")
    return path


def test_system_and_multi_turn_rows_import_as_conversations(pairs_file, workspace, tmp_path):
    with Store.open(workspace) as store:
        report = import_pairs(store, pairs_file)
        assert report.imported == 2 and report.conversational == 2
        prompts = [conversation_of(row.text) for row in store.prompts()]
    assert [SYSTEM, TURNS[0]] in prompts and TURNS in prompts
    out = tmp_path / "pairs.jsonl"
    assert (
        main(["export", "--format", "pairs", "--out", str(out), "--workspace", str(workspace)]) == 0
    )
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(map(json.dumps, (r["prompt"] for r in exported))) == sorted(
        map(json.dumps, ([SYSTEM, TURNS[0]], TURNS))
    )
    standard = ["export", "--format", "pairs", "--layout", "standard", "--out", str(tmp_path / "s")]
    assert main([*standard, "--workspace", str(workspace)]) == 2  # text rows cannot hold them


def test_chat_format_renders_the_whole_conversation(chat_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(chat_model_dir)
    text = json.dumps([SYSTEM, *TURNS])
    expected = tokenizer.apply_chat_template(
        [SYSTEM, *TURNS], add_generation_prompt=True, tokenize=False
    )
    ids = prompt_token_ids(tokenizer, text, "chat")
    assert tokenizer.decode(ids) == expected
    assert "system: You are terse." in expected and "user: Another?" in expected


def test_dpo_trains_on_conversations_with_the_chat_format(
    pairs_file, chat_model_dir, tiny_model_dir, workspace, capsys
):
    assert main(["import-pairs", str(pairs_file), "--workspace", str(workspace)]) == 0
    common = ["--device", "cpu", "--workspace", str(workspace), "--batch-size", "2", "--steps", "1"]
    chat = ["dpo", "--model", str(chat_model_dir), "--prompt-format", "chat", *common]
    assert main(chat) == 0
    capsys.readouterr()
    assert main(["dpo", "--model", str(tiny_model_dir), *common]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1
    assert "is a conversation" in errors[0] and "--prompt-format chat" in errors[0]
