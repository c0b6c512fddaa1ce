"""The demo judge's training tasks: answer spans, mirrored pair facts, auxiliary targets."""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace

import pytest

from core.judge.tasks import PAIR_FEATURES, fill, pair_tasks, point_tasks

PROMPTS = ["The movie was", "The hotel was"]


def test_fill_gives_each_field_its_span():
    text, spans = fill("R: {rubric}\nA: {a}\nB: {b}\nBetter:", rubric="Be fair.", a="so good", b="")
    assert text == "R: Be fair.\nA: so good\nB: \nBetter:"
    assert text[slice(*spans["rubric"])] == "Be fair."
    assert text[slice(*spans["a"])] == "so good"
    assert spans["b"][0] == spans["b"][1] == text.index("\nBetter")


def test_pair_tasks_come_in_both_orders_with_mirrored_targets_and_facts():
    tasks = pair_tasks(20, PROMPTS, seed=3)
    assert len(tasks) == 40
    for first, swapped in zip(tasks[::2], tasks[1::2], strict=True):
        a, b = (first.text[start:end] for start, end in first.spans)
        assert [swapped.text[start:end] for start, end in swapped.spans] == [b, a]
        assert first.p_a == pytest.approx(1.0 - swapped.p_a)
        assert len(first.features) == len(PAIR_FEATURES)
        assert first.features == pytest.approx([-value for value in swapped.features])
    # The concision fact: the shorter answer (that answers) has the positive margin.
    for task in tasks:
        a, b = (task.text[start:end].split() for start, end in task.spans)
        if min(len(a), len(b)) >= 3 and len(a) != len(b):
            assert (task.features[0] > 0) == (len(a) < len(b))


def test_point_tasks_know_where_their_answer_is():
    for task in point_tasks(10, PROMPTS, seed=1):
        [(start, end)] = task.spans
        assert task.text[end:].startswith("\nScore 1-10:")
        assert 1.0 <= task.score <= 10.0


def test_auxiliary_targets_count_words_and_carry_them_to_the_answer():
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    from core.judge.train import AUX_CHANNELS, AUX_SCALE, _batch, aux_targets

    # A whitespace word-level tokenizer: one token per word, so counts are easy to check.
    words = [
        "Rubric:",
        "Short",
        "wins.",
        "A:",
        "one",
        "two",
        "three",
        "B:",
        "four",
        "five",
        "Better:",
    ]
    vocab = {word: i for i, word in enumerate(dict.fromkeys(["[UNK]", *words]))}
    core = Tokenizer.from_str(_word_level_json(vocab))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]")
    text, spans = fill(
        "Rubric: Short wins. A: {a} B: {b} Better:", a="one two three", b="four five"
    )
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    aux = aux_targets(text, encoded["offset_mapping"], (spans["a"], spans["b"]), (0.4, -0.2))
    assert aux.shape == (len(encoded["input_ids"]), AUX_CHANNELS) == (11, AUX_CHANNELS)
    scaled = (aux * AUX_SCALE).tolist()
    # Tokens: Rubric: Short wins. A: one two three B: four five Better:
    assert [round(row[0]) if not math.isnan(row[0]) else None for row in scaled] == [
        None, None, None, None, 1, 2, 3, None, 1, 2, None,
    ]  # fmt: skip
    assert all(math.isnan(row[1]) for row in scaled[:7])  # A's count only after A
    assert [round(row[1]) for row in scaled[7:]] == [3, 3, 3, 3]
    assert all(math.isnan(row[2]) for row in scaled[:10])
    assert round(scaled[10][2]) == 2  # B's count after B: at "Better:"
    assert aux[-1, 3:].tolist() == pytest.approx([0.4, -0.2])
    assert aux[:-1, 3:].isnan().all()
    # Left padding keeps every target beside its token.
    ids = encoded["input_ids"]
    batch = _batch([(ids, aux[:1, :1], aux), (ids[-4:], aux[:1, :1], aux[-4:])], pad_id=0)
    padded = batch[-1]
    assert padded.shape == (2, 11, AUX_CHANNELS)
    assert padded[1, :7].isnan().all() and padded[1, -1, 3] == pytest.approx(0.4)


def _word_level_json(vocab: dict[str, int]) -> str:
    import json

    return json.dumps(
        {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [],
            "normalizer": None,
            "pre_tokenizer": {"type": "WhitespaceSplit"},
            "post_processor": None,
            "decoder": None,
            "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"},
        }
    )


def test_the_task_mix_balances_length_against_sentiment_and_cuts_short_answers():
    """Balanced concision pairs: the shorter answer is the warmer one about as often as the
    colder one, so sentiment is no shortcut for length; the mix adds 3-6-word answers and
    caps every answer's words."""
    from core.judge.rubrics import polarity
    from core.judge.tasks import TaskMix

    plain = pair_tasks(300, PROMPTS, seed=5, criteria=("concision",))
    mix = TaskMix(short=0.3, balance=1.0, max_words=20)
    mixed = pair_tasks(300, PROMPTS, seed=5, criteria=("concision",), mix=mix)

    def answers(tasks):
        return [tuple(t.text[s:e] for s, e in t.spans) for t in tasks[::2]]

    def shorter_is_warmer(tasks) -> list[bool]:
        out = []
        for a, b in answers(tasks):
            (na, nb), (pa, pb) = (len(a.split()), len(b.split())), (polarity(a), polarity(b))
            if min(na, nb) >= 3 and na != nb and abs(pa - pb) > 0.05:
                out.append((na < nb) == (pa > pb))
        return out

    warmer = shorter_is_warmer(mixed)
    assert len(warmer) > 60 and 0.35 < sum(warmer) / len(warmer) < 0.65
    # Half the balanced concision pairs are one answer and a cut of it: one sentiment.
    prefixes = sum(b.startswith(a) or a.startswith(b) for a, b in answers(mixed))
    assert prefixes > 0.3 * 300 > sum(b.startswith(a) or a.startswith(b) for a, b in answers(plain))
    words = [len(x.split()) for pair in answers(mixed) for x in pair]
    assert max(words) <= 20
    assert sum(3 <= n <= 6 for n in words) > 1.5 * sum(
        3 <= len(x.split()) <= 6 for pair in answers(plain) for x in pair
    )
    # The mix off draws the same tasks as before it existed.
    assert pair_tasks(30, PROMPTS, seed=5) == pair_tasks(30, PROMPTS, seed=5, mix=TaskMix())


def test_the_probe_trains_only_within_its_share_of_the_steps(monkeypatch):
    """`aux_from`/`aux_until` bound the steps where the length probe's loss counts (the
    probe-then-verdict recipe ends on the verdict alone)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    import core.judge.train as train
    from core.demo.threads import ThreadGovernor
    from core.judge.train import AUX_CHANNELS, RECIPES, SHIPPED, JudgeBuildConfig
    from core.progress import no_progress

    calls: list[int] = []
    real = train._aux_loss
    monkeypatch.setattr(train, "_aux_loss", lambda *a: calls.append(1) or real(*a))
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=16, n_positions=8, n_embd=8, n_layer=1,
                                       n_head=2))  # fmt: skip
    target = torch.zeros(2, 16)
    target[1, 3] = 1.0
    rows = [([1, 2, 3, 4], target, torch.rand(4, AUX_CHANNELS)) for _ in range(4)]
    config = JudgeBuildConfig(steps=10, batch_size=2, aux_weight=1.0, aux_from=0.2,
                              aux_until=0.7, warmup_steps=1)  # fmt: skip
    train._train(model, rows, config, ThreadGovernor.fixed(1), no_progress)
    assert len(calls) == 5  # steps 2..6 of 0..9
    assert RECIPES["verdict-alone"] == JudgeBuildConfig() and JudgeBuildConfig().aux_weight == 0
    # The shipped build is pinned (seed and threads), so every user's is the measured one.
    assert RECIPES["default"] is SHIPPED and SHIPPED.num_threads == 2
    assert replace(RECIPES["probe-then-verdict+asides"], seed=1, num_threads=2) == SHIPPED
    assert RECIPES["probe-then-verdict"].aux_until < 1.0


def test_asides_put_a_preamble_and_a_closing_sentence_in_their_share_of_rubrics():
    from core.judge.rubrics import FILLERS, PREAMBLES
    from core.judge.tasks import ASIDE_FILLERS, ASIDE_PREAMBLES, TaskMix

    def shares(mix, preambles, fillers):
        tasks = pair_tasks(400, PROMPTS, seed=3, mix=mix)[::2]
        with_preamble = sum(any(p and p in t.text for p in preambles) for t in tasks)
        with_filler = sum(any(f and f in t.text for f in fillers) for t in tasks)
        return with_preamble / len(tasks), with_filler / len(tasks)

    first = shares(TaskMix(), PREAMBLES, FILLERS)
    half = shares(TaskMix(asides=0.5), ASIDE_PREAMBLES, ASIDE_FILLERS)
    assert all(0.3 < share < 0.5 for share in first), first  # two in five, as before
    assert all(0.4 < share < 0.6 for share in half), half  # then half, from more sentences
    assert set(PREAMBLES) - {""} < set(ASIDE_PREAMBLES) and set(FILLERS) - {""} < set(ASIDE_FILLERS)
    # The first recipe's tasks are drawn exactly as before asides existed (the digest of
    # their texts then), so the shipped judge's build is unchanged.
    texts = [t.text for t in pair_tasks(50, PROMPTS, seed=3) + point_tasks(20, PROMPTS, seed=3)]
    assert hashlib.sha256("".join(texts).encode()).hexdigest()[:16] == "6cdba194ae9d075c"
