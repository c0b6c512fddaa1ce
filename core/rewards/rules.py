"""Rule rewards: target length, required words, forbidden words, a regular expression.

Cheap, transparent scorers, good for shaping (`length=40@0.2`) next to a learned reward and
for watching PPO exploit a rule it can satisfy trivially (reward hacking in miniature).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.errors import RewardError
from core.rewards.base import check_batch, check_scores


def parse_word_list(kind: str, arg: str | None) -> list[str]:
    """'w1,w2' -> ['w1', 'w2'] (stripped, empties dropped); RewardError when nothing is left."""
    items = [item.strip() for item in (arg or "").split(",")]
    items = [item for item in items if item]
    if not items:
        raise RewardError(f"'{kind}' needs a comma-separated word list, e.g. {kind}=great,fun.")
    return items


def _word_pattern(word: str) -> re.Pattern[str]:
    # Whole-word, case-insensitive: 'fun' must not match 'funny'. Lookarounds instead of \b
    # so words and phrases that start or end with punctuation ("c++", "5 stars!") work too.
    return re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE)


class LengthReward:
    """Closeness of the response length (whitespace-separated words) to a target N.

    score = max(-1, 1 - 2 * |words - N| / N): 1 at exactly N words, 0 at N/2 or 3N/2,
    -1 for an empty response and from 2N words on. Linear, so every word closer to the
    target earns the same, and bounded in [-1, 1] like the sentiment score.
    """

    name = "length"

    def __init__(self, target: int) -> None:
        if target < 1:
            raise RewardError(f"length needs a target of at least 1 word, got {target}.")
        self.target = target

    @classmethod
    def from_arg(cls, arg: str | None) -> LengthReward:
        """Build from the spec argument, e.g. '40'."""
        try:
            target = int(arg or "")
        except ValueError:
            raise RewardError(
                f"length needs a whole number of words, e.g. length=40; got {arg!r}."
            ) from None
        return cls(target)

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        """Length score per response; the prompt is ignored."""
        check_batch(prompts, responses)
        scores = [
            max(-1.0, 1.0 - 2.0 * abs(len(text.split()) - self.target) / self.target)
            for text in responses
        ]
        return check_scores(self.name, scores, len(responses))


class ContainsReward:
    """Fraction of the required words present in the response (whole word, any case), in [0, 1]."""

    name = "contains"

    def __init__(self, words: Sequence[str]) -> None:
        self.words = list(words)
        self._patterns = [_word_pattern(word) for word in self.words]

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        """Share of required words found in each response."""
        check_batch(prompts, responses)
        scores = [
            sum(1 for pattern in self._patterns if pattern.search(text)) / len(self._patterns)
            for text in responses
        ]
        return check_scores(self.name, scores, len(responses))


class ForbidReward:
    """-1 for each distinct forbidden word present in the response (whole word, any case).

    A count rather than a fraction of the list: each forbidden word is its own rule, so
    adding words to the list never dilutes the penalty for using one of them. Repeats of
    the same word count once, which keeps the score within [-len(words), 0].
    """

    name = "forbid"

    def __init__(self, words: Sequence[str]) -> None:
        self.words = list(words)
        self._patterns = [_word_pattern(word) for word in self.words]

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        """Minus the number of forbidden words found in each response."""
        check_batch(prompts, responses)
        scores = [
            -float(sum(1 for pattern in self._patterns if pattern.search(text)))
            for text in responses
        ]
        return check_scores(self.name, scores, len(responses))


class RegexReward:
    """1 if the pattern matches anywhere in the response (re.search), else 0.

    Python `re` syntax; inline flags work, e.g. `regex=(?i)^great` for a case-insensitive
    match at the start.
    """

    name = "regex"

    def __init__(self, pattern: str) -> None:
        try:
            self.pattern = re.compile(pattern)
        except re.error as error:
            raise RewardError(
                f"regex={pattern!r} is not a valid regular expression ({error}); "
                f"fix the pattern (Python re syntax)."
            ) from None

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        """1.0 where the pattern is found in the response, 0.0 elsewhere."""
        check_batch(prompts, responses)
        scores = [1.0 if self.pattern.search(text) else 0.0 for text in responses]
        return check_scores(self.name, scores, len(responses))
