"""The trainers' optimiser (core.train.optim): AdamW fused on the CPU, same updates as
torch's per-parameter loop, and a state saved by either one loads into the other."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import torch
from torch import nn

from core.train.optim import build_optimizer

CONFIG = SimpleNamespace(learning_rate=1e-2, warmup_steps=0, steps=10, lr_schedule="constant")


def _parameters(seed: int) -> list[nn.Parameter]:
    torch.manual_seed(seed)
    return [nn.Parameter(torch.randn(16, 8)), nn.Parameter(torch.randn(8))]


def _steps(optimizer, parameters, n: int = 3) -> None:
    for step in range(n):
        torch.manual_seed(100 + step)
        for parameter in parameters:
            parameter.grad = torch.randn_like(parameter)
        optimizer.step()


def test_cpu_parameters_get_the_fused_update_of_the_plain_loop():
    fused_parameters, loop_parameters = _parameters(0), _parameters(0)
    fused = build_optimizer(fused_parameters, CONFIG)
    assert fused.param_groups[0]["fused"] is True
    loop = torch.optim.AdamW(loop_parameters, lr=1e-2, weight_decay=0.0, foreach=False)
    _steps(fused, fused_parameters)
    _steps(loop, loop_parameters)
    for a, b in zip(fused_parameters, loop_parameters, strict=True):
        assert torch.allclose(a, b, atol=1e-6)
        assert not torch.equal(a, _parameters(0)[0] if a.dim() == 2 else _parameters(0)[1])


def test_a_state_saved_without_fusing_resumes_into_the_fused_optimiser():
    old_parameters, new_parameters = _parameters(1), _parameters(1)
    old = torch.optim.AdamW(old_parameters, lr=1e-2, weight_decay=0.0)
    _steps(old, old_parameters, n=2)
    new = build_optimizer(new_parameters, CONFIG)
    with torch.no_grad():
        for target, source in zip(new_parameters, old_parameters, strict=True):
            target.copy_(source)
    new.load_state_dict(copy.deepcopy(old.state_dict()))  # as a checkpoint on disk holds it
    _steps(new, new_parameters, n=1)
    _steps(old, old_parameters, n=1)
    for a, b in zip(new_parameters, old_parameters, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_a_resumed_state_keeps_the_optimisers_own_kernel():
    """A fused one-process checkpoint resumed where the fused kernel cannot run (sharded
    weights) must not switch it on: the kernel is this machine's choice."""
    from core.train.optim import with_own_kernels

    saved_by = build_optimizer(_parameters(2), CONFIG)
    _steps(saved_by, saved_by.param_groups[0]["params"], n=1)
    saved = copy.deepcopy(saved_by.state_dict())
    assert saved["param_groups"][0]["fused"] is True
    resumed = torch.optim.AdamW(_parameters(2), lr=1e-2, weight_decay=0.0, foreach=False)
    resumed.load_state_dict(with_own_kernels(resumed, saved))
    assert not resumed.param_groups[0]["fused"] and resumed.param_groups[0]["foreach"] is False
    assert resumed.state[resumed.param_groups[0]["params"][0]]["exp_avg"].abs().sum() > 0
