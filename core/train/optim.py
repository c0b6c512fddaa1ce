"""Optimiser and learning-rate schedule of every LoRA trainer (on-policy and offline)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import torch
from torch import nn

from core.errors import TrainingError


class ScheduleConfig(Protocol):
    """The settings of a trainer's config (on-policy or offline) the optimiser reads."""

    @property
    def learning_rate(self) -> float: ...
    @property
    def warmup_steps(self) -> int: ...
    @property
    def steps(self) -> int: ...
    @property
    def lr_schedule(self) -> str: ...


def build_optimizer(
    parameters: Iterable[nn.Parameter], config: ScheduleConfig
) -> torch.optim.AdamW:
    """AdamW over the trainable parameters only (LoRA + value head); no weight decay.

    Weight decay would pull the LoRA update towards zero, i.e. towards the reference
    policy, a second KL-like force the KL controller does not know about.
    """
    parameters = list(parameters)
    if not parameters:
        raise TrainingError(
            "The model has no trainable weights: load it with a LoRA adapter (ModelSpec.lora)."
        )
    return torch.optim.AdamW(
        parameters, lr=config.learning_rate, weight_decay=0.0, fused=_can_fuse(parameters)
    )


def with_own_kernels(optimizer: torch.optim.Optimizer, saved: Mapping[str, Any]) -> dict:
    """`saved` (an optimiser state from a checkpoint) set to run with `optimizer`'s own
    kernels: a state saved by a fused optimiser in one process must not turn on the fused
    kernel over sharded weights, which cannot take it (and the reverse). Which kernel runs
    is this machine's choice, not part of the training state."""
    own = [{key: group.get(key) for key in KERNEL_FLAGS} for group in optimizer.param_groups]
    groups = [{**group, **flags} for group, flags in zip(saved["param_groups"], own, strict=True)]
    return {**saved, "param_groups": groups}


KERNEL_FLAGS = ("fused", "foreach")
"""The optimiser settings that pick an implementation, not a value."""


def _can_fuse(parameters: list[nn.Parameter]) -> bool | None:
    """Whether AdamW may update every parameter in one fused kernel per device: plain
    floating-point tensors on the CPU or a CUDA device. On the CPU torch's default is a
    loop over the parameters, op by op: the Qwen2.5-0.5B-shaped LoRA step took 55 ms for
    what the fused kernel does in 20 (docs/benchmarks.md, "Where the qwen-shaped RLOO step
    goes"). Sharded (DTensor) parameters keep torch's default. None: torch's choice."""
    sharded: tuple[type, ...] = ()
    try:
        from torch.distributed.tensor import DTensor

        sharded = (DTensor,)
    except ImportError:  # a torch built without distributed support has no DTensor
        pass
    plain = all(
        not isinstance(parameter, sharded)
        and parameter.is_floating_point()
        and parameter.device.type in ("cpu", "cuda")
        for parameter in parameters
    )
    return True if plain else None


def lr_factor(config: ScheduleConfig) -> Callable[[int], float]:
    """Multiplier of the base learning rate at PPO step s (0-based), for LambdaLR.

    Linear warmup over `warmup_steps` (the first step already learns), then constant,
    or a linear / cosine decay towards 0 over the remaining steps.
    """
    warmup, total = config.warmup_steps, config.steps

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if config.lr_schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        if config.lr_schedule == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: ScheduleConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    """The LR schedule, stepped once per PPO step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(config))
