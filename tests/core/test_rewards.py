"""Reward sources without a model: specs, weighted sum, sentiment, rules, refsim, distinct-n."""

import math

import pytest

from core.errors import RewardError
from core.rewards import (
    REWARD_KINDS,
    RewardContext,
    RewardSource,
    RewardSpec,
    WeightedSum,
    build_reward,
    check_scores,
    format_reward_spec,
    parse_reward_spec,
)
from core.rewards.diversity import DistinctReward, distinct_n
from core.rewards.refsim import RefSimReward, chrf, rouge_l_f1
from core.rewards.rules import ContainsReward, ForbidReward, LengthReward, RegexReward
from core.rewards.sentiment import SentimentReward


def score_one(source, response, prompt="p"):
    return source.score([prompt], [response])[0]


# --- spec parsing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sentiment", RewardSpec("sentiment")),
        ("  Sentiment ", RewardSpec("sentiment")),
        ("length=40@0.2", RewardSpec("length", "40", 0.2)),
        ("forbid=bad,awful@-2", RewardSpec("forbid", "bad,awful", -2.0)),
        ("rm=runs/rm-1", RewardSpec("rm", "runs/rm-1")),
        ("py=my_reward.py@3", RewardSpec("py", "my_reward.py", 3.0)),
        ("sentiment@1e-1", RewardSpec("sentiment", None, 0.1)),
        ("refsim", RewardSpec("refsim")),
        ("refsim=chrf", RewardSpec("refsim", "chrf")),
        # '@' followed by a non-number belongs to the argument; a weight may still follow
        (r"regex=\w+@\w+", RewardSpec("regex", r"\w+@\w+")),
        ("regex=a@1@1.0", RewardSpec("regex", "a@1", 1.0)),
        ("contains=a=b", RewardSpec("contains", "a=b")),
    ],
)
def test_parse_reward_spec(text, expected):
    assert parse_reward_spec(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sentimnt", "known kinds: "),
        ("", "Empty reward spec"),
        ("sentiment@abc", "not a finite number"),
        ("length=40@", "not a finite number"),
        ("length=40@nan", "not a finite number"),
        ("sentiment@inf", "not a finite number"),
        ("length", "needs an argument, e.g. length=40"),
        ("length=", "needs an argument"),
        ("rm", "needs an argument"),
        ("py", "needs an argument"),
        ("sentiment=yes", "takes no argument"),
    ],
)
def test_parse_reward_spec_errors(text, message):
    with pytest.raises(RewardError, match=message):
        parse_reward_spec(text)


def test_unknown_kind_lists_every_known_kind():
    with pytest.raises(RewardError) as error:
        parse_reward_spec("bleu")
    for kind in ("sentiment", "length", "contains", "forbid", "regex", "fluency", "refsim"):
        assert kind in str(error.value)
    for kind in ("distinct", "diversity", "rm", "py", "judge"):
        assert kind in str(error.value)


@pytest.mark.parametrize(
    "spec",
    [
        RewardSpec("sentiment"),
        RewardSpec("length", "40", 0.2),
        RewardSpec("regex", "a@1"),
        RewardSpec("regex", "mail@", -1.5),
        RewardSpec("forbid", "x,y", 1 / 3),
    ],
)
def test_format_round_trips(spec):
    assert parse_reward_spec(format_reward_spec(spec)) == spec


def test_reward_kinds_help_is_one_line_each():
    assert {"sentiment", "length", "contains", "forbid", "regex", "fluency", "refsim"} <= set(
        REWARD_KINDS
    )
    assert {"distinct", "diversity", "rm", "py", "judge"} <= set(REWARD_KINDS)
    assert all(help_text and "\n" not in help_text for help_text in REWARD_KINDS.values())


# --- build_reward and the weighted sum ---------------------------------------------------


def test_single_spec_builds_the_source_itself():
    source = build_reward([parse_reward_spec("sentiment")], RewardContext())
    assert isinstance(source, SentimentReward)
    assert isinstance(source, RewardSource)


def test_single_weighted_spec_keeps_its_weight():
    source = build_reward(["length=2@0.5"], RewardContext())
    assert isinstance(source, WeightedSum)
    assert source.score(["p"], ["two words"]) == [0.5]


def test_build_reward_needs_a_spec():
    with pytest.raises(RewardError, match="No reward given"):
        build_reward([], RewardContext())


def test_build_reward_checks_specs_made_by_hand():
    with pytest.raises(RewardError, match="Unknown reward kind"):
        build_reward([RewardSpec("nope")], RewardContext())
    with pytest.raises(RewardError, match="needs an argument"):
        build_reward([RewardSpec("length")], RewardContext())
    with pytest.raises(RewardError, match="not finite"):
        build_reward([RewardSpec("sentiment", weight=math.nan)], RewardContext())


def test_weighted_sum_arithmetic_and_components():
    reward = build_reward(
        ["length=4@0.5", "contains=good,fun@2", "forbid=bad@-1", "contains=fun"], RewardContext()
    )
    assert isinstance(reward, WeightedSum)
    responses = ["a good fun day", "bad"]
    # length=4: [1, 1 - 2*3/4 = -0.5]; contains good,fun: [1, 0]; forbid bad: [0, -1]
    # contains fun: [1, 0]
    scores = reward.score(["p", "q"], responses)
    assert scores == pytest.approx([0.5 * 1 + 2 * 1 + -1 * 0 + 1, 0.5 * -0.5 + 0 + -1 * -1 + 0])
    assert reward.last_components == {
        "length": [1.0, -0.5],
        "contains": [1.0, 0.0],
        "forbid": [0.0, -1.0],
        "contains_2": [1.0, 0.0],
    }


class _Fixed:
    def __init__(self, name, values):
        self.name = name
        self.values = values

    def score(self, prompts, responses):
        return self.values


def test_weighted_sum_rejects_a_component_with_nan():
    reward = WeightedSum(
        [(_Fixed("good", [1.0, 2.0]), 1.0), (_Fixed("broken", [0.0, math.nan]), 1.0)]
    )
    with pytest.raises(RewardError, match=r"'broken'.*index 1"):
        reward.score(["a", "b"], ["x", "y"])


def test_weighted_sum_closes_its_components():
    closed = []

    class Closable(_Fixed):
        def close(self):
            closed.append(self.name)

    WeightedSum([(Closable("a", []), 1.0), (_Fixed("b", []), 1.0)]).close()
    assert closed == ["a"]


# --- check_scores -------------------------------------------------------------------------


def test_check_scores_accepts_numbers_and_names_bad_ones():
    assert check_scores("s", [1, 2.5, True], 3) == [1.0, 2.5, 1.0]
    with pytest.raises(RewardError, match=r"'s' returned 2 scores for 3"):
        check_scores("s", [1, 2], 3)
    with pytest.raises(RewardError, match=r"'s' returned inf at index 1"):
        check_scores("s", [1, math.inf], 2)
    with pytest.raises(RewardError, match=r"'s' returned nan at index 0"):
        check_scores("s", [math.nan], 1)
    with pytest.raises(RewardError, match=r"'1' \(str\) at index 0"):
        check_scores("s", ["1"], 1)
    with pytest.raises(RewardError, match="not a list of numbers"):
        check_scores("s", 0.5, 1)


def test_every_source_scores_an_empty_batch():
    context = RewardContext(references={"p": "r"})
    for text in (
        "sentiment",
        "length=3",
        "contains=a",
        "forbid=a",
        "regex=a",
        "refsim",
        "distinct",
    ):
        assert build_reward([text], context).score([], []) == []


def test_prompts_and_responses_must_match_in_length():
    with pytest.raises(ValueError, match="2 prompts but 1 responses"):
        SentimentReward().score(["a", "b"], ["x"])


# --- sentiment ----------------------------------------------------------------------------


def test_sentiment_orders_positive_neutral_negative():
    positive, neutral, negative = SentimentReward().score(
        ["p"] * 3,
        [
            "I loved it, a wonderful and great film!",
            "The box is brown.",
            "Terrible, awful, boring.",
        ],
    )
    assert 0.5 < positive <= 1.0
    assert neutral == 0.0
    assert -1.0 <= negative < -0.5


def test_sentiment_reads_the_response_not_the_prompt():
    source = SentimentReward()
    assert (
        score_one(source, "great", prompt="awful") > 0 > score_one(source, "awful", prompt="great")
    )


# --- rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_words", "expected"),
    [(10, 1.0), (5, 0.0), (15, 0.0), (8, 0.6), (12, 0.6), (0, -1.0), (20, -1.0), (35, -1.0)],
)
def test_length_reward_is_linear_around_the_target(n_words, expected):
    source = LengthReward(10)
    assert score_one(source, " ".join(["word"] * n_words)) == pytest.approx(expected)


def test_length_counts_whitespace_separated_words():
    assert score_one(LengthReward(3), "  well,   that's  it!\n") == 1.0


def test_length_rejects_bad_targets():
    with pytest.raises(RewardError, match="whole number"):
        build_reward(["length=forty"], RewardContext())
    with pytest.raises(RewardError, match="at least 1"):
        build_reward(["length=0"], RewardContext())


def test_contains_is_the_fraction_of_whole_words_present_in_any_case():
    source = ContainsReward(["great", "fun", "c++"])
    assert source.score(["p"] * 4, ["GREAT fun with C++.", "Great!", "funny greatness", ""]) == [
        pytest.approx(1.0),
        pytest.approx(1 / 3),
        0.0,
        0.0,
    ]


def test_forbid_costs_one_per_distinct_word_present():
    source = ForbidReward(["bad", "awful"])
    assert source.score(["p"] * 4, ["fine", "Bad, bad, BAD", "bad and awful", "badly"]) == [
        0.0,
        -1.0,
        -2.0,
        0.0,
    ]


def test_word_lists_need_a_word():
    with pytest.raises(RewardError, match="comma-separated word list"):
        build_reward(["contains= , ,"], RewardContext())


def test_regex_scores_one_where_it_matches():
    source = RegexReward(r"(?i)^great\b")
    assert source.score(["p"] * 3, ["Great film", "not great", "greatest"]) == [1.0, 0.0, 0.0]


def test_invalid_regex_is_a_reward_error():
    with pytest.raises(RewardError, match="not a valid regular expression"):
        build_reward(["regex=(unclosed"], RewardContext())


# --- reference similarity -----------------------------------------------------------------


def test_rouge_l_against_hand_computed_values():
    # LCS of "the cat sat on the mat" / "the cat is on the mat" = the cat on the mat (5):
    # P = 5/6, R = 5/6, F1 = 5/6.
    assert rouge_l_f1("The cat sat on the mat.", "the cat is on the mat") == pytest.approx(5 / 6)
    # LCS("a b c d", "b d e") = b d (2): P = 2/4, R = 2/3, F1 = 2PR/(P+R) = 4/7.
    assert rouge_l_f1("a b c d", "b d e") == pytest.approx(4 / 7)
    assert rouge_l_f1("x y", "a b") == 0.0
    assert rouge_l_f1("", "a b") == 0.0
    assert rouge_l_f1("same words", "Same, words!") == 1.0


def test_chrf_against_hand_computed_values():
    # "ab" vs "abc" (beta = 2): 1-grams P = 2/2, R = 2/3; 2-grams P = 1/1, R = 1/2;
    # 3-grams exist only in the reference, so 2 effective orders: P = 1, R = 7/12;
    # F2 = 5 * P * R / (4 * P + R) = (35/12) / (55/12) = 7/11.
    assert chrf("ab", "abc") == pytest.approx(7 / 11)
    assert chrf("a b", "ab") == 1.0  # whitespace is ignored
    assert chrf("xyz", "abc") == 0.0
    assert chrf("", "abc") == 0.0


def test_chrf_matches_sacrebleu_published_example():
    # The chrF metric card's example: sacreBLEU CHRF() gives 61.576379378113785.
    hypothesis = "The relationship between Obama and Netanyahu is not exactly friendly."
    reference = "The ties between Obama and Netanyahu are not particularly friendly."
    assert chrf(hypothesis, reference) == pytest.approx(0.61576379378113785, abs=1e-12)


def test_refsim_looks_up_the_reference_of_each_prompt():
    context = RewardContext(references={"Q1": "the cat is on the mat", "Q2": "ab c"})
    rouge = build_reward(["refsim"], context)
    assert rouge.score(["Q1", "Q2"], ["the cat sat on the mat", "zzz"]) == [
        pytest.approx(5 / 6),
        0.0,
    ]
    chrf_source = build_reward(["refsim=chrf"], context)
    assert chrf_source.name == "refsim_chrf"
    assert chrf_source.score(["Q2"], ["ab"]) == [pytest.approx(7 / 11)]


def test_refsim_errors_name_the_fix():
    with pytest.raises(RewardError, match="`reference` field"):
        build_reward(["refsim"], RewardContext())
    source = RefSimReward({"known": "x"})
    with pytest.raises(RewardError, match=r"'unknown prompt'.*`reference` field"):
        source.score(["unknown prompt"], ["x"])
    with pytest.raises(RewardError, match="'rouge'.*'chrf'"):
        build_reward(["refsim=bleu"], RewardContext(references={"a": "b"}))


# --- distinct-n ---------------------------------------------------------------------------


def test_distinct_shares_unique_ngrams_between_responses():
    responses = ["the food was good", "the food was good", "a new thing", "ok"]
    # 2-grams: responses 0 and 1 are the same 3 bigrams, each seen twice -> 1/2 credit each;
    # response 2's two bigrams are unique -> 1; "ok" has no bigram -> 0.
    assert DistinctReward(2).score(["p"] * 4, responses) == [0.5, 0.5, 1.0, 0.0]


def test_distinct_penalises_repeats_inside_a_response():
    # unigrams of "go go go stop": go seen 3 times (1/3 each), stop once -> (3 * 1/3 + 1) / 4
    assert DistinctReward(1).score(["p"], ["go go go stop"]) == [pytest.approx(0.5)]


def test_distinct_scores_decompose_the_batch_distinct_n():
    responses = ["a b c a b", "b c d", "a b", "x y z x y z"]
    scores = DistinctReward(2).score(["p"] * 4, responses)
    lengths = [4, 2, 1, 5]  # bigrams per response
    weighted = sum(s * n for s, n in zip(scores, lengths, strict=True)) / sum(lengths)
    assert weighted == pytest.approx(distinct_n(responses, 2))
    # unique: ab bc ca cd xy yz zx (7) of 12 bigrams
    assert distinct_n(responses, 2) == pytest.approx(7 / 12)


def test_distinct_and_diversity_specs():
    assert build_reward(["distinct=3"], RewardContext()).name == "distinct_3"
    assert build_reward(["diversity"], RewardContext()).name == "distinct_2"
    with pytest.raises(RewardError, match="whole number"):
        build_reward(["distinct=two"], RewardContext())
    with pytest.raises(RewardError, match="at least 1"):
        build_reward(["distinct=0"], RewardContext())
