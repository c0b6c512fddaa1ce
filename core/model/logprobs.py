"""Per-token log-probs of response tokens, from one forward pass: the single computation
behind generation's log-probs (core.model.generate), PPO's rollout and PPO's update
(core.onpolicy.rollout), so sampler and trainer score tokens with the same maths.

Log-probs are those of softmax(logits / T) (T <= 0, greedy decoding, counts as 1), at the
positions the attention mask gives (left padding must not shift them, as in `generate`).
Logits at position t predict token t+1, so the response's logits start one before it.

The (B, Tr, V) logits are the largest tensors of a PPO update. `token_stats`, the one
place that turns logits into log-probs and entropy, works on chunks of positions: the
float32 copy (of a bf16 model's logits), its temperature scaling and the softmax
temporaries never exist for more than one chunk at a time, and with grad each chunk is
checkpointed so the backward pass recomputes them rather than keeping them all.

The model's own logits (B, Tr+1, V), in its dtype, still exist at once. With
`logits_chunk_size` > 0 they do not: the model body gives the last hidden state only and
the output layer (`get_output_embeddings()`, with its LoRA layer if one was targeted) is
applied per chunk, under the same checkpoint. The adapter-off reference pass is the same
code with the adapter disabled. Models whose logits are more than head(hidden) (soft-
capping, logit scales) are detected once and keep the whole-logits path.

Shapes: B = rows, T = prompt + response tokens, Tr = response tokens, H = hidden size,
V = vocabulary.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from core.model.backbone import accepts_logits_to_keep, base_model

logger = logging.getLogger(__name__)

AUTO_CHUNK_ELEMENTS = 1 << 24
"""Float32 logits per chunk of positions when no chunk size is set (64 MiB): bounds the
temporaries of the log-softmax and entropy without slicing small batches at all."""


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
    logits_chunk_size: int = 0,
) -> ResponseTokens:
    """Log-probs of the last `response_length` tokens of `input_ids` (B, T), given the rest.

    input_ids, attention_mask: (B, T), left-padded prompts then responses. Gradients flow
    when enabled (PPO's update differentiates this). logits_chunk_size > 0 asks the model
    body for its last hidden state only and applies the output layer to that many
    positions at a time (see the module docstring); 0 lets the model return the logits.
    """
    if not 1 <= response_length < input_ids.shape[1]:
        raise ValueError("response_length must leave at least one prompt token before it.")
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)  # (B, T)
    targets = input_ids[:, -response_length:]  # (B, Tr)
    start = input_ids.shape[1] - response_length - 1  # the position predicting token 1
    inputs: dict[str, torch.Tensor | bool | int] = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
    }
    inputs |= {"position_ids": position_ids, "use_cache": False}
    layer = output_layer(model) if logits_chunk_size > 0 else None
    if layer is not None:
        last = layer.body(**inputs).last_hidden_state  # (B, T, H)
        states = last[:, start : start + response_length]  # (B, Tr, H)
        logprobs, entropy = token_stats(
            layer.head, states, targets, temperature, with_entropy, logits_chunk_size
        )
        return ResponseTokens(logprobs, entropy, states if with_hidden else None)
    if accepts_logits_to_keep(model):
        # Exactly the positions predicting the response: no (B, Tq, V) prompt logits, and no
        # slice of the logits afterwards, whose backward would fill a zero (B, Tr + 1, V)
        # tensor to copy the gradient into (the slice of the hidden states costs 1/V of it).
        wanted = torch.arange(start, start + response_length, device=input_ids.device)
        inputs["logits_to_keep"] = wanted
        outputs = model(**inputs, output_hidden_states=with_hidden)
        logits = outputs.logits  # (B, Tr, V) predicting tokens t
    else:
        outputs = model(**inputs, output_hidden_states=with_hidden)
        logits = outputs.logits[:, start : start + response_length]  # (B, Tr, V)
    chunk = logits_chunk_size or max(1, AUTO_CHUNK_ELEMENTS // (logits.shape[0] * logits.shape[2]))
    logprobs, entropy = token_stats(None, logits, targets, temperature, with_entropy, chunk)
    hidden = None
    if with_hidden:
        hidden = outputs.hidden_states[-1][:, start : start + response_length]  # (B, Tr, H)
    return ResponseTokens(logprobs=logprobs, entropy=entropy, hidden=hidden)


def token_stats(
    head: nn.Module | None,
    source: Tensor,
    targets: Tensor,
    temperature: float,
    with_entropy: bool,
    chunk_size: int,
) -> tuple[Tensor, Tensor | None]:
    """(log-probs (B, Tr), entropy (B, Tr) or None) of `targets` under softmax(logits / T),
    `chunk_size` positions at a time. `source` is the logits (head None) or the hidden
    states the output layer `head` turns into logits.

    With grad, each chunk runs under a (non-reentrant) checkpoint when it would keep a
    float32 (B, chunk, V) tensor for the backward pass: the chunk's logits are recomputed
    there instead, so no more than one chunk of them exists at a time.
    """
    keeps_copy = head is not None or source.dtype != torch.float32 or _scales(temperature)
    recompute = torch.is_grad_enabled() and keeps_copy
    logprobs, entropy = [], []
    # split, not slices: a slice's backward fills a zero tensor the size of `source` for
    # each chunk; split's joins the chunks' gradients once.
    pieces = zip(source.split(chunk_size, dim=1), targets.split(chunk_size, dim=1), strict=True)
    for source_chunk, target_chunk in pieces:
        args = (head, source_chunk, target_chunk)
        if recompute:
            chunk = checkpoint(_chunk_stats, *args, temperature, with_entropy, use_reentrant=False)
        else:
            chunk = _chunk_stats(*args, temperature, with_entropy)
        logprobs.append(chunk[0])
        entropy.append(chunk[1])
    if len(logprobs) == 1:
        return logprobs[0], entropy[0]
    return torch.cat(logprobs, dim=1), torch.cat(entropy, dim=1) if with_entropy else None


def _chunk_stats(
    head: nn.Module | None, source: Tensor, targets: Tensor, temperature: float, with_entropy: bool
) -> tuple[Tensor, Tensor | None]:
    """token_stats of one chunk of positions: (B, c, H or V) -> ((B, c), (B, c) or None)."""
    logits = (source if head is None else head(source)).float()
    if _scales(temperature):
        logits = logits / temperature
    log_normaliser = torch.logsumexp(logits, dim=-1)  # (B, c)
    logprobs = logprobs_of(logits, targets, log_normaliser)
    entropy = entropy_from_logits(logits, log_normaliser) if with_entropy else None
    return logprobs, entropy


def _scales(temperature: float) -> bool:
    """Whether log-probs divide the logits by the temperature (T <= 0, greedy, counts as 1)."""
    return temperature > 0 and temperature != 1.0


@dataclass(frozen=True)
class OutputLayer:
    """A causal LM split in two: logits = head(body(...).last_hidden_state)."""

    body: nn.Module
    head: nn.Module


_PLAIN_HEAD: weakref.WeakKeyDictionary[nn.Module, bool] = weakref.WeakKeyDictionary()
"""Per loaded model: whether its logits are exactly its output layer on its body's output."""


def output_layer(model: nn.Module) -> OutputLayer | None:
    """`model`'s body and output layer (LoRA layers, if any, inside them), or None when its
    logits are not simply head(last hidden state): some models scale or soft-cap them
    after the output layer, which the model's own forward must then do."""
    causal = base_model(model)
    body = getattr(causal, "base_model", None)
    get_head = getattr(causal, "get_output_embeddings", None)
    head = get_head() if get_head is not None else None
    if body is None or body is causal or not isinstance(head, nn.Module):
        return None
    plain = _PLAIN_HEAD.get(causal)
    if plain is None:
        plain = _PLAIN_HEAD[causal] = _logits_are_head_of_body(causal, body, head)
        if not plain:
            logger.warning(
                "%s changes its logits after the output layer; logits_chunk_size is ignored "
                "for it (the model computes all logits at once).",
                type(causal).__name__,
            )
    return OutputLayer(body, head) if plain else None


@torch.no_grad()
def _logits_are_head_of_body(causal: nn.Module, body: nn.Module, head: nn.Module) -> bool:
    """Compare the model's logits with head(body) once, on three tokens."""
    device = next(causal.parameters()).device
    ids = torch.tensor([[0, 1, 2]], device=device)
    full = causal(input_ids=ids, use_cache=False).logits[:, -1].float()
    split = head(body(input_ids=ids, use_cache=False).last_hidden_state[:, -1]).float()
    scale = full.abs().max().clamp(min=1.0)
    return bool(((full - split).abs().max() <= 1e-5 * scale).item())


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
