"""Data-parallel training over N processes (torchrun, `accelerate launch`), on
torch.distributed: the world a process belongs to, and the few collectives the trainers'
maths needs.

A launcher starts N copies of the same command and sets RANK, WORLD_SIZE and LOCAL_RANK
(plus MASTER_ADDR/MASTER_PORT). `current_world()` reads them once and, when WORLD_SIZE > 1,
joins the process group (gloo for CPU tensors, NCCL for CUDA ones where the build has it).
Without them the world is a single process: every helper below is then a no-op that
returns its input, and torch.distributed is never initialised, so the single-process path
stays exactly what it was.

How a step is split (core/train/README in docs/architecture.md, "Distributed"):
  * each rank takes its contiguous share of the step's prompts or examples (`shard`), the
    same global order on every rank (the order is seeded, not communicated);
  * every rank starts from rank 0's trainable weights (`broadcast_parameters`);
  * gradients are summed or averaged over ranks once per optimiser step
    (`all_reduce_gradients`): the same reduction DistributedDataParallel makes, without
    wrapping the model, so the reference pass (adapter off), the value head and the
    held-out sampling never meet DDP's hooks;
  * statistics over the batch (whitening, the KL controller's KL, metrics) are reduced
    over ranks (`masked_whiten`, `mean`, `reduce_metrics`);
  * only rank 0 writes: the store, checkpoints, metrics, samples, stdout (`is_main`);
    rank 0 decides whether the next step runs (`agree`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    import torch
    from torch import Tensor

T = TypeVar("T")

RANK_SEED_STRIDE = 1_000_000_007_000
"""Added once per rank to a sampling seed: rank 0 keeps the single-process seeds, the
others draw different rollouts from streams no step number reaches."""

MAX_KEYS = ("perf/step_time_s", "perf/peak_mem_bytes")
"""Metrics reduced by their largest value over ranks (the step lasts as long as the
slowest rank; memory is per device)."""
MIN_KEYS = ("perf/samples_per_s",)
"""Metrics reduced by their smallest value: the global batch over the slowest rank's time."""


@dataclass(frozen=True)
class World:
    """Which process of how many this is; the collectives between them."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes the store, checkpoints and output."""
        return self.rank == 0

    # --------------------------------------------------------------- splitting

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's contiguous share of `items` (sizes differ by at most one)."""
        if not self.is_distributed:
            return list(items)
        start, stop = self.shard_bounds(len(items))
        return list(items[start:stop])

    def shard_bounds(self, count: int) -> tuple[int, int]:
        """[start, stop) of this rank's share of `count` items."""
        base, extra = divmod(count, self.size)
        start = self.rank * base + min(self.rank, extra)
        return start, start + base + (1 if self.rank < extra else 0)

    def sampling_seed(self, seed: int) -> int:
        """The seed this rank samples with, from the run's seed for that draw."""
        return seed + self.rank * RANK_SEED_STRIDE

    def device(self, requested: str) -> str:
        """The device this rank trains on: its own GPU (cuda:LOCAL_RANK) when the request
        is auto or cuda and GPUs are there, the CPU under `accelerate launch --cpu`."""
        if not self.is_distributed or requested not in ("auto", "cuda"):
            return requested
        if os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes"):
            return "cpu"
        import torch

        if torch.cuda.is_available():
            torch.cuda.set_device(self.local_rank)
            return f"cuda:{self.local_rank}"
        return requested

    # ------------------------------------------------------------ collectives

    def agree(self, value: T) -> T:
        """Rank 0's `value` on every rank (whether the next step runs, a decision)."""
        return self.share(value)

    def share(self, value: T) -> T:
        """Rank 0's picklable `value`, sent to every rank."""
        if not self.is_distributed:
            return value
        import torch.distributed as dist

        box: list[object] = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return cast(T, box[0])  # rank 0's value, now on every rank

    def broadcast_parameters(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        """Copy rank 0's values of `parameters` to every rank (same LoRA and head init)."""
        if not self.is_distributed:
            return
        import torch
        import torch.distributed as dist

        with torch.no_grad():
            for parameter in parameters:
                dist.broadcast(parameter.data, src=0)

    def all_reduce_gradients(self, parameters: Sequence[torch.nn.Parameter], op: str) -> None:
        """Sum ('sum') or average ('mean') every parameter's gradient over ranks, in one
        collective; a rank without a gradient for a parameter adds zeros."""
        if not self.is_distributed:
            return
        import torch
        import torch.distributed as dist

        by_device: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
        for parameter in parameters:
            if parameter.grad is None:
                parameter.grad = torch.zeros_like(parameter)
            grad = parameter.grad
            by_device.setdefault((parameter.device, grad.dtype), []).append(grad)
        for group in by_device.values():
            flat = torch.cat([grad.reshape(-1) for grad in group])
            dist.all_reduce(flat)
            if op == "mean":
                flat /= self.size
            offset = 0
            for grad in group:
                count = grad.numel()
                grad.copy_(flat[offset : offset + count].view_as(grad))
                offset += count

    def sum(self, tensor: Tensor) -> Tensor:
        """`tensor` summed over ranks (a new tensor; the input is left as it was)."""
        if not self.is_distributed:
            return tensor
        import torch.distributed as dist

        total = tensor.detach().clone()
        dist.all_reduce(total)
        return total

    def mean(self, value: float) -> float:
        """The mean of a number over ranks."""
        if not self.is_distributed:
            return value
        import torch

        return float(self.sum(torch.tensor([float(value)], dtype=torch.float64))[0]) / self.size

    def gather(self, tensor: Tensor) -> Tensor:
        """Every rank's (n, ...) `tensor` (n the same on every rank), concatenated in rank
        order: rank 0's rows first."""
        if not self.is_distributed:
            return tensor
        import torch
        import torch.distributed as dist

        parts = [torch.empty_like(tensor) for _ in range(self.size)]
        dist.all_gather(parts, tensor.detach().contiguous())
        return torch.cat(parts)

    def masked_whiten(self, values: Tensor, mask: Tensor, shift_mean: bool = True) -> Tensor:
        """core.onpolicy.maths.masked_whiten over every rank's values (several processes): the
        mean and the Bessel-corrected variance of the whole batch, as one process gets."""
        import torch

        mask = mask.to(values.dtype)
        count = self.sum(mask.sum())
        mean = self.sum((values * mask).sum()) / count.clamp(min=1.0)
        squares = self.sum((((values - mean) ** 2) * mask).sum())
        variance = squares / (count - 1) if count > 1 else torch.zeros_like(squares)
        whitened = (values - mean) * torch.rsqrt(variance + 1e-8)
        return whitened if shift_mean else whitened + mean

    def reduce_metrics(self, metrics: Mapping[str, float]) -> dict[str, float]:
        """One step's metrics over ranks: the mean of each rank's figure (equal shares of
        the batch: the global mean), the slowest rank's times, the largest memory peak.
        Every rank must report the same keys."""
        if not self.is_distributed:
            return dict(metrics)
        import torch

        keys = sorted(metrics)
        if self.share(keys) != keys:
            raise RuntimeError(f"Rank {self.rank} reports other metric keys than rank 0.")
        values = torch.tensor([float(metrics[key]) for key in keys], dtype=torch.float64)
        reduced = {
            "mean": self.sum(values) / self.size,
            "max": self._extreme(values, largest=True),
            "min": self._extreme(values, largest=False),
        }
        how = {key: "max" for key in MAX_KEYS} | {key: "min" for key in MIN_KEYS}
        return {key: float(reduced[how.get(key, "mean")][i]) for i, key in enumerate(keys)}

    def _extreme(self, values: Tensor, largest: bool) -> Tensor:
        import torch.distributed as dist

        result = values.clone()
        dist.all_reduce(result, op=dist.ReduceOp.MAX if largest else dist.ReduceOp.MIN)
        return result


SINGLE_PROCESS = World()
_current: World | None = None


MPI_NAMES = (
    ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK"),
    ("PMI_SIZE", "PMI_RANK", "MPI_LOCALRANKID"),
    ("MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_LOCAL_RANK"),
)
"""(size, rank, local rank) as MPI launchers name them: `accelerate launch --cpu` runs
several CPU processes through mpirun (with --mpirun_hostfile)."""


def world_from_env(env: Mapping[str, str] | None = None) -> World:
    """The world torchrun / accelerate describe in RANK, WORLD_SIZE and LOCAL_RANK (or an
    MPI launcher in its own variables)."""
    env = os.environ if env is None else env
    names = ("WORLD_SIZE", "RANK", "LOCAL_RANK")
    if "WORLD_SIZE" not in env:
        names = next((mpi for mpi in MPI_NAMES if mpi[0] in env), names)
    size = int(env.get(names[0], "1") or 1)
    if size <= 1:
        return SINGLE_PROCESS
    rank = int(env.get(names[1], "0"))
    return World(rank=rank, size=size, local_rank=int(env.get(names[2], str(rank))))


def lone_cpu_launch(env: Mapping[str, str] | None = None) -> bool:
    """Whether `accelerate launch --cpu --num_processes N` (N > 1) started this one
    process alone: without --mpirun_hostfile accelerate starts one CPU process, setting
    MASTER_ADDR (only done for N > 1) but no world."""
    env = os.environ if env is None else env
    cpu = env.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    return cpu and "MASTER_ADDR" in env and world_from_env(env).size == 1


def current_world() -> World:
    """This process's world, read from the environment the first time (joining the
    process group when there are several processes)."""
    global _current
    if _current is None:
        world = world_from_env()
        if world.is_distributed:
            _join_process_group(world)
        elif lone_cpu_launch():
            print(LONE_CPU_NOTE, file=sys.stderr)
        _current = world
    return _current


LONE_CPU_NOTE = (
    "note: `accelerate launch --cpu` started one process (its CPU processes need "
    "--mpirun_hostfile); for N CPU processes use `accelerate launch --multi_gpu "
    "--num_processes N` or `torchrun --nproc_per_node N` (gloo on the CPU)"
)


def _join_process_group(world: World) -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        return
    from core.model.sharding import load_whole_on_every_rank

    dist.init_process_group(backend=process_group_backend(), rank=world.rank, world_size=world.size)
    load_whole_on_every_rank()  # before any model loads (core.model.sharding)


def process_group_backend() -> str:
    """gloo for CPU tensors, and NCCL for CUDA ones where there is a GPU to run it. A CUDA
    build of torch on a machine without one (torch from PyPI on a laptop) has NCCL too, but
    torch 2.14 refuses to create its group there: "ProcessGroupNCCL is only supported with
    GPUs, no GPUs found!"."""
    import torch
    import torch.distributed as dist

    if dist.is_nccl_available() and torch.cuda.is_available():
        return "cpu:gloo,cuda:nccl"
    return "gloo"


def leave_process_group() -> None:
    """End this process's part in the group (the end of a distributed command)."""
    global _current
    if _current is not None and _current.is_distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
    _current = None


SAVE_CHECKPOINT = "save-checkpoint"
"""What rank 0 sends instead of a step decision when a sharded (FSDP) model's checkpoint is
gathered: every rank holds part of it (core.model.sharding)."""


def follow(
    step: Callable[[], Any], world: World, checkpoint: Callable[[], Any] | None = None
) -> int:
    """A rank other than 0: run `step` for as long as rank 0 says a step runs (it sends
    its decision before each one, see TrainingRun.events), and `checkpoint` when rank 0
    says it saves one of a sharded model; returns the steps taken."""
    taken = 0
    while decision := world.agree(None):
        if decision == SAVE_CHECKPOINT:
            if checkpoint is None:
                raise RuntimeError("Rank 0 saves a sharded checkpoint; this rank cannot help.")
            checkpoint()
            continue
        step()
        taken += 1
    return taken
