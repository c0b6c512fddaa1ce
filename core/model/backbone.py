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
