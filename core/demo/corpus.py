"""The demo model's training corpus: short synthetic reviews of mixed sentiment.

Reviews are filled-in sentence templates over word lists kept in
resources/demo_corpus/reviews.json: seven domains (movies, books, restaurants, kitchen
gadgets, electronics, hotels, games), each with subjects, aspects, reasons and
experiences ("I bought this blender and"), plus shared adjectives, intensifiers,
openings and endings. Positive and negative reviews use words a lexicon scorer such as
VADER recognises, so a sentiment reward has something to push on: the same opening
("The movie was") continues either way in the corpus, and PPO can shift the balance.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from resources import resource_path

SENTIMENTS = ("positive", "negative", "mixed")
_SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Review:
    """One generated review with the labels it was generated from."""

    text: str
    sentiment: str  # "positive" | "negative" | "mixed"
    domain: str


@cache
def corpus_data() -> dict[str, Any]:
    """The templates and word lists (resources/demo_corpus/reviews.json), loaded once."""
    with open(resource_path("demo_corpus", "reviews.json"), encoding="utf-8") as file:
        return json.load(file)


def generate_reviews(n: int, seed: int = 0) -> list[str]:
    """`n` review texts; the same `seed` always gives the same list."""
    return [review.text for review in generate_labelled_reviews(n, seed)]


def generate_labelled_reviews(n: int, seed: int = 0) -> list[Review]:
    """`n` reviews with their sentiment and domain labels; deterministic for a seed."""
    rng = random.Random(seed)
    data = corpus_data()
    weights = [data["sentiment_weights"][s] for s in SENTIMENTS]
    domains = list(data["domains"])
    reviews = []
    for _ in range(n):
        sentiment = rng.choices(SENTIMENTS, weights)[0]
        domain = rng.choice(domains)
        reviews.append(Review(_fill_review(rng, data, domain, sentiment), sentiment, domain))
    return reviews


def _fill_review(rng: random.Random, data: dict[str, Any], domain: str, sentiment: str) -> str:
    """Pick a template for `sentiment` and fill each of its slots once."""
    template = rng.choice(data["templates"][sentiment])
    slots = _SlotFiller(rng, data, domain, sentiment)
    text = _SLOT.sub(lambda match: slots.fill(match.group(1)), template)
    return _tidy(text)


def _tidy(text: str) -> str:
    """Collapse doubled spaces/punctuation left by empty slots and end-of-clause joins."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"([.!?])\.", r"\1", text)  # "Highly recommended!." -> "!"
    return text


class _SlotFiller:
    """Fills named slots for one review, so related slots agree (adj vs adj2 differ)."""

    def __init__(self, rng: random.Random, data: dict[str, Any], domain: str, sentiment: str):
        self.rng = rng
        self.data = data
        self.domain = data["domains"][domain]
        self.sentiment = sentiment
        # The polarity that plain slots ({adj}, {reason}) take; mixed reviews name theirs.
        self.polarity = sentiment if sentiment != "mixed" else "positive"
        self.subject = rng.choice(self.domain["subjects"])
        self.used: set[str] = set()

    def fill(self, slot: str) -> str:
        text = self._raw(slot.lower())
        return text[:1].upper() + text[1:] if slot[:1].isupper() else text

    def _pick(self, options: list[str]) -> str:
        """A choice not used yet in this review where possible (no "great ... great")."""
        fresh = [option for option in options if option not in self.used] or options
        choice = self.rng.choice(fresh)
        self.used.add(choice)
        return choice

    def _raw(self, slot: str) -> str:
        data, domain, rng = self.data, self.domain, self.rng
        adjectives = data["adjectives"]
        if slot == "subject":
            return self.subject
        if slot == "subjects":
            return plural(self.subject)
        if slot in ("adj", "adj2", "adj3"):
            return self._pick(adjectives[self.polarity])
        if slot in ("pos", "good"):
            return self._pick(adjectives["positive"])
        if slot == "neg":
            return self._pick(adjectives["negative"])
        if slot in ("neutral", "neutral2"):
            return self._pick(adjectives["neutral"])
        if slot == "intens":
            return rng.choice(data["intensifiers"])
        if slot == "a_adj":
            # "What a quite charming..." reads wrong: article-friendly intensifiers only.
            adjective = rng.choice(data["article_intensifiers"])
            adjective += self._pick(adjectives[self.polarity])
            return ("an " if adjective[0] in "aeiou" else "a ") + adjective
        if slot in ("aspect", "aspect2"):
            return self._pick(domain["aspects"])
        if slot == "reason":
            return self._pick(domain["reasons"][self.polarity])
        if slot == "pos_reason":
            return self._pick(domain["reasons"]["positive"])
        if slot == "neg_reason":
            return self._pick(domain["reasons"]["negative"])
        if slot == "experience":
            return rng.choice(domain["experiences"]).format(subject=self.subject)
        if slot == "verdict":
            return _SLOT.sub(
                lambda m: self._raw(m.group(1)), rng.choice(data["verdicts"][self.sentiment])
            )
        if slot in ("verb_done", "verb_past"):
            return domain[slot]
        if slot == "superlative":
            return rng.choice(data["superlatives"][self.polarity])
        if slot == "opening":
            return rng.choice(data["openings"])
        if slot == "ending":
            return rng.choice(data["endings"][self.sentiment] + domain["endings"][self.sentiment])
        raise KeyError(f"unknown corpus template slot {{{slot}}}")


def plural(noun: str) -> str:
    """English plural of a corpus subject ("comedy" -> "comedies", "sushi bar" -> "sushi bars")."""
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    return noun + "s"
