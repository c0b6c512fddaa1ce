"""The next token drawn by inverse CDF, inside a logits processor, for `model.generate`.

HF's sampling step, `torch.multinomial(probs, 1)`, draws one exponential variate for every
entry of the (B, V) probabilities: on this project's CPU that was 13% of GPT-2 small's
generation time (31 ms a token for 32 rows of 50,257 entries, where the whole forward pass
took about 200 ms; docs/benchmarks.md, "Packed offline batches and inverse-CDF sampling").
One uniform variate per row and a search in the cumulative probabilities draw from the
same distribution for a few per cent of that.

`InverseCdfSampling` applies the temperature, top-k and top-p as HF's sampling does (in
that order, with HF's own warpers), draws each row's token, and returns scores that are
-inf everywhere but there; generation then runs greedy (`do_sample=False`), whose argmax
takes the drawn token. The draws come from torch's default generator, as multinomial's
did, so a seeded block (`_seeded` in core.model.generate) still repeats its samples.
"""

from __future__ import annotations

import torch
from torch import Tensor
from transformers import LogitsProcessor, TopKLogitsWarper, TopPLogitsWarper


class InverseCdfSampling(LogitsProcessor):
    """Draw the next token from softmax(top-p(top-k(scores / T))); see the module docstring."""

    def __init__(self, temperature: float, top_k: int = 0, top_p: float = 1.0) -> None:
        if temperature <= 0:
            raise ValueError("InverseCdfSampling needs a temperature > 0 (0 is greedy).")
        self.temperature = temperature
        self.warpers: list[LogitsProcessor] = []
        if top_k > 0:
            self.warpers.append(TopKLogitsWarper(top_k=top_k))
        if top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(top_p=top_p))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        logits = scores.float()  # (B, V)
        if self.temperature != 1.0:
            logits = logits / self.temperature
        for warper in self.warpers:
            logits = warper(input_ids, logits)
        tokens = draw(torch.softmax(logits, dim=-1))  # (B,)
        chosen = torch.full_like(scores, float("-inf"))
        return chosen.scatter_(1, tokens[:, None], 0.0)  # type: ignore[return-value]


def draw(probs: Tensor) -> Tensor:
    """(B,) one token per row of `probs` (B, V), token v with probability probs[b, v].

    u ~ U[0, total) per row picks the first token whose cumulative probability exceeds u:
    a token of probability 0 adds nothing to the running sum, so it is never the first.
    """
    cumulative = probs.cumsum(dim=-1)  # (B, V)
    total = cumulative[:, -1:]  # (B, 1): 1 up to rounding
    below_total = torch.nextafter(total, torch.zeros_like(total))
    uniform = torch.minimum(torch.rand_like(total) * total, below_total)
    return torch.searchsorted(cumulative, uniform, right=True).squeeze(1)
