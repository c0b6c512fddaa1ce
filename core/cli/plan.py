"""`plan`: the memory planner from the command line. It takes `ppo`'s model and training
flags plus an algorithm, reads only the model's config.json (no weights, no download),
and prints the expected peak split into its terms, with verdicts for this device's free
memory and for common GPU sizes (core.memory_plan)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from core.algorithms import DEFAULT_KIND
from core.cli import add_workspace_argument
from core.cli.common import add_model_arguments, lora_from_args
from core.config import DEMO_MODEL, PPOConfig
from core.config.settings import add_setting_flags, config_from_sources
from core.memory_plan import (
    ALGORITHMS,
    OFFLINE,
    QUANTIZE_CHOICES,
    MemoryPlan,
    PlanRequest,
    format_bytes,
    plan_memory,
)
from core.model.shapes import ModelShape, shape_of

GPU_SIZES_GIB = (8, 12, 16, 24)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="the expected peak memory of a training run, before loading anything",
        description="Plan a run's memory from the model's config.json and the run's "
        "settings: the peak (±25%% of the measured one), split into weights, LoRA + "
        "optimiser, activations, logits and generation cache, and whether it fits. "
        "--model also takes a known shape: random:gpt2-small, qwen2.5-7b, ...",
    )
    add_model_arguments(parser)
    parser.add_argument("--algorithm", default=DEFAULT_KIND, choices=ALGORITHMS)
    parser.add_argument(
        "--prompt-tokens",
        type=int,
        default=64,
        help="longest prompt in tokens (batches are padded to it; default 64)",
    )
    parser.add_argument(
        "--budget-gib", type=float, default=None, help="also judge against this many GiB"
    )
    add_setting_flags(parser.add_argument_group("training settings (as ppo's)"), PPOConfig)
    _add_missing_option_flags(parser)
    add_workspace_argument(parser)
    parser.set_defaults(func=run_plan)


def _add_missing_option_flags(parser: argparse.ArgumentParser) -> None:
    """The memory options, where the model and training flags do not already bring them."""
    taken = parser._option_string_actions  # noqa: SLF001 (argparse has no public test)
    if "--gradient-checkpointing" not in taken:
        parser.add_argument(
            "--gradient-checkpointing",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="recompute each layer in the backward pass instead of keeping its activations",
        )
    if "--quantize" not in taken:
        parser.add_argument("--quantize", default="none", choices=QUANTIZE_CHOICES)
    if "--logits-chunk-size" not in taken:
        parser.add_argument(
            "--logits-chunk-size",
            type=int,
            default=None,
            help="response positions the output layer projects at a time (chunked "
            "log-probs; default 0: all at once)",
        )


def run_plan(args: argparse.Namespace) -> int:
    config, _notes = config_from_sources(PPOConfig, args, None)
    args.model = args.model or DEMO_MODEL
    shape = shape_of(args.model)
    device = _device(args.device)
    request = request_from_settings(args, config, device)
    plan = plan_memory(shape, request)
    print(describe_shape(args.model, shape))
    print(describe_request(request))
    print(plan_table(plan))
    free = free_memory(device)
    if free is not None:
        print(plan.verdict(free, f"the free {format_bytes(free)} of {device}"))
    if args.budget_gib:
        print(plan.verdict(int(args.budget_gib * 2**30)))
    on_gpu = _on_gpu(request)
    gpu = plan_memory(shape, on_gpu)
    sizes = ", ".join(
        f"{size} GiB {'yes' if gpu.needed <= size * 2**30 else 'no'}" for size in GPU_SIZES_GIB
    )
    print(f"on a GPU in {on_gpu.dtype} (peak {format_bytes(gpu.peak)} + CUDA context): {sizes}")
    return 0


def request_from_settings(args: argparse.Namespace, config: PPOConfig, device: str) -> PlanRequest:
    """The planner's request from the flags (offline trainers: the minibatch size is the
    micro-batch, max-new-tokens the response length)."""
    option = _option_value
    return PlanRequest(
        algorithm=args.algorithm,
        dtype=_dtype(args.dtype, device),
        quantize=str(getattr(args, "quantize", None) or "none"),
        lora_r=lora_from_args(args).r,
        batch_size=config.batch_size,
        mini_batch_size=config.mini_batch_size,
        prompt_tokens=args.prompt_tokens,
        response_tokens=config.max_new_tokens,
        gradient_checkpointing=bool(option(args, config, "gradient_checkpointing")),
        logits_chunk_size=int(option(args, config, "logits_chunk_size") or 0),
        device=device,
    )


def _option_value(args: argparse.Namespace, config: PPOConfig, name: str) -> Any:
    """A memory option from the config (where this build has it) or its flag."""
    value = getattr(config, name, None)
    if value is None:
        value = getattr(args, name, None)
    return value or False


def _device(request: str) -> str:
    if request in ("cpu", "mps"):
        return request
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if request == "cuda":
        from core.errors import StudioError

        raise StudioError("--device cuda: PyTorch sees no CUDA GPU here; use --device cpu.")
    return "cpu"


def _dtype(request: str, device: str) -> str:
    if request != "auto":
        return request
    return "bfloat16" if device.startswith("cuda") else "float32"


def _on_gpu(request: PlanRequest) -> PlanRequest:
    """The same run on a GPU: a CPU run's float32 becomes bfloat16, as dtype auto picks."""
    if request.device.startswith("cuda"):
        return request
    dtype = "bfloat16" if request.dtype == "float32" else request.dtype
    return replace(request, device="cuda", dtype=dtype)


def free_memory(device: str) -> int | None:
    """Free memory of the device now: the GPU's per the driver, or available RAM."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info()[0])
    if device == "cpu":
        import psutil

        return int(psutil.virtual_memory().available)
    return None


def describe_shape(name: str, shape: ModelShape) -> str:
    return (
        f"model: {name} ({shape.params / 1e6:,.0f}M parameters, {shape.family}, "
        f"{shape.layers} layers, hidden {shape.hidden}, vocabulary {shape.vocab:,})"
    )


def describe_request(request: PlanRequest) -> str:
    rows = "micro-batch" if request.algorithm in OFFLINE else "minibatch"
    on_off = {True: "on", False: "off"}
    return (
        f"run: {request.algorithm} on {request.device}, {request.dtype}, quantize "
        f"{request.quantize}, LoRA r={request.lora_r}, batch {request.batch_size}, {rows} "
        f"{request.mini_batch_size}, {request.prompt_tokens}+{request.response_tokens} tokens, "
        f"checkpointing {on_off[request.gradient_checkpointing]}, logits chunk "
        f"{request.logits_chunk_size or 'off'}"
    )


def plan_table(plan: MemoryPlan) -> str:
    """The terms, one a line, then the peak."""
    lines = [f"  {name:<18} {format_bytes(size):>10}" for name, size in plan.parts()]
    lines.append(f"peak ≈ {format_bytes(plan.peak)} in {plan.peak_phase} (±25%)")
    return "\n".join(lines)
