"""Round trip with TRL: a TRL-format dataset in, a reward model trained here, the export out,
and TRL's DPOTrainer, RewardTrainer and KTOTrainer each train one step on it, on the very
rows that went in. Needs the `bench` extra's TRL (and `datasets`): skipped without them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

trl = pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")

import torch  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)

from core.cli import main  # noqa: E402
from core.rewards.classifier import ClassifierReward  # noqa: E402

pytestmark = pytest.mark.slow

PAIRS = [
    {"prompt": "The movie was", "chosen": " great fun, I loved it.", "rejected": " awful."},
    {"prompt": "The hotel room was", "chosen": " clean and quiet.", "rejected": " dirty."},
    {"prompt": "This blender is", "chosen": " excellent.", "rejected": " broken, sadly."},
    {"prompt": "The pizza place was", "chosen": " wonderful.", "rejected": " a waste."},
    {"prompt": "This book is", "chosen": " a delight.", "rejected": " boring and flat."},
    {"prompt": "My new phone is", "chosen": " fast and fine.", "rejected": " terrible."},
]
RATINGS = [
    {"prompt": "The movie was", "completion": " great fun.", "label": True},
    {"prompt": "The movie was", "completion": " awful.", "label": False},
    {"prompt": "The hotel was", "completion": " lovely.", "label": True},
    {"prompt": "The hotel was", "completion": " dirty.", "label": False},
]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _load(path: Path, cache: Path):
    return datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(cache))


def _one_step(tmp_path: Path) -> dict:
    """TrainingArguments for one CPU step that writes nothing but what is asked."""
    return dict(output_dir=str(tmp_path / "trl-out"), max_steps=1, per_device_train_batch_size=2,
                report_to="none", use_cpu=True, save_strategy="no", logging_steps=1)  # fmt: skip


def _cli(*argv) -> None:
    assert main([str(arg) for arg in argv]) == 0, argv


def test_pairs_and_ratings_go_through_the_studio_and_train_in_trl(demo_model_dir, tmp_path):
    workspace, cache = tmp_path / "ws", tmp_path / "cache"
    # A TRL dataset as TRL users keep it: a folder saved with save_to_disk.
    source = _load(_write_jsonl(tmp_path / "pairs.jsonl", PAIRS), cache)
    source.save_to_disk(str(tmp_path / "hh"))
    _cli("import-pairs", tmp_path / "hh", "--rater", "hh", "--workspace", workspace)
    _cli("import-ratings", _write_jsonl(tmp_path / "kto.jsonl", RATINGS), "--workspace", workspace)
    # Train here: a reward model on the imported pairs.
    rm_dir = tmp_path / "rm"
    _cli("train-rm", "--epochs", "1", "--device", "cpu", "--out", rm_dir, "--workspace", workspace)
    # Take it to TRL: the export holds exactly the rows that went in, and TRL's keys.
    _cli("export", "--format", "pairs", "--out", tmp_path / "out.jsonl", "--workspace", workspace)
    kto_out = tmp_path / "kto.out.jsonl"  # the ratings only: kto --no-pairs trains on them
    _cli("export", "--format", "kto", "--no-pairs", "--out", kto_out, "--workspace", workspace)
    pairs = _load(tmp_path / "out.jsonl", cache)
    assert [{k: row[k] for k in ("prompt", "chosen", "rejected")} for row in pairs] == PAIRS
    assert set(pairs["margin"]) == {1.0} and set(pairs["source"]) == {"human"}
    ratings = _load(tmp_path / "kto.out.jsonl", cache)
    assert list(ratings) == RATINGS and ratings.column_names == ["prompt", "completion", "label"]

    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir)
    dpo = trl.DPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(demo_model_dir),
        args=trl.DPOConfig(**_one_step(tmp_path)), train_dataset=pairs,
        processing_class=tokenizer,
    )  # fmt: skip
    assert math.isfinite(dpo.train().training_loss)
    kto = trl.KTOTrainer(
        model=AutoModelForCausalLM.from_pretrained(demo_model_dir),
        args=trl.KTOConfig(**_one_step(tmp_path)), train_dataset=ratings,
        processing_class=tokenizer,
    )  # fmt: skip
    assert math.isfinite(kto.train().training_loss)
    # TRL fine-tunes the reward model trained here (it loads as a plain classifier) ...
    rm_tokenizer = AutoTokenizer.from_pretrained(rm_dir)
    reward = trl.RewardTrainer(
        model=AutoModelForSequenceClassification.from_pretrained(rm_dir),
        args=trl.RewardConfig(**_one_step(tmp_path)), train_dataset=pairs,
        processing_class=rm_tokenizer,
    )  # fmt: skip
    assert math.isfinite(reward.train().training_loss)
    trl_rm = tmp_path / "trl-rm"
    reward.save_model(str(trl_rm))
    # ... and the TRL-trained model scores here on the input TRL trained it on.
    model = AutoModelForSequenceClassification.from_pretrained(trl_rm).eval()
    eos = rm_tokenizer.eos_token
    with torch.no_grad():
        trl_inputs = [
            rm_tokenizer(p["prompt"] + p["chosen"] + eos, return_tensors="pt") for p in PAIRS
        ]
        expected = [model(**ids).logits[0, 0].item() for ids in trl_inputs]
    scorer = ClassifierReward(trl_rm, device="cpu")
    assert scorer.eos_token == eos  # detected from the folder (TRL's training_args.bin)
    got = scorer.score([p["prompt"] for p in PAIRS], [p["chosen"] for p in PAIRS])
    assert got == pytest.approx(expected, abs=1e-5)


def test_conversational_rows_round_trip_for_a_chat_model(chat_model_dir, tmp_path):
    workspace, cache = tmp_path / "ws", tmp_path / "cache"
    rows = [
        {"prompt": [{"role": "user", "content": p["prompt"]}],
         "chosen": [{"role": "assistant", "content": p["chosen"]}],
         "rejected": [{"role": "assistant", "content": p["rejected"]}]}
        for p in PAIRS
    ]  # fmt: skip
    _cli("import-pairs", _write_jsonl(tmp_path / "chat.jsonl", rows), "--workspace", workspace)
    _cli("export", "--format", "pairs", "--out", tmp_path / "out.jsonl", "--workspace", workspace)
    pairs = _load(tmp_path / "out.jsonl", cache)
    assert [{k: row[k] for k in ("prompt", "chosen", "rejected")} for row in pairs] == rows
    dpo = trl.DPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(chat_model_dir),
        args=trl.DPOConfig(**_one_step(tmp_path)), train_dataset=pairs,
        processing_class=AutoTokenizer.from_pretrained(chat_model_dir),
    )  # fmt: skip
    assert math.isfinite(dpo.train().training_loss)
