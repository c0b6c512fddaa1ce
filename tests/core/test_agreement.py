"""Judge-vs-human agreement: Cohen's kappa, orientation, position bias, against hand values."""

import pytest

from core.rlaif.agreement import agreement_report, chose_same_side, cohen_kappa, judge_agreement
from core.store import Store


def test_kappa_textbook_example():
    # Two raters, 50 items: 20 both yes, 5 A-yes/B-no, 10 A-no/B-yes, 15 both no.
    # p_o = 35/50 = 0.7; p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa = 0.2 / 0.5 = 0.4.
    a = ["yes"] * 20 + ["yes"] * 5 + ["no"] * 10 + ["no"] * 15
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_kappa_three_categories_hand_computed():
    human = ["left", "left", "right", "right", "left", "right", "tie", "left"]
    ai = ["left", "right", "right", "right", "left", "left", "tie", "left"]
    # p_o = 6/8; both raters: left 4, right 3, tie 1 -> p_e = (16 + 9 + 1) / 64 = 26/64.
    # kappa = (48/64 - 26/64) / (38/64) = 22/38 = 11/19.
    assert cohen_kappa(human, ai) == pytest.approx(11 / 19)


def test_kappa_edge_cases():
    assert cohen_kappa([], []) is None
    assert cohen_kappa(["left"] * 3, ["left"] * 3) is None  # chance agreement is certain: 0/0
    assert cohen_kappa(["left", "right"], ["left", "right"]) == pytest.approx(1.0)
    assert cohen_kappa(["left", "right"], ["right", "left"]) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        cohen_kappa(["left"], [])


def test_same_side_reads_the_per_order_probabilities():
    assert chose_same_side({"p_left_first": 0.9, "p_left_swapped": 0.2}) is True  # "A" twice
    assert chose_same_side({"p_left_first": 0.1, "p_left_swapped": 0.7}) is True  # "B" twice
    assert chose_same_side({"p_left_first": 0.9, "p_left_swapped": 0.8}) is False
    assert chose_same_side({"p_left_first": 0.5, "p_left_swapped": 0.2}) is False  # undecided
    assert chose_same_side(None) is None and chose_same_side({"votes": 1}) is None


def _labelled_store(workspace):
    """Five pairs; people and the judge `ai:j` label them as laid out in the test."""
    store = Store.open(workspace)
    pairs = []
    for index in range(5):
        [prompt_id] = store.add_prompts([f"prompt {index}"])
        left = store.add_generation(prompt_id, f"good {index}", "demo")
        right = store.add_generation(prompt_id, f"bad {index}", "demo")
        pairs.append((prompt_id, left, right))

    def human(i, verdict, rater="ann"):
        store.add_comparison(*pairs[i], verdict, rater)

    def ai(i, verdict, first, swapped, flip=False, rater="ai:j"):
        prompt_id, left, right = pairs[i]
        if flip:  # the judge saw the pair the other way round
            left, right = right, left
        detail = {"p_left_first": first, "p_left_swapped": swapped}
        p_left = (first + swapped) / 2
        store.add_comparison(
            prompt_id, left, right, verdict, rater, soft_label=p_left, detail=detail
        )

    human(0, "left")
    ai(0, "left", 0.9, 0.8)  # agree, consistent
    human(1, "right", rater="bob")
    ai(1, "left", 0.9, 0.2, flip=True)  # judge's left is the human's right: agree; chose A twice
    human(2, "right")
    human(2, "left")  # the latest human label counts
    ai(2, "right", 0.3, 0.2)  # disagree, consistent
    human(3, "both_bad")  # no order information: not in the overlap
    ai(3, "left", 0.6, 0.7)
    ai(4, "right", 0.2, 0.7)  # no human label; chose B twice
    ai(4, "left", 0.9, 0.9, rater="ai:other")
    return store


def test_judge_agreement_on_a_hand_made_store(workspace):
    with _labelled_store(workspace) as store:
        result = judge_agreement(store.comparisons("human"), store.comparisons("ai"), "ai:j")
    assert result.n_ai == 5
    assert result.n_overlap == 3  # pairs 0, 1, 2
    assert result.agreement == pytest.approx(2 / 3)
    # Human (oriented): left, right, left; judge (re-oriented): left, right, right.
    # p_o = 2/3; p_e = (2/3)(1/3) + (1/3)(2/3) = 4/9; kappa = (2/9) / (5/9) = 0.4.
    assert result.kappa == pytest.approx(0.4)
    assert result.n_position == 5
    assert result.position_bias_rate == pytest.approx(2 / 5)  # pairs 1 and 4


def test_agreement_report_lists_each_judge_and_formats(workspace):
    with _labelled_store(workspace) as store:
        report = agreement_report(store)
    assert (report.n_human, report.n_ai) == (5, 6)
    assert [j.rater for j in report.judges] == ["ai:j", "ai:other"]
    assert report.judges[1].n_overlap == 0 and report.judges[1].agreement is None
    assert report.reward_model is None
    text = report.format()
    assert "agreement: 66.7 %" in text and "Cohen's kappa: 0.400" in text
    assert "position bias (same side chosen in both orders): 40.0 % of 5" in text
    assert "none trained yet" in text
    assert report.to_dict()["judges"][0]["kappa"] == pytest.approx(0.4)


def test_empty_store_report(workspace):
    with Store.open(workspace) as store:
        report = agreement_report(store)
    assert report.judges == [] and "No AI labels yet" in report.format()
