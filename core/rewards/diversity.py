"""Distinct-n across the batch (Li et al., 2016), split into one reward per response.

Batch distinct-n = unique n-grams / all n-grams over the whole batch. To reward each
response, every unique n-gram's single unit of credit is shared equally among its
occurrences: an occurrence of an n-gram seen c times in the batch earns 1/c. A response's
score is the mean credit of its n-grams, in (0, 1]:

- 1 when none of its n-grams occurs anywhere else, itself included (no repeats);
- 1/k for a response repeated verbatim k times in the batch;
- 0 for a response shorter than n words (it has no n-grams, so nothing new to say).

The decomposition is exact: sum_i score_i * ngrams_i / sum_i ngrams_i equals the batch's
distinct-n, so pushing per-response scores up pushes batch diversity up. The score of a
response depends on the rest of its batch, by design.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from core.errors import RewardError
from core.rewards.base import check_batch, check_scores, words


def ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    """Word n-grams of a text (lower-cased words, punctuation dropped)."""
    tokens = words(text)
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Batch distinct-n: unique n-grams / total n-grams (0 when there are none)."""
    all_ngrams = [gram for text in texts for gram in ngrams(text, n)]
    return len(set(all_ngrams)) / len(all_ngrams) if all_ngrams else 0.0


class DistinctReward:
    """Each response's share of the batch's unique word n-grams (see the module docstring)."""

    def __init__(self, n: int = 2) -> None:
        if n < 1:
            raise RewardError(f"distinct needs n of at least 1, got {n}.")
        self.n = n
        self.name = f"distinct_{n}"

    @classmethod
    def from_arg(cls, arg: str | None) -> DistinctReward:
        """distinct (n = 2) or distinct=N."""
        if arg is None or not arg.strip():
            return cls()
        try:
            return cls(int(arg))
        except ValueError:
            raise RewardError(
                f"distinct takes a whole number n (the n-gram size), e.g. distinct=2; got {arg!r}."
            ) from None

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        """Mean per-occurrence credit of each response's n-grams across this batch."""
        check_batch(prompts, responses)
        per_response = [ngrams(text, self.n) for text in responses]
        counts = Counter(gram for grams in per_response for gram in grams)
        scores = [
            sum(1.0 / counts[gram] for gram in grams) / len(grams) if grams else 0.0
            for grams in per_response
        ]
        return check_scores(self.name, scores, len(responses))
