"""The offline losses (DPO, IPO, KTO, SFT) against values worked out by hand, and the
data rules: soft AI labels, ties, 'both bad', thumbs, demonstrations files."""

import math

import pytest
import torch

from core.errors import StudioError
from core.offline.data import (
    dpo_pairs,
    kto_examples,
    read_demonstrations,
    split_examples,
)
from core.offline.dpo import dpo_losses, smoothed_labels
from core.offline.kto import kto_losses
from core.offline.sft import sft_loss
from core.store.rows import ComparisonRow, RatingRow


def t(*values):
    return torch.tensor(values, dtype=torch.float32)


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_dpo_sigmoid_loss_matches_hand_computed_values():
    # h = (-5 - -6) - (-7 - -6) = 1 - (-1) = 2; beta 0.5 -> beta h = 1.
    loss = dpo_losses(t(-5.0), t(-7.0), t(-6.0), t(-6.0), t(1.0), beta=0.5)
    assert loss.item() == pytest.approx(-math.log(sigmoid(1.0)))  # 0.3133
    # A soft label 0.8: 80% of the pair as given, 20% swapped.
    soft = dpo_losses(t(-5.0), t(-7.0), t(-6.0), t(-6.0), t(0.8), beta=0.5)
    expected = -0.8 * math.log(sigmoid(1.0)) - 0.2 * math.log(sigmoid(-1.0))
    assert soft.item() == pytest.approx(expected)  # 0.5133
    # At the start (policy = reference) every label gives log 2.
    start = dpo_losses(t(-3.0, -4.0), t(-2.0, -1.0), t(-3.0, -4.0), t(-2.0, -1.0), t(1.0, 0.6), 0.1)
    assert start.tolist() == pytest.approx([math.log(2)] * 2)


def test_ipo_loss_matches_hand_computed_values_and_its_minimum():
    # beta 0.25 -> target margin 1 / (2 beta) = 2; h = 2 - (-1) = 3 -> (3 - 2)^2 = 1.
    loss = dpo_losses(t(-1.0), t(-4.0), t(-3.0), t(-3.0), t(1.0), beta=0.25, loss_type="ipo")
    assert loss.item() == pytest.approx(1.0)
    # A soft label p: p (h - 2)^2 + (1 - p)(h + 2)^2, smallest at h = (2p - 1) / (2 beta).
    h = torch.linspace(-4, 4, 801)
    zeros = torch.zeros_like(h)
    curve = dpo_losses(h, zeros, zeros, zeros, torch.full_like(h, 0.75), 0.25, "ipo")
    assert h[curve.argmin()].item() == pytest.approx((2 * 0.75 - 1) / (2 * 0.25), abs=0.01)


def test_label_smoothing_touches_hard_human_labels_only():
    assert smoothed_labels([1.0, 0.8, 0.5], ["human", "ai", "human"], 0.1) == pytest.approx(
        [0.9, 0.8, 0.5]
    )


def test_kto_loss_matches_hand_computed_values():
    # ratios r = [1, -1] -> z = max(0, mean r) = 0; beta 1.
    losses, z = kto_losses(t(-1.0, -5.0), t(-2.0, -4.0), torch.tensor([True, False]), beta=1.0)
    assert z.item() == 0.0
    assert losses.tolist() == pytest.approx([1 - sigmoid(1.0), 1 - sigmoid(1.0)])
    # ratios [3, 1] -> z = 2; weights scale each side.
    losses, z = kto_losses(t(0.0, 0.0), t(-3.0, -1.0), torch.tensor([True, False]), 0.5, 2.0, 3.0)
    assert z.item() == pytest.approx(2.0)
    assert losses.tolist() == pytest.approx([2 * (1 - sigmoid(0.5)), 3 * (1 - sigmoid(0.5))])


def test_sft_loss_is_the_mean_nll_over_response_tokens_only():
    logps = torch.tensor([[-1.0, -2.0, -9.0], [-3.0, -9.0, -9.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert sft_loss(logps, mask).item() == pytest.approx((1 + 2 + 3) / 3)


def row(id, verdict, soft=None, rater="ann"):
    """A verdict on a pair of its own (prompt P<id>): the verdicts on one pair are merged
    by the conflict rule, tested in tests/core/test_rater_agreement.py."""
    return ComparisonRow(
        id, id, f"P{id}", 1, "L", 2, "R", verdict, rater, None, soft, None, None, ""
    )


def test_pairs_orient_soft_labels_skip_both_bad_and_count_ties():
    rows = [
        row(1, "left"),
        row(2, "right"),
        row(3, "left", soft=0.3, rater="ai:judge"),  # the judge leans right: 0.7
        row(4, "tie"),
        row(5, "both_bad"),
    ]
    pairs, report = dpo_pairs(rows)
    assert [(p.chosen, p.rejected, p.label) for p in pairs] == [
        ("L", "R", 1.0),
        ("R", "L", 1.0),
        ("R", "L", pytest.approx(0.7)),
    ]
    assert report.used == 3 and report.skipped == {"ties": 1, "both bad": 1}
    assert report.line("pairs") == "3 pairs (skipped: 1 both bad, 1 ties)"
    soft, soft_report = dpo_pairs(rows, ties="soft")
    assert soft[-1].label == 0.5 and soft_report.skipped == {"both bad": 1}


def test_thumbs_and_pairs_become_desirable_and_undesirable_answers():
    ratings = [
        RatingRow(1, 1, "P", "good", 1.0, "ann", None, ""),
        RatingRow(2, 2, "P", "bad", 0.0, "ann", None, ""),
        RatingRow(3, 3, "P", "fine", 0.5, "ann", None, ""),  # at the threshold: desirable
    ]
    examples, report = kto_examples(ratings, [row(1, "left"), row(2, "both_bad"), row(3, "tie")])
    assert [(e.response, e.desirable) for e in examples] == [
        ("good", True),
        ("bad", False),
        ("fine", True),
        ("L", True),
        ("R", False),
        ("L", False),
        ("R", False),
    ]
    assert report.skipped == {"ties": 1}


def test_demonstrations_from_jsonl_and_csv(tmp_path):
    jsonl = tmp_path / "demos.jsonl"
    jsonl.write_text('{"prompt": "Hi", "response": "Hello"}\n\n{"prompt": "A", "response": ""}\n')
    examples, report = read_demonstrations(jsonl)
    assert [(e.prompt, e.response) for e in examples] == [("Hi", "Hello")]
    assert report.skipped == {"empty responses": 1}
    table = tmp_path / "demos.csv"
    table.write_text('prompt,response\nHi,"Hello, you"\n')
    assert read_demonstrations(table)[0][0].response == "Hello, you"
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\nHi,Hello\n")
    with pytest.raises(StudioError, match="'prompt' and 'response'"):
        read_demonstrations(bad)


def test_split_keeps_one_held_out_and_refuses_too_little_data():
    train, held = split_examples(list(range(10)), 0.2, seed=3)
    assert len(held) == 2 and sorted(train + held) == list(range(10))
    with pytest.raises(StudioError, match="at least 2"):
        split_examples([1], 0.1, seed=0)
