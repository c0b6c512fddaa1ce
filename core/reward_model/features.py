"""What a reward model's scalar head reads: the pooled hidden state of each input.

A sequence classifier is a backbone, a pooling step and a final linear layer: for a causal
LM (GPT2ForSequenceClassification, LlamaForSequenceClassification...) the `score` layer
runs on every position and the row's last real token is kept; for an encoder the last
linear layer of `classifier` reads an already pooled vector. The input of that last
linear layer, pooled the same way, is the feature vector φ with reward = w · φ + b.

Active labelling (core.rating.active) refits the head alone on these features many times (a
bootstrap ensemble): the backbone's forward pass is paid once per answer, each refit is a
small logistic regression.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from core.reward_model.fit import encode_inputs


def final_linear(model: nn.Module) -> nn.Linear:
    """The linear layer that turns the pooled state into the score (`score`, or the last
    Linear inside `classifier`)."""
    for name in ("score", "classifier"):
        head = getattr(model, name, None)
        if isinstance(head, nn.Linear):
            return head
        if isinstance(head, nn.Module):
            linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
            if linears:
                return linears[-1]
    raise ValueError(f"{type(model).__name__} has no linear score head (score / classifier)")


def pooled_features(
    model: nn.Module, tokenizer, inputs: Sequence[str | list[int]], max_length: int,
    batch_size: int = 16,
) -> torch.Tensor:  # fmt: skip
    """(N, H) float32 features φ of each input (text or token ids), such that the model's
    first logit is final_linear(model)(φ). Runs without grad, in batches."""
    head = final_linear(model)
    device = head.weight.device
    captured: list[torch.Tensor] = []
    hook = head.register_forward_hook(lambda _m, args, _out: captured.append(args[0]))
    rows = []
    try:
        with torch.no_grad():
            for start in range(0, len(inputs), batch_size):
                encoded = encode_inputs(tokenizer, inputs[start : start + batch_size], max_length)
                mask = encoded["attention_mask"].to(device)
                captured.clear()
                model(input_ids=encoded["input_ids"].to(device), attention_mask=mask)
                hidden = captured[-1]
                if hidden.dim() == 3:  # (B, T, H): one position per row, as the model picks
                    last = _last_positions(model, encoded["input_ids"].to(device), mask)
                    hidden = hidden[torch.arange(hidden.shape[0], device=device), last]
                rows.append(hidden.float().cpu())
    finally:
        hook.remove()
    return torch.cat(rows) if rows else torch.zeros((0, head.in_features))


def _last_positions(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B,) the position a decoder classifier scores: the rightmost token that is not the
    pad token (transformers' rule, so an end-of-text token equal to the pad is skipped as
    it is there), else the last token the attention mask keeps."""
    pad = getattr(model.config, "pad_token_id", None)
    keep = (ids != pad) if pad is not None else mask.bool()
    positions = torch.arange(ids.shape[1], device=ids.device)
    return (positions * keep).argmax(dim=-1)
