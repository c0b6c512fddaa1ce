"""Small facts about a loaded transformers model that several modules need.

A PeftModel wraps the transformers model; these helpers look through the wrapper.
"""

from __future__ import annotations

import inspect
from typing import cast

import torch
from peft import PeftModel
from transformers import PreTrainedModel


def base_model(model: torch.nn.Module) -> PreTrainedModel:
    """The transformers model under a PeftModel (or the model itself)."""
    base = model.get_base_model() if isinstance(model, PeftModel) else model
    # Every model a session holds is a transformers model (peft types its base as Module).
    return cast(PreTrainedModel, base)


def accepts_logits_to_keep(model: torch.nn.Module) -> bool:
    """Whether forward() takes `logits_to_keep` (skipping the logits of prompt positions).

    Asked on every PPO forward pass, so the answer is cached per model class.
    """
    model_class = type(base_model(model))
    if model_class not in _TAKES_LOGITS_TO_KEEP:
        parameters = inspect.signature(model_class.forward).parameters
        _TAKES_LOGITS_TO_KEEP[model_class] = "logits_to_keep" in parameters
    return _TAKES_LOGITS_TO_KEEP[model_class]


_TAKES_LOGITS_TO_KEEP: dict[type[torch.nn.Module], bool] = {}
"""{model class: whether its forward() takes logits_to_keep} (a dict, not functools.cache:
torch's stubs make a Module class look unhashable)."""


def contiguous_output_layer_input(model: torch.nn.Module) -> None:
    """Make the output layer's input contiguous before it is applied (once per model).

    A slice of the last hidden state, (B, T, H)[:, a:b], is a strided view whenever B > 1
    and it leaves positions out: generation's prefill (an int `logits_to_keep`) and the
    chunks of the chunked log-prob path make one. (The log-prob pass's own positions, a
    tensor `logits_to_keep`, are gathered into a contiguous copy already.)
    torch's matmul cannot fold a strided 3-D input into one (B·k, H) @ (H, V) product; it
    multiplies each row's (k, H) block by the whole (H, V) weight in a batched product
    instead, reading the weight B times: on GPT-2 small (V 50,257) that product took 1.75x
    the time of the folded one on this project's CPU (docs/benchmarks.md, "Where the update's
    forward pass lost"). The copy is (B, k, H), a few MiB; its gradient is passed through.
    """
    head = base_model(model).get_output_embeddings()
    if not isinstance(head, torch.nn.Module) or getattr(head, "_contiguous_input", False):
        return
    head.register_forward_pre_hook(_contiguous_first_input)
    head._contiguous_input = True  # type: ignore[assignment]  # (a flag on the module)


def _contiguous_first_input(_module: torch.nn.Module, args: tuple) -> tuple | None:
    """Forward pre-hook: the first positional input made contiguous (None: leave as is)."""
    if args and isinstance(args[0], torch.Tensor) and not args[0].is_contiguous():
        return (args[0].contiguous(), *args[1:])
    return None
