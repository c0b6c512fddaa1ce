"""Bradley–Terry reward models: the loss, the data, training, saving, loading, fine-tuning."""

import json
import math
import random
import time

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from core.config import LoraSpec, RMConfig
from core.errors import TrainingError
from core.reward_model.pairs import bradley_terry_loss, pair_accuracy, split_pairs
from core.reward_model.training import (
    META_FILE,
    PreferencePair,
    pairs_from_comparisons,
    read_meta,
    train_reward_model,
)
from core.rewards.classifier import ClassifierReward
from core.store import Store

pytestmark = pytest.mark.usefixtures("one_torch_thread")


POSITIVE = ["great fun", "wonderful acting", "I loved the story", "loved the music"]
NEGATIVE = ["terrible quality", "boring plot", "waste of money", "broke after one day"]


def word_pairs(n, seed=0):
    rng = random.Random(seed)
    return [
        PreferencePair("Review: ", rng.choice(POSITIVE), rng.choice(NEGATIVE)) for _ in range(n)
    ]


def fast_config(base, **overrides):
    values = dict(base=str(base), epochs=2, batch_size=8, learning_rate=3e-3, max_length=32,
                  lora=LoraSpec(r=4, alpha=8))  # fmt: skip
    values.update(overrides)
    return RMConfig(**values)


# --- maths --------------------------------------------------------------------------------


def test_bradley_terry_loss_hand_values():
    zero = torch.zeros(1)
    assert bradley_terry_loss(zero, zero, torch.ones(1)).item() == pytest.approx(math.log(2))
    r_c, r_r = torch.tensor([2.0]), torch.tensor([0.0])
    sigma = 1 / (1 + math.exp(-2))
    expected = -(0.7 * math.log(sigma) + 0.3 * math.log(1 - sigma))
    assert bradley_terry_loss(r_c, r_r, torch.tensor([0.7])).item() == pytest.approx(expected)
    # A hard label is -log σ(Δ); p = 0 is the same pair the other way round.
    assert bradley_terry_loss(r_c, r_r, torch.ones(1)).item() == pytest.approx(-math.log(sigma))
    assert bradley_terry_loss(r_r, r_c, torch.zeros(1)).item() == pytest.approx(-math.log(sigma))


def test_soft_label_loss_is_minimal_at_the_matching_margin():
    # d/dΔ of the soft loss is σ(Δ) - p: the optimum margin is logit(p).
    delta = torch.zeros(1, requires_grad=True)
    bradley_terry_loss(delta, torch.zeros(1), torch.tensor([0.5])).backward()
    assert delta.grad.item() == pytest.approx(0.0)
    p = 0.8
    best = torch.tensor([math.log(p / (1 - p))], requires_grad=True)
    bradley_terry_loss(best, torch.zeros(1), torch.tensor([p])).backward()
    assert best.grad.item() == pytest.approx(0.0, abs=1e-6)


def test_pair_accuracy_ignores_ties():
    delta = torch.tensor([1.0, -1.0, 2.0, 0.5])
    label = torch.tensor([1.0, 0.9, 0.2, 0.5])
    assert pair_accuracy(delta, label) == (1, 3)


def test_pairs_from_store_comparisons_follow_the_conflict_rule(workspace):
    votes = {
        "split": [("left", "ann"), ("left", "bob"), ("right", "cid")],  # 2 against 1
        "conflict": [("left", "ann"), ("right", "bob")],  # cancel out: not trained on
        "tie": [("tie", "ann")],
        "both bad": [("both_bad", "ann")],
        "judge": [("right", "ai:j")],
        "re-rated": [("right", "ann"), ("left", "ann"), ("right", "ai:j")],  # latest counts
    }
    with Store.open(workspace) as store:
        for prompt, cast in votes.items():
            [prompt_id] = store.add_prompts([prompt])
            a = store.add_generation(prompt_id, "A", "demo")
            b = store.add_generation(prompt_id, "B", "demo")
            for verdict, rater in cast:
                soft = 0.25 if rater.startswith("ai:") else None
                store.add_comparison(prompt_id, a, b, verdict, rater, soft_label=soft)
        rows = store.comparisons()
    pairs = pairs_from_comparisons(rows)
    assert [(p.prompt, p.chosen, p.rejected, p.source) for p in pairs] == [
        ("split", "A", "B", "human"),
        ("judge", "B", "A", "ai"),  # the judge's P(A better) 0.25, kept soft
        ("re-rated", "A", "B", "human"),  # people outrank the judge
    ]
    assert [p.label for p in pairs] == pytest.approx([2 / 3, 0.75, 1.0])
    assert pairs[0].comparison_ids == (rows[0].id, rows[1].id, rows[2].id)
    assert pairs[2].comparison_id == rows[-2].id  # ann's latest verdict
    with_ties = pairs_from_comparisons(rows, include_ties=True)
    assert [p.prompt for p in with_ties] == ["split", "tie", "judge", "re-rated"]
    assert with_ties[1].label == 0.5


def test_split_is_seeded_and_needs_enough_pairs():
    pairs = word_pairs(10)
    train, held_out = split_pairs(pairs, 0.2, seed=1)
    assert (len(train), len(held_out)) == (8, 2)
    assert split_pairs(pairs, 0.2, seed=1) == (train, held_out)
    assert split_pairs(pairs, 0.0, seed=1)[1] == []
    with pytest.raises(TrainingError, match="at least 4"):
        split_pairs(pairs[:3], 0.2, seed=0)


# --- training on tiny models ----------------------------------------------------------------


@pytest.mark.parametrize("family", ["gpt2", "llama", "gpt_neox"])
def test_trained_model_loads_as_a_plain_sequence_classifier(tiny_model_dirs, family, tmp_path):
    out = tmp_path / "rm"
    result = train_reward_model(
        word_pairs(24), fast_config(tiny_model_dirs[family], epochs=1), out, device="cpu"
    )
    assert result.n_train + result.n_eval == 24
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert model.config.num_labels == 1
    assert type(model).__name__.endswith("ForSequenceClassification")
    assert model.config.pad_token_id is not None
    # The `rm=` reward source scores exactly what the library loads, on the input the model
    # was trained on: prompt + response + end-of-text, as TRL's RewardTrainer (core.reward_model.folder).
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert result.meta["append_eos"] is True and tokenizer.eos_token
    texts = [f"Review: great fun{tokenizer.eos_token}", f"Review: boring plot{tokenizer.eos_token}"]
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        direct = model(**encoded).logits[:, 0].tolist()
    source = ClassifierReward(out, device="cpu")
    assert source.score(["Review: "] * 2, ["great fun", "boring plot"]) == pytest.approx(direct)


def test_training_learns_a_clear_signal_and_writes_meta_and_run(tiny_model_dir, tmp_path):
    out = tmp_path / "rm"
    epochs, steps = [], []
    with Store.open(tmp_path / "ws") as store:
        result = train_reward_model(
            word_pairs(40), fast_config(tiny_model_dir, epochs=3), out, device="cpu",
            store=store, source="human", on_epoch=epochs.append, on_step=steps.append,
        )  # fmt: skip
        [run] = store.runs("reward_model")
        metrics = store.metrics(run.id)
    assert result.best.eval_accuracy == 1.0 and result.best.eval_margin > 0.5
    assert epochs == result.epochs and len(steps) >= len(epochs)
    assert run.status == "finished" and run.config["out"] == str(out)
    assert [m["step"] for m in metrics] == [e.epoch for e in epochs]
    assert metrics[-1]["eval/accuracy"] == epochs[-1].eval_accuracy
    meta = json.loads((out / META_FILE).read_text())
    assert meta["held_out_accuracy"] == result.best.eval_accuracy
    assert meta["held_out_accuracy_human"] == result.best.eval_accuracy_human == 1.0
    assert meta["n_train"] == result.n_train and len(meta["epochs"]) == len(epochs)
    source = ClassifierReward(out, device="cpu")
    good, bad = source.score(["Review: "] * 2, ["loved the music", "waste of money"])
    assert good > bad


def test_early_stopping_and_best_epoch(tiny_model_dir, tmp_path):
    # With a zero learning rate nothing improves after the first epoch.
    config = fast_config(tiny_model_dir, epochs=5, patience=1, learning_rate=0.0)
    result = train_reward_model(word_pairs(16), config, tmp_path / "rm", device="cpu")
    assert len(result.epochs) == 2 and result.stopped_early and result.best_epoch == 1


def test_stop_request_saves_what_was_learnt(tiny_model_dir, tmp_path):
    with Store.open(tmp_path / "ws") as store:
        result = train_reward_model(
            word_pairs(16), fast_config(tiny_model_dir, epochs=3), tmp_path / "rm",
            device="cpu", store=store, should_stop=lambda: True,
        )  # fmt: skip
        assert store.runs("reward_model")[0].status == "stopped"
    assert result.stopped and len(result.epochs) == 1
    assert (tmp_path / "rm" / META_FILE).is_file()


def test_out_folder_must_be_new_or_an_earlier_reward_model(tiny_model_dir, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(TrainingError, match="not an earlier reward model"):
        train_reward_model(word_pairs(8), fast_config(tiny_model_dir), busy, device="cpu")


def test_fine_tuning_starts_from_the_saved_head(tiny_model_dir, tmp_path):
    first = tmp_path / "rm1"
    train_reward_model(word_pairs(24), fast_config(tiny_model_dir), first, device="cpu")
    before = ClassifierReward(first, device="cpu").score(["Review: "], ["great fun"])[0]
    # Zero learning rate: the fine-tuned copy must score exactly like its starting point.
    second = tmp_path / "rm2"
    config = fast_config(first, epochs=1, learning_rate=0.0)
    train_reward_model(word_pairs(8, seed=1), config, second, device="cpu")
    after = ClassifierReward(second, device="cpu").score(["Review: "], ["great fun"])[0]
    assert after == pytest.approx(before, abs=1e-5)
    assert read_meta(second)["base"] == str(first)


# --- the demo model's backbone, VADER preferences --------------------------------------------


def vader_pairs(n, seed=0):
    """Pairs of demo-corpus reviews; chosen = the more positive by VADER (clear gaps only)."""
    from core.demo.corpus import generate_reviews

    analyzer = SentimentIntensityAnalyzer()
    reviews = generate_reviews(6 * n, seed=seed)
    scored = [(analyzer.polarity_scores(text)["compound"], text) for text in reviews]
    rng = random.Random(seed)
    pairs = []
    while len(pairs) < n:
        (sa, a), (sb, b) = rng.sample(scored, 2)
        if abs(sa - sb) < 0.5:
            continue
        (_, chosen), (_, rejected) = sorted([(sa, a), (sb, b)], reverse=True)
        pairs.append(PreferencePair("", chosen, rejected))  # whole reviews, no prompt
    return pairs


@pytest.mark.slow
def test_demo_backbone_learns_vader_preferences(demo_model_dir, tmp_path):
    pairs = vader_pairs(200)
    config = RMConfig(base=str(demo_model_dir), epochs=3, batch_size=16, learning_rate=2e-3,
                      max_length=64, lora=LoraSpec(r=8, alpha=16))  # fmt: skip
    started = time.perf_counter()
    result = train_reward_model(pairs, config, tmp_path / "rm", device="cpu")
    seconds = time.perf_counter() - started
    print(f"demo RM: held-out accuracy {result.best.eval_accuracy:.3f} on {result.n_eval} pairs, "
          f"margin {result.best.eval_margin:.2f}, {seconds:.1f} s")  # fmt: skip
    assert result.best.eval_accuracy >= 0.85
