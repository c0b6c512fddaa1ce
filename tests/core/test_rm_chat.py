"""Reward models read conversational rows through the chat template, as TRL's
RewardTrainer does: at training (train-rm), at scoring (rm=FOLDER), and across the two
(a TRL-trained model scores here as in TRL, ours scores in TRL as here)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from core.cli import main
from core.reward_model.folder import META_FILE, chat_input
from core.rewards.classifier import ClassifierReward

PROMPTS = ["Rate the hotel.", "Rate the phone.", "Rate the film.", "Rate the blender."]
GOOD, BAD = "Lovely, clean and friendly.", "Dirty and rude."


def _rows() -> list[dict]:
    def message(role, text):
        return [{"role": role, "content": text}]

    return [
        {"prompt": message("user", p), "chosen": message("assistant", GOOD),
         "rejected": message("assistant", BAD)}
        for p in PROMPTS
    ]  # fmt: skip


@pytest.fixture(scope="module")
def chat_rm(chat_model_dir, tmp_path_factory) -> tuple[Path, Path]:
    """(workspace with the conversational pairs imported, reward model trained on them)."""
    root = tmp_path_factory.mktemp("rm-chat")
    source = root / "pairs.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in _rows()), encoding="utf-8")
    workspace = root / "ws"
    assert main(["import-pairs", str(source), "--workspace", str(workspace)]) == 0
    out = root / "rm"
    args = ["train-rm", "--base", str(chat_model_dir), "--epochs", "1", "--device", "cpu"]
    assert main([*args, "--out", str(out), "--workspace", str(workspace)]) == 0
    return workspace, out


def _direct_scores(folder: Path, ids: list[list[int]]) -> list[float]:
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with torch.no_grad():
        return [model(input_ids=torch.tensor([row])).logits[0, 0].item() for row in ids]


def _trl_ids(tokenizer, prompt: str, answer: str) -> list[int]:
    """What TRL's RewardTrainer feeds for a conversational row (its tokenize step)."""
    messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
    return tokenizer.apply_chat_template(messages, return_dict=True)["input_ids"]


def test_train_rm_records_and_scores_chat_rows_through_the_template(chat_rm):
    _, folder = chat_rm
    meta = json.loads((folder / META_FILE).read_text())
    assert meta["input_format"] == "chat"
    source = ClassifierReward(folder, device="cpu")  # recorded: chat, whatever the policy
    assert source.chat
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = [_trl_ids(tokenizer, p, GOOD) for p in PROMPTS[:2]]
    assert [chat_input(tokenizer, p, GOOD) for p in PROMPTS[:2]] == ids
    assert source.score(PROMPTS[:2], [GOOD, GOOD]) == pytest.approx(_direct_scores(folder, ids))


def test_text_rows_keep_the_text_convention(chat_model_dir, tmp_path):
    workspace = tmp_path / "ws"
    rows = [{"prompt": p, "chosen": GOOD, "rejected": BAD} for p in PROMPTS]
    source = tmp_path / "text.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert main(["import-pairs", str(source), "--workspace", str(workspace)]) == 0
    args = ["train-rm", "--base", str(chat_model_dir), "--epochs", "1", "--device", "cpu"]
    assert main([*args, "--out", str(tmp_path / "rm"), "--workspace", str(workspace)]) == 0
    assert json.loads((tmp_path / "rm" / META_FILE).read_text())["input_format"] == "text"
    assert not ClassifierReward(tmp_path / "rm", device="cpu", prompt_format="chat").chat


def test_trl_and_ours_score_chat_rows_the_same(chat_rm, tmp_path):
    trl = pytest.importorskip("trl")
    datasets = pytest.importorskip("datasets")
    _, ours = chat_rm
    tokenizer = AutoTokenizer.from_pretrained(ours)
    trainer = trl.RewardTrainer(
        model=AutoModelForSequenceClassification.from_pretrained(ours),
        args=trl.RewardConfig(output_dir=str(tmp_path / "out"), max_steps=1,
                              per_device_train_batch_size=2, report_to="none", use_cpu=True,
                              save_strategy="no"),
        train_dataset=datasets.Dataset.from_list(_rows()),
        processing_class=tokenizer,
    )  # fmt: skip
    assert math.isfinite(trainer.train().training_loss)
    trl_dir = tmp_path / "trl-rm"
    trainer.save_model(str(trl_dir))
    tokenizer.save_pretrained(trl_dir)
    ids = [_trl_ids(tokenizer, p, a) for p in PROMPTS[:2] for a in (GOOD, BAD)]
    prompts = [p for p in PROMPTS[:2] for _ in (GOOD, BAD)]
    answers = [GOOD, BAD] * 2
    # A TRL-trained folder records no input format: chat prompts are read as chat.
    here = ClassifierReward(trl_dir, device="cpu", prompt_format="chat")
    assert here.score(prompts, answers) == pytest.approx(_direct_scores(trl_dir, ids), abs=1e-5)
    # Ours, scored on TRL's tokenization of the same rows, gives our scores.
    mine = ClassifierReward(ours, device="cpu")
    assert mine.score(prompts, answers) == pytest.approx(_direct_scores(ours, ids), abs=1e-5)
