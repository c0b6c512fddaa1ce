"""LLM judge: answer-token probabilities, swap averaging, pointwise expectation, cache."""

import math
from types import SimpleNamespace

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from core.demo.tokenizer import train_bpe_tokenizer
from core.errors import InputFileError
from core.rewards import RewardContext, build_reward
from core.rewards.judge import LLMJudge, single_token_variants
from core.rewards.judge_cache import JudgeCache
from core.rewards.judge_templates import (
    PAIRWISE,
    POINTWISE,
    default_template,
    parse_template,
    read_template,
)
from tests.conftest import TINY_TEXTS

PAIRS = [
    ("The movie was", "great fun and lovely music.", "boring and far too long."),
    ("I bought this blender and", "it broke after a day.", "it works fine."),
    ("The hotel was", "clean.", "clean."),
]


class ScriptedLM(torch.nn.Module):
    """A stand-in causal LM: next-token logits chosen by a Python function of the text.

    `script(text) -> {token_id: logit}` is asked for the answer position with the full
    text, and (pointwise) for the position after the appended "1" with text + "<after-1>".
    Every other token gets logit 0, so probabilities are known exactly.
    """

    def __init__(self, tokenizer, script, vocab_size, context=None):
        super().__init__()
        self.tokenizer = tokenizer
        self.script = script
        self.vocab_size = vocab_size
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # gives the judge a device
        self.config = SimpleNamespace(max_position_embeddings=context)
        self.seen: list[str] = []

    def forward(self, input_ids, attention_mask, position_ids, logits_to_keep=1):
        rows = []
        for ids, mask in zip(input_ids.tolist(), attention_mask.tolist(), strict=True):
            real = [i for i, m in zip(ids, mask, strict=True) if m]
            text = self.tokenizer.decode(real[:-1] if logits_to_keep == 2 else real)
            self.seen.append(text)
            texts = [text, text + "<after-1>"] if logits_to_keep == 2 else [text]
            rows.append(torch.stack([self._logits(t) for t in texts]))
        return SimpleNamespace(logits=torch.stack(rows))  # (B, keep, V)

    def _logits(self, text):
        logits = torch.zeros(self.vocab_size)
        for token_id, value in self.script(text).items():
            logits[token_id] = value
        return logits


@pytest.fixture(scope="module")
def answer_tokenizer():
    """A BPE that has both "A" and " A" (and digits, " 7"...) as single tokens."""
    texts = (
        TINY_TEXTS + ["Answer: A", "Answer: B", "Score: 7", "Score: 10", "1 2 3 4 5 6 7 8 9"] * 30
    )
    return train_bpe_tokenizer(texts, vocab_size=400)


def scripted_judge(tokenizer, script, **kwargs):
    model = ScriptedLM(tokenizer, script, len(tokenizer), kwargs.pop("context", None))
    return LLMJudge(model, tokenizer, identity="scripted", **kwargs), model


def ids(tokenizer, text):
    return single_token_variants(tokenizer, text)


@pytest.fixture(scope="module")
def tiny_judge(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    return LLMJudge(model, tokenizer, identity=str(tiny_model_dir))


# --- pairwise -----------------------------------------------------------------------------


def test_answer_variants_cover_spaced_and_unspaced_tokens(answer_tokenizer):
    a_ids = ids(answer_tokenizer, "A")
    assert len(a_ids) == 2  # "A" and " A" are different tokens in this vocabulary
    assert {answer_tokenizer.decode([i]) for i in a_ids} == {"A", " A"}
    assert not set(a_ids) & set(ids(answer_tokenizer, "B"))


def test_pairwise_probabilities_are_the_renormalised_answer_mass(answer_tokenizer):
    a_ids, b_ids = ids(answer_tokenizer, "A"), ids(answer_tokenizer, "B")
    # Mass split over both spellings: the judge must add them up.
    logits = {a_ids[0]: 2.0, a_ids[1]: 1.0, b_ids[0]: 1.0, b_ids[1]: -1.0}
    judge, _ = scripted_judge(answer_tokenizer, lambda text: logits)
    result = judge.compare(["p"], ["x"], ["y"])[0]
    e = math.exp
    p_a, p_b = e(2) + e(1), e(1) + e(-1)
    assert result.p_left_first == pytest.approx(p_a / (p_a + p_b), abs=1e-6)
    # The per-order answer probabilities sum to 1 (left shown as A, then as B).
    assert result.p_left_swapped == pytest.approx(p_b / (p_a + p_b), abs=1e-6)
    others = len(answer_tokenizer) - 4  # every other token has logit 0
    assert result.mass_first == pytest.approx((p_a + p_b) / (p_a + p_b + others), rel=1e-5)


def test_constant_position_bias_cancels_and_is_recorded(answer_tokenizer):
    a_ids = ids(answer_tokenizer, "A")
    judge, _ = scripted_judge(answer_tokenizer, lambda text: {a_ids[1]: 3.0})  # always " A"
    result = judge.compare(["p"], ["good"], ["bad"])[0]
    assert result.p_left == pytest.approx(0.5)
    assert result.p_left_first > 0.9 and result.p_left_swapped < 0.1
    assert result.same_side_both_orders
    assert result.verdict() == "tie"
    assert result.detail()["same_side_both_orders"] is True


def test_content_preference_survives_both_orders(answer_tokenizer):
    a_ids, b_ids = ids(answer_tokenizer, "A"), ids(answer_tokenizer, "B")

    def prefers_great(text):
        a_part = text.split("Response A:")[1].split("Response B:")[0]
        return {a_ids[1]: 2.0} if "great" in a_part else {b_ids[1]: 2.0}

    judge, model = scripted_judge(answer_tokenizer, prefers_great)
    left, right = judge.compare(["p", "p"], ["great", "meh"], ["meh", "great"])
    assert left.p_left > 0.8 and right.p_left < 0.2
    assert left.p_left == pytest.approx(1 - right.p_left)
    assert not left.same_side_both_orders
    assert left.verdict() == "left" and right.verdict() == "right"
    assert any("Response A: great" in text for text in model.seen)
    assert all(text.rstrip().endswith("Answer:") for text in model.seen)


def test_real_model_swap_averaging_is_symmetric(tiny_judge):
    prompts, lefts, rights = zip(*PAIRS, strict=True)
    forward = tiny_judge.compare(prompts, lefts, rights)
    backward = tiny_judge.compare(prompts, rights, lefts)
    for f, b in zip(forward, backward, strict=True):
        assert 0.0 < f.p_left < 1.0
        assert f.p_left + b.p_left == pytest.approx(1.0, abs=1e-6)
        assert f.p_left_first == pytest.approx(1 - b.p_left_swapped, abs=1e-6)
        assert 0.0 < f.mass_first <= 1.0
    # Identical responses: the two orders are the same question, so exactly a tie.
    assert forward[2].p_left == pytest.approx(0.5, abs=1e-6)


# --- pointwise ----------------------------------------------------------------------------


def test_pointwise_expectation_of_a_certain_score(answer_tokenizer):
    seven = ids(answer_tokenizer, "7")
    judge, _ = scripted_judge(answer_tokenizer, lambda text: {i: 30.0 for i in seven})
    point = judge.rate(["p"], ["r"])[0]
    assert point.expected == pytest.approx(7.0, abs=1e-4)
    assert point.reward == pytest.approx((7 - 5.5) / 4.5, abs=1e-4)
    assert point.mass == pytest.approx(1.0, abs=1e-4)


def test_pointwise_ten_written_as_one_then_zero(answer_tokenizer):
    one, zero = ids(answer_tokenizer, "1"), ids(answer_tokenizer, "0")

    def script(text):
        if text.endswith("<after-1>"):
            return {i: 30.0 for i in zero}  # "1" is always continued by "0"
        return {i: 30.0 for i in one}

    judge, _ = scripted_judge(answer_tokenizer, script)
    point = judge.rate(["p"], ["r"])[0]
    assert point.expected == pytest.approx(10.0, abs=1e-3)
    assert point.reward == pytest.approx(1.0, abs=1e-3)


def test_pointwise_uniform_digits_is_the_midpoint(answer_tokenizer):
    digits = [i for s in range(1, 10) for i in ids(answer_tokenizer, str(s))]
    counts = {s: len(ids(answer_tokenizer, str(s))) for s in range(1, 10)}
    judge, _ = scripted_judge(answer_tokenizer, lambda text: dict.fromkeys(digits, 20.0))
    point = judge.rate(["p"], ["r"])[0]
    # Each score's mass is proportional to its number of spellings; 10 gets none here.
    expected = sum(s * counts[s] for s in counts) / sum(counts.values())
    assert point.expected == pytest.approx(expected, abs=1e-3)


def test_real_model_pointwise_is_in_range_and_a_reward_source(tiny_judge):
    prompts, responses, _ = zip(*PAIRS, strict=True)
    points = tiny_judge.rate(prompts, responses)
    assert all(1.0 <= p.expected <= 10.0 and -1.0 <= p.reward <= 1.0 for p in points)
    assert tiny_judge.score(prompts, responses) == [p.reward for p in points]


def test_judge_reward_kind_loads_a_model_folder(tiny_model_dir):
    reward = build_reward(["judge=" + str(tiny_model_dir)], RewardContext(device="cpu"))
    try:
        scores = reward.score(["The movie was"] * 2, ["great.", "awful."])
        assert len(scores) == 2 and all(-1.0 <= s <= 1.0 for s in scores)
    finally:
        reward.close()


def test_judge_reward_without_model_needs_a_policy():
    from core.errors import RewardError

    with pytest.raises(RewardError, match="no policy is loaded"):
        build_reward(["judge"], RewardContext(device="cpu"))


# --- cache --------------------------------------------------------------------------------


def test_cache_hits_for_repeats_and_for_the_swapped_pair(tiny_model_dir, tmp_path):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    cache = JudgeCache(tmp_path / "cache" / "judge.sqlite")
    judge = LLMJudge(model, tokenizer, identity="tiny", cache=cache)
    first = judge.compare(["p"], ["a"], ["b"])[0]
    calls = judge.forward_calls
    assert cache.misses == 2 and cache.hits == 0  # the two orders
    again = judge.compare(["p", "p"], ["a", "b"], ["b", "a"])
    assert judge.forward_calls == calls  # the pair and its swap: the same two cached orders
    assert again[0] == first and again[1].p_left == pytest.approx(1 - first.p_left)
    assert cache.hits == 2 and cache.misses == 2

    # A new judge over the same file (another session) reuses the verdicts.
    reopened = LLMJudge(model, tokenizer, identity="tiny", cache=JudgeCache(cache.path))
    assert reopened.compare(["p"], ["a"], ["b"])[0] == first
    assert reopened.forward_calls == 0

    # Another rubric is another question: no hit.
    edited = parse_template(default_template(PAIRWISE).text.replace("careful", "strict"))
    other = LLMJudge(
        model, tokenizer, identity="tiny", cache=JudgeCache(cache.path), pairwise=edited
    )
    other.compare(["p"], ["a"], ["b"])
    assert other.forward_calls == 1 and other.cache.hits == 0


def test_cache_lru_forgets_the_oldest():
    cache = JudgeCache(max_items=2)
    cache.put_many([("a", [1.0]), ("b", [2.0])])
    assert cache.get("a") == (1.0,)  # a is now the most recent
    cache.put_many([("c", [3.0])])
    assert cache.get("b") is None and cache.get("a") == (1.0,) and cache.get("c") == (3.0,)


# --- templates, chat, truncation ------------------------------------------------------------


def test_templates_are_recognised_by_their_placeholders(tmp_path):
    assert default_template(PAIRWISE).kind == PAIRWISE
    assert default_template(POINTWISE).kind == POINTWISE
    path = tmp_path / "rubric.txt"
    path.write_text("Q {prompt} R {response}\nScore:\n", encoding="utf-8")
    template = read_template(path)
    assert template.kind == POINTWISE and template.text.endswith("Score:")
    # Braces in the filled-in text are left alone.
    assert template.fill(prompt="{response}", response="x") == "Q {response} R x\nScore:"
    path.write_text("Rate this: {response_a}", encoding="utf-8")
    with pytest.raises(InputFileError, match="must contain"):
        read_template(path)
    with pytest.raises(InputFileError, match="not a pairwise judge template"):
        parse_template("{prompt} {response}", kind=PAIRWISE)
    with pytest.raises(InputFileError, match="Cannot read rubric"):
        read_template(tmp_path / "missing.txt")


def test_chat_template_wraps_the_rubric():
    tokenizer = train_bpe_tokenizer(TINY_TEXTS + ["Answer: A", "Answer: B"] * 30, 400)
    tokenizer.chat_template = (
        "{% for m in messages %}<user>{{ m['content'] }}</user>{% endfor %}<assistant>"
    )
    judge, model = scripted_judge(tokenizer, lambda text: {})
    assert judge.use_chat_template
    judge.compare(["p"], ["a"], ["b"])
    assert model.seen[0].startswith("<user>") and model.seen[0].endswith("<assistant>")


def test_long_inputs_are_cut_from_the_left_keeping_the_question(answer_tokenizer):
    judge, model = scripted_judge(answer_tokenizer, lambda text: {}, context=48)
    judge.compare(["p " * 200], ["a"], ["b"])
    judge.rate(["p " * 200], ["a"])
    assert all(text.rstrip().endswith(("Answer:", "Score:")) for text in model.seen)
    assert all(len(answer_tokenizer.encode(text)) <= 48 for text in model.seen)
