"""Several sequences in one row of a forward pass, for the passes over stored text (DPO,
KTO, SFT and the others of core.offline).

A padded batch spends the forward and backward pass on its padding: on the DPO bench's
pairs (answers of 1-24 tokens) a quarter of the tokens of a padded batch were padding.
Packed, the batch's sequences lie end to end in lanes, each sequence's position ids
restarting at 0, with no attention mask: transformers' masking reads restarting positions
as separate sequences and keeps each to itself (a block-diagonal causal mask), so every
sequence gets the log-probs it has alone. Only the positions that predict a response token
go through the output layer.

A lane holds at most `lane_tokens(model)` tokens (the hidden size, or the longest sequence
when that is longer): attention within a lane costs L² where a padded row cost T², and at
L <= H that stays a small part of the lane's matrix products (about L / 6H of them).
Whether a model separates packed sequences is checked once per loaded model, on five
tokens; a model that does not (or whose logits are more than its output layer, or that is
sharded) is batched padded, as before.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from core.model.backbone import base_model
from core.model.logprobs import AUTO_CHUNK_ELEMENTS, output_layer, token_stats


@dataclass(frozen=True)
class PackedRows:
    """Sequences laid end to end in lanes, and where their response tokens are."""

    input_ids: Tensor  # (K, W) lanes; a shorter lane ends in a filler sequence
    position_ids: Tensor  # (K, W) restarting at 0 at each sequence
    predicting: Tensor  # (M,) flat index into (K * W) of the position before each target
    targets: Tensor  # (M,) the response tokens, sequence by sequence, in the rows' order


def pack(
    rows: Sequence[Sequence[int]],
    response_lengths: Sequence[int],
    lane_capacity: int,
    pad_id: int | None,
    device: torch.device,
) -> PackedRows | None:
    """`rows` (prompt + response token ids) packed into lanes of at most `lane_capacity`
    tokens (first fit, longest first), or None when that saves under a tenth of the padded
    batch's tokens (then the block-diagonal mask is not worth it)."""
    capacity = max(lane_capacity, max(len(row) for row in rows))
    lanes: list[list[int]] = []
    free: list[int] = []
    for index in sorted(range(len(rows)), key=lambda i: -len(rows[i])):
        fits = next((k for k, room in enumerate(free) if room >= len(rows[index])), None)
        if fits is None:
            lanes.append([])
            free.append(capacity)
            fits = len(lanes) - 1
        lanes[fits].append(index)
        free[fits] -= len(rows[index])
    width = max(capacity - room for room in free)
    if len(lanes) * width > 0.9 * len(rows) * max(len(row) for row in rows):
        return None
    # The padding at a lane's end is a sequence of its own that nothing reads; any token
    # but the pad token does (transformers warns of pad tokens seen with no attention mask).
    ids = torch.full((len(lanes), width), 1 if pad_id == 0 else 0, dtype=torch.long)
    positions = torch.zeros((len(lanes), width), dtype=torch.long)
    start_of: dict[int, int] = {}  # row -> flat index of its first token
    for k, lane in enumerate(lanes):
        offset = 0
        for index in lane:
            length = len(rows[index])
            ids[k, offset : offset + length] = torch.tensor(list(rows[index]), dtype=torch.long)
            positions[k, offset : offset + length] = torch.arange(length)
            start_of[index] = k * width + offset
            offset += length
        positions[k, offset:] = torch.arange(width - offset)  # the padding: its own sequence
    predicting: list[int] = []
    targets: list[int] = []
    for index, (row, answer) in enumerate(zip(rows, response_lengths, strict=True)):
        first = start_of[index] + len(row) - answer  # the flat index of the response's 1st token
        predicting.extend(range(first - 1, first + answer - 1))
        targets.extend(row[len(row) - answer :])
    return PackedRows(
        ids.to(device),
        positions.to(device),
        torch.tensor(predicting, dtype=torch.long, device=device),
        torch.tensor(targets, dtype=torch.long, device=device),
    )


def packed_logprobs(model: nn.Module, packed: PackedRows, logits_chunk_size: int = 0) -> Tensor:
    """(M,) log-probs (temperature 1) of the packed response tokens; gradients flow when
    enabled. logits_chunk_size as in core.model.logprobs.response_token_logprobs."""
    layer = output_layer(model)
    if layer is None:
        raise ValueError("This model cannot be packed: check lane_tokens(model) first.")
    hidden = layer.body(
        input_ids=packed.input_ids, position_ids=packed.position_ids, use_cache=False
    ).last_hidden_state  # (K, W, H)
    states = hidden.flatten(0, 1).index_select(0, packed.predicting)[None]  # (1, M, H)
    targets = packed.targets[None]
    if logits_chunk_size > 0:
        logprobs, _ = token_stats(layer.head, states, targets, 1.0, False, logits_chunk_size)
    else:
        logits = layer.head(states)  # (1, M, V): as the model's own forward would make them
        chunk = max(1, AUTO_CHUNK_ELEMENTS // logits.shape[-1])
        logprobs, _ = token_stats(None, logits, targets, 1.0, False, chunk)
    return logprobs[0]


_LANE_TOKENS: weakref.WeakKeyDictionary[nn.Module, int] = weakref.WeakKeyDictionary()
"""Per loaded model: its lane length, 0 when it cannot be packed."""


def lane_tokens(model: nn.Module) -> int:
    """Tokens per lane for `model` (its hidden size), or 0 when packing is not exact for it
    or the model is sharded (FSDP gathers the output layer only in the whole model's
    forward, core.model.sharding)."""
    from core.model.sharding import is_sharded  # lazy: it imports torch.distributed

    if is_sharded(model):
        return 0
    causal = base_model(model)
    if causal not in _LANE_TOKENS:
        layer = output_layer(model)
        weight = getattr(layer.head, "weight", None) if layer is not None else None
        exact = isinstance(weight, Tensor) and _separates_packed_sequences(causal)
        _LANE_TOKENS[causal] = int(weight.shape[-1]) if exact and weight is not None else 0
    return _LANE_TOKENS[causal]


@torch.no_grad()
def _separates_packed_sequences(causal: nn.Module) -> bool:
    """Whether [a b c | d e] with positions [0 1 2 | 0 1] gives d, e the logits of [d e]
    alone (in eval mode: dropout would make the two differ anyway)."""
    device = next(causal.parameters()).device
    packed_ids = torch.tensor([[3, 1, 4, 1, 5]], device=device)
    positions = torch.tensor([[0, 1, 2, 0, 1]], device=device)
    # Each module's own flag comes back: an update sets the decoder layers' alone
    # (core.model.grad_checkpointing), and model.train(False) would clear them.
    modes = [(module, module.training) for module in causal.modules()]
    causal.eval()
    try:
        packed = causal(input_ids=packed_ids, position_ids=positions, use_cache=False).logits
        alone = causal(input_ids=packed_ids[:, 3:], use_cache=False).logits
    except (TypeError, ValueError, RuntimeError):
        return False  # e.g. a forward() without position_ids
    finally:
        for module, training in modes:
            module.training = training
    packed, alone = packed[0, 3:].float(), alone[0].float()
    scale = alone.abs().max().clamp(min=1.0)
    return bool(((packed - alone).abs().max() <= 1e-4 * scale).item())
