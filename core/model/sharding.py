"""Sharded data-parallel training (FSDP2, `torch.distributed.fsdp.fully_shard`) of a LoRA
model over the processes of core.train.distributed: each rank holds 1/N of every weight,
the frozen base and the LoRA adapter alike, and gathers a decoder layer's weights only
while that layer runs (forward, generation, the adapter-off reference pass, backward).

How a run asks for it: `accelerate launch --config_file accelerate/fsdp.yaml` (accelerate
sets ACCELERATE_USE_FSDP=true) or RLHF_STUDIO_FSDP=1 under torchrun. In one process the
switch does nothing: the plain path stays as it was.

What changes in a sharded step (the rest is the data-parallel path):
  * the trainer shards the model when it is built, after rank 0's LoRA init is
    broadcast (`shard_session`); each decoder layer is one FSDP unit, the root another;
  * FSDP reduces (averages) the sharded gradients in backward; the manual all-reduce is
    kept for weights outside the model (PPO's value head, replicated on every rank);
  * the gradient norm is the norm over every rank's shards (`clip_gradients`);
  * generation runs with `synced_gpus`: a rank whose batch has finished keeps stepping
    until every rank has, since each forward pass is a collective;
  * checkpoints: every rank gathers the full adapter and optimiser state, rank 0 writes
    them in the single-process format, so a sharded run resumes in one process and back.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import torch

from core.errors import TrainingError

if TYPE_CHECKING:
    from core.model.session import ModelSession


class World(Protocol):
    """What sharding needs of a run's world (core.train.distributed.World): the model
    layer names it by its shape so that it never imports the training layer above it."""

    @property
    def is_distributed(self) -> bool: ...

    @property
    def size(self) -> int: ...

    def all_reduce_gradients(self, parameters: Sequence[torch.nn.Parameter], op: str) -> None: ...

    def broadcast_parameters(self, parameters: Sequence[torch.nn.Parameter]) -> None: ...


FSDP_ENV = "RLHF_STUDIO_FSDP"
"""Set to 1 to shard under torchrun (accelerate's FSDP config sets ACCELERATE_USE_FSDP)."""
TRUE = ("1", "true", "yes", "on")


def fsdp_requested(env: Mapping[str, str] | None = None) -> bool:
    """Whether the launch asks for sharding (accelerate's FSDP config, or RLHF_STUDIO_FSDP)."""
    env = os.environ if env is None else env
    return any(
        env.get(name, "").strip().lower() in TRUE for name in (FSDP_ENV, "ACCELERATE_USE_FSDP")
    )


def will_shard(world: World) -> bool:
    """Whether a trainer built now shards its model (several processes, FSDP asked for)."""
    return world.is_distributed and fsdp_requested()


def is_sharded(model: torch.nn.Module | None) -> bool:
    """Whether `model` holds FSDP-sharded weights."""
    from torch.distributed.fsdp import FSDPModule

    return model is not None and any(isinstance(m, FSDPModule) for m in model.modules())


def decoder_layers(model: torch.nn.Module) -> Sequence[torch.nn.Module]:
    """The transformer blocks of a causal LM (Llama/Qwen/Mistral: model.layers, GPT-2:
    transformer.h, GPT-NeoX: gpt_neox.layers): the units FSDP gathers one at a time."""
    from core.model.backbone import base_model

    causal_lm = base_model(model)
    for path in ("model.layers", "transformer.h", "gpt_neox.layers", "model.decoder.layers"):
        module: Any = causal_lm
        for name in path.split("."):
            module = getattr(module, name, None)
        if isinstance(module, torch.nn.ModuleList) and len(module):
            return list(module)
    raise TrainingError(
        f"Sharding (FSDP) does not know where {type(causal_lm).__name__} keeps its decoder "
        "layers; run it without FSDP (unset ACCELERATE_USE_FSDP / RLHF_STUDIO_FSDP)."
    )


def prepare_weights(
    session: ModelSession,
    extras: Sequence[torch.nn.Parameter],
    world: World,
    config: Any,
    sizes: Mapping[str, int] | None = None,
) -> bool:
    """Rank 0's trainable weights (LoRA, then `extras`) on every rank, then the model
    sharded when the launch asks for it, once `check_sharded_config` has accepted `config`
    and the batch `sizes`; returns whether it is sharded."""
    if will_shard(world):
        check_sharded_config(world, config, sizes or {})
    if is_sharded(session.model):  # already sharded: its shards are one model already
        world.broadcast_parameters(extras)
        return True
    lora = [p for p in session.model.parameters() if p.requires_grad]
    world.broadcast_parameters([*lora, *extras])
    return shard_session(session, world)


def shard_session(session: ModelSession, world: World) -> bool:
    """Shard `session.model` over `world` when the launch asks for it (several processes);
    returns whether the model is sharded. The caller has broadcast rank 0's LoRA init and
    found the model unsharded."""
    if not will_shard(world):
        return False
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from core.model.backbone import base_model
    from core.model.quantize import is_quantized, session_quantize

    if is_quantized(session_quantize(session)):
        raise TrainingError(
            "FSDP cannot shard a bitsandbytes-quantised base; drop --quantize or run without FSDP."
        )
    mesh = init_device_mesh(session.device.type, (world.size,))
    with session.lock:
        units = [*decoder_layers(session.model), base_model(session.model)]
        for unit in units:  # the layers first: the root keeps what they leave
            sharded = fully_shard(unit, mesh=mesh)  # the same module, now an FSDPModule
            # Sum then divide by N (the mean): gloo, the CPU backend, has no AVG reduction.
            sharded.set_force_sum_reduction_for_comms(True)
    return True


def load_whole_on_every_rank(env: MutableMapping[str, str] | None = None) -> None:
    """Every rank loads the whole base, then keeps its shard. Under accelerate's FSDP
    setting fsdp_cpu_ram_efficient_loading, transformers loads the real weights on rank 0
    alone, for accelerate's own FSDP wrapper to broadcast; the trainers shard themselves,
    so that setting is turned off in this process before any model loads."""
    env = os.environ if env is None else env
    if "FSDP_CPU_RAM_EFFICIENT_LOADING" in env:
        env["FSDP_CPU_RAM_EFFICIENT_LOADING"] = "false"


def local_numel(model: torch.nn.Module) -> tuple[int, int]:
    """(elements this rank stores, elements of the whole model) over its parameters."""
    from torch.distributed.tensor import DTensor

    local = total = 0
    for parameter in model.parameters():
        total += parameter.numel()
        local += (
            parameter.to_local().numel() if isinstance(parameter, DTensor) else parameter.numel()
        )
    return local, total


def check_sharded_config(world: World, config: Any, sizes: Mapping[str, int]) -> None:
    """Refuse what a sharded model cannot run: the output layer applied apart from the
    model body (logits_chunk_size; outside the root unit's gathering), untested gradient
    checkpointing, and ranks running different numbers of forward passes (collectives)."""
    if getattr(config, "logits_chunk_size", 0) > 0:
        raise TrainingError(
            "logits_chunk_size does not work with FSDP (the output layer would run outside "
            "the sharded model's forward); set it to 0 or run without FSDP."
        )
    if getattr(config, "gradient_checkpointing", False):
        raise TrainingError(
            "Gradient checkpointing is not supported with FSDP yet; turn it off or run "
            "without FSDP."
        )
    for name, value in sizes.items():
        if value % world.size:
            raise TrainingError(
                f"{name} ({value}) must be a multiple of the number of processes "
                f"({world.size}) under FSDP: every rank must run as many forward passes."
            )


# ------------------------------------------------------------------ gradients


def reduce_gradients(parameters: Sequence[torch.nn.Parameter], world: World, op: str) -> None:
    """Gradients over ranks: FSDP has averaged the sharded ones in backward ('sum' scales
    them back up); the replicated ones (a value head) take the manual all-reduce."""
    from torch.distributed.tensor import DTensor

    sharded = [p for p in parameters if isinstance(p, DTensor)]
    world.all_reduce_gradients([p for p in parameters if not isinstance(p, DTensor)], op)
    for parameter in sharded:
        if parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
        elif op == "sum":
            parameter.grad.mul_(world.size)


def clip_gradients(parameters: Sequence[torch.nn.Parameter], max_norm: float) -> torch.Tensor:
    """clip_grad_norm_ over sharded (DTensor) and replicated gradients together: the
    total 2-norm of the full gradients, each shard counted once; returns it."""
    import torch.distributed as dist
    from torch.distributed.tensor import DTensor

    grads = [p.grad for p in parameters if p.grad is not None]
    sharded = torch.zeros((), dtype=torch.float64)
    replicated = torch.zeros((), dtype=torch.float64)
    for grad in grads:
        if isinstance(grad, DTensor):
            sharded += grad.to_local().detach().double().pow(2).sum().cpu()
        else:
            replicated += grad.detach().double().pow(2).sum().cpu()
    device = grads[0].device if grads else torch.device("cpu")
    sharded = sharded.to(device)
    dist.all_reduce(sharded)
    norm = (sharded.cpu() + replicated).sqrt().float()
    if math.isfinite(float(norm)):
        coefficient = min(1.0, max_norm / (float(norm) + 1e-6))
        for grad in grads:
            grad.mul_(coefficient)
    return norm


def reduce_and_clip(
    parameters: Sequence[torch.nn.Parameter], world: World, op: str, max_norm: float, sharded: bool
) -> torch.Tensor:
    """The step's gradients over ranks ('sum' or 'mean' of the ranks' shares), clipped to
    `max_norm` in total 2-norm; returns the norm before clipping."""
    if not sharded:
        world.all_reduce_gradients(parameters, op)
        return torch.nn.utils.clip_grad_norm_(parameters, max_norm)
    reduce_gradients(parameters, world, op)
    return clip_gradients(parameters, max_norm)


def use_per_parameter_steps(optimizer: torch.optim.Optimizer) -> None:
    """AdamW's foreach kernels refuse a mix of sharded and replicated tensors."""
    for group in optimizer.param_groups:
        group["foreach"] = False


# ------------------------------------------------------------ checkpoint state


def full_trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """{name: full tensor on the CPU} of the trainable weights (the LoRA adapter), as in
    model.state_dict(). A collective: every rank must call it."""
    from torch.distributed.tensor import DTensor

    state = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            value = parameter.full_tensor() if isinstance(parameter, DTensor) else parameter
            state[name] = value.detach().cpu().clone()
    return state


def full_optimizer_state(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """optimizer.state_dict() with every sharded tensor gathered whole on the CPU: the
    single-process format. A collective: every rank must call it. Its kernel flags
    (foreach off here) are the resuming optimiser's to set (core.train.optim.with_own_kernels)."""
    from torch.distributed.tensor import DTensor

    saved = optimizer.state_dict()
    state = {}
    for index in sorted(saved["state"]):
        state[index] = {
            key: (value.full_tensor().cpu() if isinstance(value, DTensor) else value)
            for key, value in saved["state"][index].items()
        }
    return {"state": state, "param_groups": saved["param_groups"]}


def load_full_optimizer_state(optimizer: torch.optim.Optimizer, saved: Mapping[str, Any]) -> None:
    """Load a single-process optimiser state into an optimiser over sharded weights: each
    full state tensor becomes the shard this rank holds."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    optimizer.load_state_dict(dict(saved))
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            if not isinstance(parameter, DTensor):
                continue
            state = optimizer.state.get(parameter, {})
            for key, value in list(state.items()):
                plain = torch.is_tensor(value) and not isinstance(value, DTensor)
                if plain and value.shape == parameter.shape:  # not Adam's step count
                    state[key] = distribute_tensor(
                        value.to(parameter.device), parameter.device_mesh, parameter.placements
                    )
    use_per_parameter_steps(optimizer)
