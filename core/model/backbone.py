"""Small facts about a loaded transformers model that several modules need.

A PeftModel wraps the transformers model; these helpers look through the wrapper.
"""

from __future__ import annotations

import functools
import inspect

import torch
from peft import PeftModel


def base_model(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model under a PeftModel (or the model itself)."""
    return model.get_base_model() if isinstance(model, PeftModel) else model


def accepts_logits_to_keep(model: torch.nn.Module) -> bool:
    """Whether forward() takes `logits_to_keep` (skipping the logits of prompt positions).

    Asked on every PPO forward pass, so the answer is cached per model class.
    """
    return _forward_takes_logits_to_keep(type(base_model(model)))


@functools.cache
def _forward_takes_logits_to_keep(model_class: type) -> bool:
    return "logits_to_keep" in inspect.signature(model_class.forward).parameters
