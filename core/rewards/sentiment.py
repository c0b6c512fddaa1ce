"""Sentiment of the response by VADER: built in, offline, no model to load.

VADER (Hutto & Gilbert, 2014) is a lexicon and rule scorer tuned for short social-media
text; its `compound` score lies in [-1, 1] (-1 most negative, +1 most positive), which is
directly a reward for "write positive reviews", the demo's task.
"""

from __future__ import annotations

from collections.abc import Sequence

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from core.rewards.base import check_batch, check_scores


class SentimentReward:
    """VADER compound polarity of each response, in [-1, 1]; the prompt is ignored."""

    name = "sentiment"

    def __init__(self) -> None:
        self._analyzer = SentimentIntensityAnalyzer()  # loads the lexicon once (~7k words)

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        """Compound polarity per response; an empty response scores 0 (neutral)."""
        check_batch(prompts, responses)
        scores = [self._analyzer.polarity_scores(text)["compound"] for text in responses]
        return check_scores(self.name, scores, len(responses))
