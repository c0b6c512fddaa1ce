"""Reward-model inputs end with the end-of-text token when the model's trainer appended
one (TRL's RewardTrainer, train-rm since rm_meta format 2), read from the folder."""

from __future__ import annotations

import json
import zipfile

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from core.reward_model.folder import META_FILE, appends_eos, reward_input
from core.rewards.classifier import ClassifierReward

TRL_CARD = "---\nlibrary_name: transformers\ntags:\n- generated_from_trainer\n- reward-trainer\n- trl\n---\n\n# Model\n"


@pytest.fixture(scope="module")
def classifier_dir(tiny_model_dir, tmp_path_factory):
    """A 1-label sequence classifier over the tiny GPT-2, no trainer recorded."""
    folder = tmp_path_factory.mktemp("rm") / "plain"
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_reward_input_appends_eos_once():
    assert reward_input("P ", "answer", "<eos>") == "P answer<eos>"
    assert reward_input("P ", "answer<eos>", "<eos>") == "P answer<eos>"  # as TRL: not twice
    assert reward_input("P ", "answer", None) == "P answer"


def test_the_folder_says_which_convention(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    assert appends_eos(folder)[0] is False  # nobody recorded: the text as it is
    (folder / META_FILE).write_text(json.dumps({"format_version": 1}), encoding="utf-8")
    assert appends_eos(folder)[0] is False  # train-rm before format 2
    (folder / META_FILE).write_text(json.dumps({"format_version": 2, "append_eos": True}))
    assert appends_eos(folder)[0] is True
    (folder / META_FILE).unlink()
    (folder / "README.md").write_text(TRL_CARD, encoding="utf-8")
    assert appends_eos(folder) == (True, "TRL's RewardTrainer (it appends the end-of-text token)")
    (folder / "README.md").write_text("# just a card mentioning reward-trainer\n")
    assert appends_eos(folder)[0] is False  # only the card's tags count
    with zipfile.ZipFile(folder / "training_args.bin", "w") as archive:
        archive.writestr(
            "training_args/data.pkl", b"\x80\x02ctrl.trainer.reward_config\nRewardConfig\n"
        )
    assert appends_eos(folder)[0] is True
    (folder / "training_args.bin").write_bytes(b"not a zip")
    assert appends_eos(folder)[0] is False


def test_a_trl_reward_model_scores_as_it_was_trained(classifier_dir, tmp_path):
    import shutil

    trl_dir = tmp_path / "trl"
    shutil.copytree(classifier_dir, trl_dir)
    (trl_dir / "README.md").write_text(TRL_CARD, encoding="utf-8")
    model = AutoModelForSequenceClassification.from_pretrained(classifier_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(classifier_dir)
    eos = tokenizer.eos_token
    assert eos and tokenizer.eos_token_id != tokenizer.pad_token_id

    def library(texts):
        with torch.no_grad():
            return [model(**tokenizer(t, return_tensors="pt")).logits[0, 0].item() for t in texts]

    prompts, answers = ["Review: ", "Review: "], ["great fun", "boring plot"]
    texts = [p + a for p, a in zip(prompts, answers, strict=True)]
    trl_source = ClassifierReward(trl_dir, device="cpu")
    assert trl_source.eos_token == eos
    assert trl_source.score(prompts, answers) == pytest.approx(library([t + eos for t in texts]))
    plain_source = ClassifierReward(classifier_dir, device="cpu")
    assert plain_source.eos_token is None
    assert plain_source.score(prompts, answers) == pytest.approx(library(texts))
    assert trl_source.score(prompts, answers) != pytest.approx(plain_source.score(prompts, answers))
