"""The order pairs are offered in for labelling (core.rating.label_order) and `label --order`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2ForSequenceClassification

from core.errors import StudioError
from core.rating.label_order import (
    _ensemble_probabilities,
    judge_probabilities,
    latest_reward_model,
    order_pairs,
    unrated_pairs,
)
from core.reward_model.features import final_linear, pooled_features
from core.rewards.classifier import ClassifierReward
from core.rlaif.labelling import candidate_pairs
from core.store import Store

POSITIVE = ["I loved it", "great fun", "wonderful", "nice and warm", "a delight", "superb"]
NEGATIVE = ["awful", "boring", "terrible", "bad and cold", "a mess", "dreadful"]


def save_rm(folder, tokenizer):
    """A random tiny 1-label GPT-2 classifier with the tiny tokenizer: a reward model."""
    torch.manual_seed(0)
    config = GPT2Config(n_layer=1, n_head=2, n_embd=32, n_positions=64, num_labels=1,
                        vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                        eos_token_id=tokenizer.eos_token_id)  # fmt: skip
    GPT2ForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def labelled_workspace(workspace, tiny_tokenizer):
    """A workspace with a reward model, six pairs a person compared (positive wins) and
    candidate pairs: three unrated, one of two identical answers."""
    save_rm(workspace / "reward_models" / "rm-1", tiny_tokenizer)
    with Store.open(workspace) as store:
        [prompt] = store.add_prompts(["The film was"])
        for good, bad in zip(POSITIVE, NEGATIVE, strict=True):
            a, b = (store.add_generation(prompt, t, "m") for t in (" " + good, " " + bad))
            store.add_comparison(prompt, a, b, "left", "ann")
        fresh = [" simply lovely", " dull and slow", " fine", " fine", " just great", " awful"]
        ids = [store.add_generation(prompt, t, "m") for t in fresh]
        candidates = [(prompt, ids[0], ids[1]), (prompt, ids[2], ids[3]), (prompt, ids[4], ids[5])]
    return workspace, candidates


def test_features_are_what_the_score_head_reads(tiny_tokenizer, tmp_path):
    folder = save_rm(tmp_path / "rm", tiny_tokenizer)
    reward = ClassifierReward(folder, device="cpu")
    prompts, answers = ["The film was"] * 3, [" great", " a long and boring mess", ""]
    phi = reward.features(prompts, answers)
    head = final_linear(reward.model)
    assert phi.shape == (3, 32)
    # Through the head they are the scores, padding and all (three lengths in one batch).
    expected = reward.score(prompts, answers)
    assert (phi @ head.weight.detach().T)[:, 0].tolist() == pytest.approx(expected, abs=1e-4)
    assert pooled_features(reward.model, reward.tokenizer, [], 32).shape == (0, 32)


def test_active_order_puts_a_pair_of_identical_answers_last(labelled_workspace):
    workspace, candidates = labelled_workspace
    with Store.open(workspace) as store:
        ordering = order_pairs(store, candidates, "active")
        p, _ = _ensemble_probabilities(store, candidates, latest_reward_model(workspace), 0, "cpu")
    assert sorted(ordering.pairs) == sorted(candidates)
    # Identical answers have identical features: every head says 0.5, the label is noise.
    assert ordering.pairs[-1] == candidates[1] and ordering.scores[-1] == pytest.approx(0.0)
    assert ordering.scores[0] >= ordering.scores[1] > 0
    assert np.allclose(p[:, 1], 0.5) and p.shape == (8, 3)
    assert "rm-1 is least sure of first" in ordering.message


def test_disagreement_order_puts_the_judge_against_the_reward_model_first(labelled_workspace):
    workspace, candidates = labelled_workspace
    with Store.open(workspace) as store:
        p, _ = _ensemble_probabilities(store, candidates, latest_reward_model(workspace), 0, "cpu")
        mean = p.mean(axis=0)
        # The judge agrees with the reward model on pair 0 and says the opposite, sure, on 2.
        (prompt, a, b), (_, c, d) = candidates[0], candidates[2]
        store.add_comparison(prompt, a, b, "left", "ai:j", soft_label=float(mean[0]))
        opposite = 0.0 if mean[2] > 0.5 else 1.0
        store.add_comparison(prompt, d, c, "left", "ai:j", soft_label=1.0 - opposite)
        ordering = order_pairs(store, candidates, "disagreement")
    assert ordering.pairs == [candidates[2], candidates[0], candidates[1]]
    assert ordering.scores[0] == pytest.approx(abs(mean[2] - opposite))
    assert ordering.scores[1] == pytest.approx(0.0, abs=1e-9) and ordering.scores[2] is None


def test_orders_that_need_a_reward_model_say_so_and_do_not_fall_back(workspace):
    with Store.open(workspace) as store:
        pairs = [(1, 1, 2), (1, 3, 4), (1, 5, 6)]
        assert order_pairs(store, pairs, "fixed").pairs == pairs
        shuffled = order_pairs(store, pairs, "random", seed=3).pairs
        assert sorted(shuffled) == pairs
        with pytest.raises(StudioError, match="none yet: train one"):
            order_pairs(store, pairs, "active")
        with pytest.raises(StudioError, match="Unknown order"):
            order_pairs(store, pairs, "smart")


def test_too_few_labels_and_no_judge_are_named(labelled_workspace, tiny_tokenizer):
    workspace, candidates = labelled_workspace
    with Store.open(workspace) as store, pytest.raises(StudioError, match="no judge has"):
        order_pairs(store, candidates, "disagreement")
    empty = workspace.parent / "empty"
    save_rm(empty / "reward_models" / "rm-3", tiny_tokenizer)
    with Store.open(empty) as store, pytest.raises(StudioError, match="Only 0 labelled pairs"):
        order_pairs(store, [(1, 1, 2)], "active")


def test_latest_reward_model_and_unrated_pairs(labelled_workspace, tiny_tokenizer):
    workspace, candidates = labelled_workspace
    assert latest_reward_model(workspace).name == "rm-1"
    save_rm(workspace / "reward_models" / "rm-10", tiny_tokenizer)
    (workspace / "reward_models" / "rm-11").mkdir()  # no model in it
    assert latest_reward_model(workspace).name == "rm-10"
    with Store.open(workspace) as store:
        (prompt, a, b) = candidates[2]
        store.add_comparison(prompt, b, a, "right", "ai:j")
        found = unrated_pairs(store)
        rows = store.comparisons("all")
        assert judge_probabilities(rows, [candidates[2]]) == [1.0]  # right of (b, a) is a
    # The judge's pair first (as it judged it), then the unrated neighbours; never a pair
    # a person compared.
    assert found == [(prompt, b, a), candidates[0], candidates[1]]
    assert unrated_pairs(Store.open(workspace), prompt_ids={999}) == []


def test_cli_label_order(labelled_workspace, tiny_model_dir, capsys):
    from core.cli import main

    workspace, candidates = labelled_workspace
    ws = ["--workspace", str(workspace)]
    judge = ["label", "--judge", str(tiny_model_dir), "--no-generate", "--device", "cpu"]
    with Store.open(workspace) as store:
        human, existing = candidate_pairs(store, "ai:gpt2#default", 100)
        expected = order_pairs(store, [*human, *existing], "active").pairs
    assert main([*judge, "--order", "active", "--pairs", "2", *ws]) == 0
    out = capsys.readouterr().out
    assert "order active: 9 pairs, the ones rm-1 is least sure of first" in out
    assert "2 comparisons by ai:gpt2#default" in out
    with Store.open(workspace) as store:
        judged = [(c.prompt_id, c.left_id, c.right_id) for c in store.comparisons("ai")]
    assert judged == expected[:2] and candidates[1] not in judged
    empty = workspace.parent / "other"
    assert main([*judge, "--order", "disagreement", "--workspace", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "compares the reward model with the judges' verdicts, and this workspace has none" in err
    assert "--order random" in err and len(err.strip().splitlines()) == 1
    assert main([*judge, "--order", "active", "--rm", str(empty / "nowhere"), *ws]) == 2
    assert "no reward model there" in capsys.readouterr().err
