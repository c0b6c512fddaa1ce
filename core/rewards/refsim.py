"""Similarity of the response to a reference answer given with its prompt.

Two classic metrics, written out here (a few lines each) rather than pulling in a
package for them:

- ROUGE-L F1 (Lin, 2004): longest common subsequence of lower-cased words; rewards
  saying the reference's words in the reference's order, with gaps allowed.
- chrF (Popović, 2015) as sacreBLEU computes it by default: character 1..6-grams with
  whitespace removed, precision and recall averaged over the orders both texts reach,
  then F-beta with beta = 2 (recall weighs more). Robust to inflection and tokenisation.

Both lie in [0, 1] (sacreBLEU reports chrF x 100; here it is a reward, so 0..1 like the
other bounded sources).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence

from core.errors import RewardError
from core.rewards.base import check_batch, check_scores, words

CHRF_ORDER = 6
CHRF_BETA = 2.0


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence, O(len(a) * len(b)) time, O(len(b)) memory."""
    previous = [0] * (len(b) + 1)
    for token_a in a:
        current = [0]
        for j, token_b in enumerate(b):
            current.append(
                previous[j] + 1 if token_a == token_b else max(previous[j + 1], current[j])
            )
        previous = current
    return previous[-1]


def rouge_l_f1(hypothesis: str, reference: str) -> float:
    """ROUGE-L F1 between two texts over lower-cased word tokens; 0 when either is empty."""
    hyp, ref = words(hypothesis), words(reference)
    if not hyp or not ref:
        return 0.0
    lcs = _lcs_length(hyp, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(hyp), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def _char_ngrams(text: str, n: int) -> Counter[str]:
    return Counter(text[i : i + n] for i in range(len(text) - n + 1))


def chrf(
    hypothesis: str, reference: str, order: int = CHRF_ORDER, beta: float = CHRF_BETA
) -> float:
    """Sentence chrF in [0, 1], matching sacreBLEU's default CHRF() score / 100."""
    hyp, ref = re.sub(r"\s+", "", hypothesis), re.sub(r"\s+", "", reference)
    precision_sum = recall_sum = 0.0
    effective_order = 0  # orders where both texts have at least one n-gram
    for n in range(1, order + 1):
        hyp_ngrams, ref_ngrams = _char_ngrams(hyp, n), _char_ngrams(ref, n)
        hyp_total, ref_total = sum(hyp_ngrams.values()), sum(ref_ngrams.values())
        if hyp_total == 0 or ref_total == 0:
            continue
        matches = sum((hyp_ngrams & ref_ngrams).values())
        precision_sum += matches / hyp_total
        recall_sum += matches / ref_total
        effective_order += 1
    if effective_order == 0:
        return 0.0
    precision, recall = precision_sum / effective_order, recall_sum / effective_order
    if precision + recall == 0:
        return 0.0
    beta2 = beta**2
    return (1 + beta2) * precision * recall / (beta2 * precision + recall)


METRICS = {"rouge": rouge_l_f1, "chrf": chrf}
_ALIASES = {None: "rouge", "": "rouge", "rouge": "rouge", "rougel": "rouge", "rouge-l": "rouge"}


class RefSimReward:
    """Similarity of each response to the reference answer of its prompt, in [0, 1]."""

    def __init__(self, references: Mapping[str, str], metric: str = "rouge") -> None:
        if metric not in METRICS:
            raise RewardError(f"refsim metric must be one of {sorted(METRICS)}, got {metric!r}.")
        if not references:
            raise RewardError(
                "refsim needs reference answers, but none were given; import prompts from a "
                ".jsonl or .csv file with a `reference` field next to each prompt."
            )
        self.references = dict(references)
        self.metric = metric
        self.name = "refsim" if metric == "rouge" else f"refsim_{metric}"
        self._similarity = METRICS[metric]

    @classmethod
    def from_arg(cls, arg: str | None, references: Mapping[str, str]) -> RefSimReward:
        """refsim (ROUGE-L), refsim=rouge or refsim=chrf."""
        key = arg.strip().lower() if arg is not None else None
        if key == "chrf":
            return cls(references, "chrf")
        if key not in _ALIASES:
            raise RewardError(f"refsim takes 'rouge' (the default) or 'chrf', got {arg!r}.")
        return cls(references, _ALIASES[key])

    def _reference(self, prompt: str) -> str:
        reference = self.references.get(prompt)
        if reference is None:
            reference = self.references.get(prompt.strip())
        if reference is None:
            shown = prompt if len(prompt) <= 60 else prompt[:57] + "..."
            raise RewardError(
                f"refsim: no reference answer for the prompt {shown!r}; import the prompts "
                f"from a .jsonl or .csv file with a `reference` field for every prompt."
            )
        return reference

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        """Metric of each response against its prompt's reference."""
        check_batch(prompts, responses)
        scores = [
            self._similarity(response, self._reference(prompt))
            for prompt, response in zip(prompts, responses, strict=True)
        ]
        return check_scores(self.name, scores, len(responses))
