"""Synthetic judge tasks: a rubric, a prompt, two answers (or one) and the true verdict.

Answers are the demo corpus's reviews (core.demo.corpus), cut at a random word as the
demo model's completions are cut by the token budget, sometimes emptied or doubled, so
lengths and sentiments both vary. The prompt is a demo prompt. Each pairwise task is
emitted in both presentation orders with mirrored targets, so the judge cannot learn a
favourite position. Targets are soft: P(A better) is a sigmoid of the ground-truth
margin (core.judge.rubrics), so near-ties train towards 0.5 rather than a coin flip.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from core.demo.corpus import generate_reviews
from core.judge.rubrics import (
    CRITERIA,
    FILLERS,
    POINT_LAYOUT,
    PREAMBLES,
    TRAINING_WEIGHTS,
    polarity,
    rubric_text,
    truth_margin,
    truth_p_left,
    truth_score,
    word_count,
)

# Other layouts a free-text rubric may use; the judge sees these too, so it reads content.
PAIR_LAYOUTS = (
    "Rubric: {rubric}\nPrompt: {prompt}\nA: {a}\nB: {b}\nBetter:",
    "Rubric: {rubric}\nPrompt: {prompt}\nA: {a}\nB: {b}\nBetter:",
    "{rubric}\nPrompt: {prompt}\nResponse A: {a}\nResponse B: {b}\nA or B?\nAnswer:",
)


@dataclass(frozen=True)
class PairTask:
    """One pairwise judge query and its soft target."""

    text: str
    """The filled-in query; the judge answers at its end."""
    p_a: float
    """Target P(A better)."""
    spans: tuple[tuple[int, int], ...] = ()
    """Character spans of answer A and answer B in `text` (for the auxiliary targets)."""
    features: tuple[float, ...] = ()
    """Rubric-independent facts about the pair (`pair_features`), taught at the answer."""


@dataclass(frozen=True)
class TaskMix:
    """How the synthetic answers and pairs are drawn (all off: the first recipe's tasks)."""

    short: float = 0.0
    """Share of answers cut to 3-6 words: the "still answers" boundary sits at 3 words and
    the demo model often stops near it, but cuts of 3-34 words put few answers there."""
    balance: float = 0.0
    """Share of pairs whose second answer is drawn so that the other criterion says nothing
    about this one (`_balanced_partner`): the same review cut shorter or longer (one
    sentiment, two lengths) or a review of about the same length (two sentiments, one
    length), or a pair where the shorter answer is, by a coin, the more or the less
    positive. Without it, length and sentiment travel together often enough that a judge
    can use one as a shortcut for the other."""
    max_words: int = 0
    """Cut every answer to at most this many words (0: no cap); the demo model writes 1-27."""
    asides: float = 0.0
    """Chance that a rubric has a preamble, and (drawn again) a closing sentence, beside its
    deciding clause (0: two in five each, as the first recipe drew them, so a given pair
    of the two came in one rubric of 25). With both there, a judge that follows the bare
    clause well leaned on a position: 20-35 % position bias under the positive-concise
    clauses in the free-text layout, 7-8 % without them (docs/benchmarks.md)."""


@dataclass(frozen=True)
class PointTask:
    """One pointwise judge query and its target score (1..10)."""

    text: str
    score: float
    spans: tuple[tuple[int, int], ...] = ()
    """Character span of the answer in `text`."""


def _answer(rng: random.Random, reviews: list[str], mix: TaskMix = TaskMix()) -> str:
    """A review as a completion: sometimes cut short, doubled or (rarely) near-empty."""
    return " ".join(_cut(rng, rng.choice(reviews).split(), reviews, mix))


def _cut(rng: random.Random, words: list[str], reviews: list[str], mix: TaskMix) -> list[str]:
    roll = rng.random()
    if roll < 0.06:
        return words[: rng.randint(0, 2)]
    if roll < 0.25:
        words = words + rng.choice(reviews).split()
    if mix.short and rng.random() < mix.short:
        words = words[: rng.randint(3, 6)]
    elif rng.random() < 0.6:
        words = words[: rng.randint(3, 34)]
    return words[: mix.max_words] if mix.max_words else words


def _balanced_partner(
    rng: random.Random, reviews: list[str], left: str, criterion: str, mix: TaskMix
) -> str:
    """A second answer chosen so the other criterion cannot stand in for `criterion`.

    Concision: half the time `left` cut shorter (one sentiment, two lengths), else a
    pair where the shorter answer is the more positive one or the less, by a coin.
    Positivity: half the time an answer of about left's length, else the coin as above.
    """
    words = left.split()
    if criterion == "concision" and len(words) >= 4 and rng.random() < 0.5:
        return " ".join(words[: rng.randint(0 if rng.random() < 0.1 else 3, len(words) - 1)])
    shorter_is_warmer = rng.random() < 0.5
    same_length = criterion == "positivity" and rng.random() < 0.5
    best, n_left, p_left = "", word_count(left), polarity(left)
    for _ in range(12):  # drawn until one fits; about one in two or three does
        best = _answer(rng, reviews, mix)
        n, p = word_count(best), polarity(best)
        if same_length and abs(n - n_left) <= max(1, n_left // 10):
            return best
        apart = n != n_left and abs(p - p_left) > 0.05
        if not same_length and apart and ((n < n_left) == (p > p_left)) == shorter_is_warmer:
            return best
    return best


ASIDE_PREAMBLES = (*(text for text in PREAMBLES if text), "You compare two replies.",
                   "Answer with A or B.", "Here are two answers to one prompt.")  # fmt: skip
ASIDE_FILLERS = (*(text for text in FILLERS if text), "Both answers may be cut short.",
                 "Do not favour either position.", "Take your time.")  # fmt: skip
"""With `TaskMix.asides`: more sentences that say nothing about the verdict, so that the
judge learns to read past any, not past the two it saw (new ones raised the position bias
to 31 % under positive-concise)."""


def _rubric(
    rng: random.Random, criterion: str, pointwise: bool = False, mix: TaskMix = TaskMix()
) -> str:
    clauses = CRITERIA[criterion].point_clauses if pointwise else CRITERIA[criterion].clauses
    clause = rng.choice(clauses)
    if not mix.asides:
        return rubric_text(clause, rng.choice(PREAMBLES), rng.choice(FILLERS))
    preamble, filler = (
        rng.choice(options) if rng.random() < mix.asides else ""
        for options in (ASIDE_PREAMBLES, ASIDE_FILLERS)
    )
    return rubric_text(clause, preamble, filler)


def _weights(criteria: tuple[str, ...] | None) -> tuple[list[str], list[float]]:
    names = [name for name in TRAINING_WEIGHTS if criteria is None or name in criteria]
    return names, [TRAINING_WEIGHTS[name] for name in names]


def fill(layout: str, **fields: str) -> tuple[str, dict[str, tuple[int, int]]]:
    """`layout.format(**fields)` and the character span of each field in the result."""
    parts, spans, at = [], {}, 0
    for literal, name, _, _ in string.Formatter().parse(layout):
        parts.append(literal)
        at += len(literal)
        if name is not None:
            spans[name] = (at, at + len(fields[name]))
            parts.append(fields[name])
            at += len(fields[name])
    return "".join(parts), spans


PAIR_FEATURES = ("concision", "positivity")
"""Ground-truth margins of every pair, whatever its rubric: the judge is taught to state
them at its answer position (an auxiliary target), so each task trains both comparisons."""


def pair_features(a: str, b: str) -> tuple[float, ...]:
    return tuple(truth_margin(name, a, b) for name in PAIR_FEATURES)


def pair_tasks(
    n_pairs: int,
    prompts: list[str],
    seed: int = 0,
    criteria: tuple[str, ...] | None = None,
    mix: TaskMix = TaskMix(),
) -> list[PairTask]:
    """2 * n_pairs tasks: each random pair in both orders, under a random criterion."""
    rng = random.Random(seed)
    reviews = generate_reviews(max(200, n_pairs), seed=seed + 1000)
    names, weights = _weights(criteria)
    tasks = []
    for _ in range(n_pairs):
        criterion = rng.choices(names, weights)[0]
        left = _answer(rng, reviews, mix)
        if mix.balance and criterion in ("concision", "positivity") and rng.random() < mix.balance:
            right = _balanced_partner(rng, reviews, left, criterion, mix)
        else:
            right = _answer(rng, reviews, mix)
        p_left = truth_p_left(criterion, left, right)
        rubric, layout, prompt = (
            _rubric(rng, criterion, mix=mix),
            rng.choice(PAIR_LAYOUTS),
            rng.choice(prompts),
        )
        features = pair_features(left, right)
        for a, b, p_a, sign in ((left, right, p_left, 1), (right, left, 1.0 - p_left, -1)):
            text, spans = fill(layout, rubric=rubric, prompt=prompt, a=a, b=b)
            mirrored = tuple(sign * value for value in features)
            tasks.append(PairTask(text, p_a, (spans["a"], spans["b"]), mirrored))
    return tasks


def point_tasks(
    n: int,
    prompts: list[str],
    seed: int = 0,
    criteria: tuple[str, ...] | None = None,
    mix: TaskMix = TaskMix(),
) -> list[PointTask]:
    """`n` pointwise tasks under random criteria."""
    rng = random.Random(seed + 1)
    reviews = generate_reviews(max(200, n), seed=seed + 2000)
    names, weights = _weights(criteria)
    layout = POINT_LAYOUT.replace("{{", "{").replace("}}", "}")
    tasks = []
    for _ in range(n):
        criterion = rng.choices(names, weights)[0]
        answer = _answer(rng, reviews, mix)
        text, spans = fill(layout, rubric=_rubric(rng, criterion, True, mix),
                           prompt=rng.choice(prompts), response=answer)  # fmt: skip
        tasks.append(PointTask(text, truth_score(criterion, answer), (spans["response"],)))
    return tasks
