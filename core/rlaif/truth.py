"""The rubric's ground truth, computed from the text alone, to check the RLAIF loop offline.

The demo judge's rubrics have a truth that does not ask the judge (core.judge.rubrics:
VADER polarity for positivity, word counts for concision). With it the whole loop can be
checked without a person: how often the judge's labels agree with the truth, whether a
policy trained on a reward model fitted to those labels moves the truth on prompts it never
trained on, and who wins a blind comparison when the truth is the referee.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.config import GenerationConfig
from core.judge.rubrics import CLEAR_MARGIN, CRITERIA, polarity, truth_margin, truth_score

if TYPE_CHECKING:
    from core.store import Store


def metric_name(criterion: str) -> str:
    """What `truth_metric` measures, in words."""
    return "mean VADER compound" if criterion == "positivity" else f"mean {criterion} score (1-10)"


def truth_metric(criterion: str, texts: Sequence[str]) -> float:
    """The criterion's ground truth averaged over texts: VADER compound polarity in [-1, 1]
    for positivity (the figure people know), the 1..10 truth score for the others."""
    _check(criterion)
    if not texts:
        raise ValueError("truth_metric needs at least one text")
    one = polarity if criterion == "positivity" else (lambda t: truth_score(criterion, t))
    return sum(one(text) for text in texts) / len(texts)


@dataclass(frozen=True)
class TruthVerdict:
    """The truth's verdict on one pair, shaped like a judge's (`p_left`, `verdict()`)."""

    margin: float
    """How much better left is than right, in [-1, 1] (core.judge.rubrics.truth_margin)."""

    @property
    def p_left(self) -> float:
        return 0.5 + self.margin / 2

    def verdict(self, tie_margin: float = 0.0) -> str:
        if abs(self.margin) <= tie_margin or self.margin == 0:
            return "tie"
        return "left" if self.margin > 0 else "right"


class TruthJudge:
    """A referee that compares pairs by the criterion's ground truth (no model): it stands
    where a judge stands in `blind_win_rate`, so the truth, not the judge, decides."""

    def __init__(self, criterion: str) -> None:
        _check(criterion)
        self.criterion = criterion
        self.rater = f"truth:{criterion}"

    def compare(
        self, prompts: Sequence[str], lefts: Sequence[str], rights: Sequence[str], **_: Any
    ) -> list[TruthVerdict]:
        if not len(prompts) == len(lefts) == len(rights):
            raise ValueError("compare() needs as many lefts and rights as prompts")
        return [
            TruthVerdict(truth_margin(self.criterion, a, b))
            for a, b in zip(lefts, rights, strict=True)
        ]


@dataclass(frozen=True)
class LabelTruth:
    """How a rater's labels in the store agree with the ground truth."""

    labels: int
    """The rater's comparisons."""
    clear: int
    """Of those, pairs whose truth is clear (|margin| >= CLEAR_MARGIN)."""
    agreement: float | None
    """Share of clear pairs where the label's side (p_left > 0.5) is the truth's."""


def label_truth(store: Store, rater: str, criterion: str) -> LabelTruth:
    """Agreement of `rater`'s stored comparisons with the ground truth, on clear pairs."""
    _check(criterion)
    rows = [row for row in store.comparisons("all") if row.rater == rater]
    hits = []
    for row in rows:
        left, right = store.generation(row.left_id).text, store.generation(row.right_id).text
        margin = truth_margin(criterion, left, right)
        if abs(margin) >= CLEAR_MARGIN and row.soft_label is not None and row.soft_label != 0.5:
            hits.append((row.soft_label > 0.5) == (margin > 0))
    return LabelTruth(len(rows), len(hits), sum(hits) / len(hits) if hits else None)


@dataclass(frozen=True)
class PolicyTruth:
    """The ground truth of a policy's answers against the base's, on the same prompts."""

    base: float
    """truth_metric of the base's (adapter off) answers."""
    tuned: float
    """truth_metric of the adapter's answers, sampled with the same seed."""
    answers: int

    @property
    def gain(self) -> float:
        return self.tuned - self.base


def policy_truth(
    session: Any,
    prompts: Sequence[str],
    criterion: str,
    *,
    samples: int = 4,
    max_new_tokens: int = 24,
    seed: int = 0,
) -> PolicyTruth:
    """Sample `samples` answers per prompt from the adapter and from the base (same seeds:
    the two differ because the policy does) and score both with the ground truth."""
    from core.model.generate import generate

    config = GenerationConfig(max_new_tokens=max_new_tokens, n=samples, seed=seed, batch_size=64)
    tuned = [c.text for c in generate(session, list(prompts), config)]
    base = [c.text for c in generate(session, list(prompts), config, use_adapter=False)]
    return PolicyTruth(truth_metric(criterion, base), truth_metric(criterion, tuned), len(tuned))


TRUTH_NAMES = {
    "positivity": "VADER",
    "concision": "word count",
    "positive-concise": "VADER, then word count",
}
"""What decides each criterion's truth, in words, for labels ("judged by VADER")."""


def truth_name(rater: str) -> str:
    """`truth:<criterion>` (a TruthJudge's rater) in words: "VADER", "word count"."""
    return TRUTH_NAMES.get(rater.removeprefix("truth:"), rater)


def truth_referee(judge_model: str, rubric: Any) -> TruthJudge | None:
    """The ground truth of a round judged by the demo judge under an unedited preset
    rubric (its id is a criterion's name), else None: another judge, or another rubric,
    has no truth computed from the text alone."""
    from core.judge.cache import DEMO_JUDGE

    if judge_model != DEMO_JUDGE or rubric.rubric_id not in CRITERIA:
        return None
    return TruthJudge(rubric.rubric_id)


def _check(criterion: str) -> None:
    if criterion not in CRITERIA:
        raise ValueError(f"no ground truth for {criterion!r}; one of {', '.join(CRITERIA)}")
