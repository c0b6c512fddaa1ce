"""Gradient checkpointing for the trainers: transformers' own, switched on and off per run,
and made to work while the model stays in eval mode.

transformers checkpoints a decoder layer only when the layer is in training mode, grad is
enabled and checkpointing was enabled on the model. Our trainers keep the model in eval
mode during the update (dropout off: RL needs the log-probs the sampler saw), so
`recomputing_layers` sets the training flag of the checkpointed modules themselves (the
decoder layers, and their body) for the length of the update, and of nothing inside
them: dropout and attention modules stay in eval mode, so the numbers do not change.

Everything else is unaffected by design: generation and the reference pass run under
no_grad (a layer without grad runs as is, KV cache included), and `core.model.generate.sample`
asks for the cache explicitly. The checkpoint is non-reentrant (`use_reentrant=False`):
gradients reach the LoRA weights even though the frozen embeddings' output needs none,
and the input-grad hook transformers adds for adapters is removed again on disable.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from core.errors import TrainingError
from core.model.backbone import base_model

CHECKPOINT_KWARGS = {"use_reentrant": False}


def set_gradient_checkpointing(model: torch.nn.Module, enabled: bool) -> None:
    """Switch transformers' gradient checkpointing on or off for `model` (a PeftModel or a
    transformers model). A model that cannot checkpoint is a TrainingError saying so."""
    base = base_model(model)
    if enabled == gradient_checkpointing_enabled(model):
        return
    if not enabled:
        disable = getattr(base, "activation_checkpointing_disable", None)
        (disable or base.gradient_checkpointing_disable)()
        base.disable_input_require_grads()  # transformers keeps it for HF-integrated PEFT only
        return
    if not getattr(base, "supports_gradient_checkpointing", False):
        raise TrainingError(
            f"This model ({type(base).__name__}) does not support gradient checkpointing; "
            "turn gradient checkpointing off (--no-gradient-checkpointing)."
        )
    enable = getattr(base, "activation_checkpointing_enable", None)
    if enable is not None:  # transformers >= 5.x: the name without the deprecation warning
        enable(activation_checkpointing_kwargs=dict(CHECKPOINT_KWARGS))
    else:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs=dict(CHECKPOINT_KWARGS))
    if not getattr(base, "_require_grads_hooks", None):
        base.enable_input_require_grads()  # LoRA: the layers' inputs must carry grad


def gradient_checkpointing_enabled(model: torch.nn.Module) -> bool:
    """Whether checkpointing is switched on for `model`'s layers."""
    return any(_checkpointed(module) for module in base_model(model).modules())


@contextlib.contextmanager
def recomputing_layers(model: torch.nn.Module) -> Iterator[None]:
    """Inside the block, the checkpointed modules of `model` checkpoint even when the model
    is in eval mode (their own training flag only; see the module docstring). A no-op
    when checkpointing is off."""
    modules = [module for module in base_model(model).modules() if _checkpointed(module)]
    modes = [module.training for module in modules]
    for module in modules:
        module.training = True
    try:
        yield
    finally:
        for module, mode in zip(modules, modes, strict=True):
            module.training = mode


def _checkpointed(module: torch.nn.Module) -> bool:
    return getattr(module, "gradient_checkpointing", False) is True
