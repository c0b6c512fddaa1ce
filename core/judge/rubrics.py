"""The demo judge's rubrics: clauses that decide a verdict, presets, and the ground truth.

A rubric is free text; what decides it is one *deciding clause* (the more positive review
wins, the shorter answer wins...). The demo judge is trained on rubrics built from the
clauses below in several wordings, with and without filler sentences, so it reads the
clause rather than a fixed string. The ground truth of each criterion is computed
independently of the judge, from the text alone: VADER compound polarity for sentiment,
word counts for length. It labels the training tasks and, on pairs the judge never saw,
measures how well the judge follows its rubric (bench/judge_quality.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, lru_cache

from core.errors import InputFileError

CLEAR_MARGIN = 0.2
"""|truth_margin| at least this: the truth is clear (polarities 0.4 apart, or lengths 20 %)."""
MIN_ANSWER_WORDS = 3
"""A response with fewer words does not answer the prompt (it loses under length rubrics)."""


@dataclass(frozen=True)
class Criterion:
    """One thing a rubric can ask for, with the ways a rubric may say it."""

    name: str
    clauses: tuple[str, ...]
    """Wordings of the deciding clause (pairwise)."""
    point_clauses: tuple[str, ...]
    """Wordings for a single response (pointwise)."""


CRITERIA: dict[str, Criterion] = {
    "positivity": Criterion(
        "positivity",
        (
            "The more positive, specific review wins.",
            "Prefer the review that is more positive and specific.",
            "The better answer praises the product more warmly.",
            "Pick the more enthusiastic, upbeat review.",
        ),
        (
            "A positive, specific review scores high.",
            "Score the review higher the more positive and upbeat it is.",
        ),
    ),
    "concision": Criterion(
        "concision",
        (
            "The shorter answer that still answers wins.",
            "Prefer the more concise answer, as long as it answers.",
            "The better answer says it in fewer words.",
            "Pick the briefer review; an empty reply does not count.",
        ),
        (
            "A short answer that still answers scores high.",
            "Score the answer higher the fewer words it uses, if it answers.",
        ),
    ),
    "positive-concise": Criterion(
        "positive-concise",
        (
            "The more positive review wins; if both are about as positive, the shorter one "
            "that still answers wins.",
            "Prefer the more positive review, and between equally positive ones the more concise.",
            "Pick the warmer review; when they are equally warm, the briefer one.",
        ),
        (
            "A positive review scores high, a short positive one higher.",
            "Score the review higher the more positive it is, and a little higher if brief.",
        ),
    ),
}


PRESETS = ("positivity", "concision", "positive-concise")
"""Rubric presets (`--rubric positivity`): each criterion's first wordings."""
PAIR_LAYOUT = "Rubric: {rubric}\nPrompt: {{prompt}}\nA: {{response_a}}\nB: {{response_b}}\nBetter:"
POINT_LAYOUT = "Rubric: {rubric}\nPrompt: {{prompt}}\nAnswer: {{response}}\nScore 1-10:"


def preset_text(name: str, kind: str = "pairwise") -> str:
    """A preset's template text (core.rewards.judge_templates.preset_template parses it)."""
    if name not in PRESETS:
        raise InputFileError(
            f"Unknown rubric preset {name!r}; choose one of {', '.join(PRESETS)} or give a "
            "template file."
        )
    criterion = CRITERIA[name]
    if kind == "pairwise":
        return PAIR_LAYOUT.format(rubric=criterion.clauses[0])
    return POINT_LAYOUT.format(rubric=criterion.point_clauses[0])


TRAINING_WEIGHTS = {"positivity": 0.35, "concision": 0.4, "positive-concise": 0.25}
"""How often each criterion is trained. No two criteria pull a feature in opposite
directions (no "longer wins" beside "shorter wins"): opposite criteria cancel each other's
signal until the model reads the rubric, and a small model then sits on the 50/50 plateau
for longer than a build may take."""
"""Rubric presets shipped as templates (`--rubric positivity`)."""

PREAMBLES = ("", "", "", "You judge short reviews.", "Be a fair judge.")
FILLERS = ("", "", "", "Ignore the order.", "Judge the content only.")


def rubric_text(clause: str, preamble: str = "", filler: str = "") -> str:
    """One rubric sentence block: preamble, deciding clause, filler."""
    return " ".join(part for part in (preamble, clause, filler) if part)


def word_count(text: str) -> int:
    return len(text.split())


@cache
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


@lru_cache(maxsize=1 << 16)
def polarity(text: str) -> float:
    """VADER compound polarity in [-1, 1] (0 for an empty text). Cached: a judge build asks
    for each answer's about three times (every criterion's margin), 5 s of its 300."""
    return _vader().polarity_scores(text)["compound"] if text.strip() else 0.0


def truth_margin(criterion: str, left: str, right: str) -> float:
    """How much better left is than right under `criterion`, in [-1, 1] (0: no difference).

    Sentiment: the difference of VADER polarities, halved. Length: a response that does not
    answer (fewer than MIN_ANSWER_WORDS words) loses to one that does (margin +-1);
    otherwise the relative difference of word counts (shorter wins). Positive-concise:
    sentiment where it clearly differs, else concision.
    """
    if criterion == "positivity":
        return (polarity(left) - polarity(right)) / 2
    if criterion == "positive-concise":
        sentiment = truth_margin("positivity", left, right)
        return (
            sentiment if abs(sentiment) >= CLEAR_MARGIN else truth_margin("concision", left, right)
        )
    words_left, words_right = word_count(left), word_count(right)
    answers_left, answers_right = words_left >= MIN_ANSWER_WORDS, words_right >= MIN_ANSWER_WORDS
    if answers_left != answers_right:
        return 1.0 if answers_left else -1.0
    if not answers_left:
        return 0.0
    return (words_right - words_left) / max(words_left, words_right)


def truth_p_left(criterion: str, left: str, right: str, temperature: float = 0.06) -> float:
    """A soft training target P(left better): a sigmoid of the margin."""
    return 1.0 / (1.0 + math.exp(-truth_margin(criterion, left, right) / temperature))


def truth_score(criterion: str, response: str) -> float:
    """The pointwise ground truth on the 1..10 scale."""
    if criterion == "positivity":
        return 5.5 + 4.5 * polarity(response)
    if criterion == "positive-concise":
        return 0.7 * truth_score("positivity", response) + 0.3 * truth_score("concision", response)
    words = word_count(response)
    if words < MIN_ANSWER_WORDS:
        return 1.0
    fraction = min(1.0, (words - MIN_ANSWER_WORDS) / 22)  # 3 words -> 0, 25+ words -> 1
    return 10.0 - 8.0 * fraction


def rubric_of_rater(rater: str) -> str | None:
    """The rubric id of an AI rater name (`ai:<model>#<id>`); None for older names."""
    head, sep, rubric = rater.rpartition("#")
    return rubric if sep and head.startswith("ai:") else None
