"""Per-token log-probs of response tokens, from one forward pass: the single computation
behind generation's log-probs (core.generate), PPO's rollout and PPO's update
(core.ppo.rollout), so sampler and trainer score tokens with the same maths.

Log-probs are those of softmax(logits / T) (T <= 0, greedy decoding, counts as 1), at the
positions the attention mask gives (left padding must not shift them, as in `generate`).
Logits at position t predict token t+1, so the response's logits start one before it.

The (B, Tr, V) logits are the largest tensors of a PPO update: they are made float32 once
(for a bf16 model), scaled only when T != 1, and never kept. Computing log-probs and
entropy over the vocabulary in chunks, for very large vocabularies, belongs in
`_token_stats`, the one place that turns logits into them.

Shapes: B = rows, T = prompt + response tokens, Tr = response tokens, H = hidden size,
V = vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from core.backbone import accepts_logits_to_keep


@dataclass(frozen=True)
class ResponseTokens:
    """What one forward pass gives for the response positions."""

    logprobs: Tensor
    """(B, Tr) log p(token) under softmax(logits / T); not masked (padding has values)."""
    entropy: Tensor | None
    """(B, Tr) entropy of softmax(logits / T) per position, when asked (no gradient)."""
    hidden: Tensor | None
    """(B, Tr, H) the last hidden state at the positions predicting each response token
    (the state before the token is chosen: what a value head reads), when asked."""


def response_token_logprobs(
    model: torch.nn.Module,
    input_ids: Tensor,
    attention_mask: Tensor,
    response_length: int,
    temperature: float,
    *,
    with_entropy: bool = False,
    with_hidden: bool = False,
) -> ResponseTokens:
    """Log-probs of the last `response_length` tokens of `input_ids` (B, T), given the rest.

    input_ids, attention_mask: (B, T), left-padded prompts then responses. Gradients flow
    when enabled (PPO's update differentiates this).
    """
    if not 1 <= response_length < input_ids.shape[1]:
        raise ValueError("response_length must leave at least one prompt token before it.")
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)  # (B, T)
    kwargs: dict[str, Any] = {}
    if accepts_logits_to_keep(model):
        kwargs["logits_to_keep"] = response_length + 1  # skip the (B, Tq, V) prompt logits
    outputs = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        output_hidden_states=with_hidden,
        use_cache=False,
        **kwargs,
    )
    logits = outputs.logits[:, -(response_length + 1) : -1]  # (B, Tr, V) predicting tokens t
    targets = input_ids[:, -response_length:]  # (B, Tr)
    logprobs, entropy = _token_stats(logits, targets, temperature, with_entropy)
    hidden = None
    if with_hidden:
        start = input_ids.shape[1] - response_length - 1
        hidden = outputs.hidden_states[-1][:, start : start + response_length]  # (B, Tr, H)
    return ResponseTokens(logprobs=logprobs, entropy=entropy, hidden=hidden)


def _token_stats(
    logits: Tensor, targets: Tensor, temperature: float, with_entropy: bool
) -> tuple[Tensor, Tensor | None]:
    """(log-probs (B, Tr), entropy (B, Tr) or None) of `targets` under softmax(logits / T)."""
    logits = logits.float()
    if temperature > 0 and temperature != 1.0:
        logits = logits / temperature
    log_normaliser = torch.logsumexp(logits, dim=-1)  # (B, Tr)
    logprobs = logprobs_of(logits, targets, log_normaliser)
    entropy = entropy_from_logits(logits, log_normaliser) if with_entropy else None
    return logprobs, entropy


@torch.no_grad()
def entropy_from_logits(logits: Tensor, log_normaliser: Tensor | None = None) -> Tensor:
    """Entropy of softmax(logits) along the last axis: (..., V) -> (...); a gauge, no grad.

    H = logsumexp(l) - sum_v p_v l_v, with one (..., V) temporary (the probabilities,
    multiplied in place) where -sum p log p takes three; pass `log_normaliser`
    (logsumexp(logits), (...)) when it is already known.
    """
    if log_normaliser is None:
        log_normaliser = torch.logsumexp(logits, dim=-1)
    probs = torch.softmax(logits, dim=-1)
    return log_normaliser - probs.mul_(logits).sum(dim=-1)


def logprobs_of(logits: Tensor, tokens: Tensor, log_normaliser: Tensor | None = None) -> Tensor:
    """log softmax(logits)[token] for each position: logits (B, T, V), tokens (B, T) -> (B, T).

    Computed as logit - logsumexp(logits), which never materialises a second (B, T, V)
    tensor: with 150k-token vocabularies that tensor is the largest in the update.
    """
    if log_normaliser is None:
        log_normaliser = torch.logsumexp(logits, dim=-1)
    chosen = logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # (B, T)
    return chosen - log_normaliser
