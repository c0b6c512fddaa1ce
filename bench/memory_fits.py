"""On paper, with the planner: which model sizes fit which GPU, and with what settings.

    python -m bench.memory_fits        # the markdown tables of docs/memory.md

Planner only (core.memory_plan), nothing is loaded. For each model and GPU size, the
first settings in SUGGESTIONS order that fit are the suggestion: the cheapest memory
options first (16-bit, then gradient checkpointing, chunked log-probs, 8-bit, 4-bit),
then smaller minibatches. A cell fits when the allocator peak plus the CUDA context
is at most the GPU's memory.
"""

from __future__ import annotations

import sys
from dataclasses import replace

from core.memory_plan import PlanRequest, format_bytes, plan_memory
from core.model.shapes import KNOWN_SHAPES

MODELS = ("qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-3b", "qwen2.5-7b", "llama-2-7b")
GPUS_GIB = (8, 12, 16, 24)
PPO_RUN = PlanRequest(
    algorithm="ppo",
    dtype="bfloat16",
    device="cuda",
    batch_size=16,
    mini_batch_size=8,
    prompt_tokens=128,
    response_tokens=128,
)
"""The run of the fits table: PPO, LoRA r=16, 16 rollouts of 128+128 tokens per step."""
OPTION_STEPS = (
    ("16-bit", {}),
    ("+ckpt", {"gradient_checkpointing": True}),
    ("+ckpt+chunk", {"gradient_checkpointing": True, "logits_chunk_size": 16}),
    (
        "8-bit+ckpt+chunk",
        {"quantize": "8bit", "gradient_checkpointing": True, "logits_chunk_size": 16},
    ),  # fmt: skip
    (
        "4-bit+ckpt+chunk",
        {"quantize": "4bit", "gradient_checkpointing": True, "logits_chunk_size": 16},
    ),  # fmt: skip
)


def suggestion(model: str, gib: int, run: PlanRequest = PPO_RUN) -> str:
    """The first option set (then minibatch) that fits, as a cell: 'options, mb N: X GiB'."""
    shape = KNOWN_SHAPES[model]
    for minibatch in (run.mini_batch_size, 4, 2, 1):
        for name, changes in OPTION_STEPS:
            request = replace(run, mini_batch_size=minibatch, **changes)
            plan = plan_memory(shape, request)
            if plan.needed <= gib * 2**30:
                return f"{name}, mb {minibatch}: {format_bytes(plan.needed)}"
    smallest = plan_memory(shape, replace(run, mini_batch_size=1, **OPTION_STEPS[-1][1]))
    return f"no ({format_bytes(smallest.needed)} at least)"


def fits_table(run: PlanRequest = PPO_RUN) -> str:
    head = "| model | params | " + " | ".join(f"{gib} GiB" for gib in GPUS_GIB) + " |"
    lines = [head, "|---|---:|" + "---|" * len(GPUS_GIB)]
    for model in MODELS:
        cells = " | ".join(suggestion(model, gib, run) for gib in GPUS_GIB)
        lines.append(f"| {model} | {KNOWN_SHAPES[model].params / 1e9:.2f}B | {cells} |")
    return "\n".join(lines)


def published_comparison() -> str:
    """The planner's figures for the settings of LLaMA-Factory's and Unsloth's tables."""
    sft = PlanRequest(
        algorithm="sft",
        dtype="bfloat16",
        device="cuda",
        batch_size=1,
        mini_batch_size=1,
        prompt_tokens=256,
        response_tokens=256,
        gradient_checkpointing=True,
        logits_chunk_size=16,
    )
    grpo = PlanRequest(
        algorithm="grpo",
        dtype="bfloat16",
        device="cuda",
        quantize="4bit",
        batch_size=8,
        mini_batch_size=8,
        prompt_tokens=256,
        response_tokens=512,
        gradient_checkpointing=True,
        logits_chunk_size=16,
    )
    rows = [
        ("llama-2-7b", "SFT, LoRA 16-bit, batch 1, 512 tokens", sft, "≈ 16 GB (LLaMA-Factory)"),
        (
            "llama-2-7b",
            "SFT, QLoRA 4-bit, batch 1, 512 tokens",
            replace(sft, quantize="4bit"),
            "≈ 6 GB (LLaMA-Factory)",
        ),  # fmt: skip
        ("qwen2.5-1.5b", "GRPO, 4-bit, 8 completions of 256+512", grpo, "5-7 GB (Unsloth)"),
    ]
    lines = ["| model | run | planner (peak + CUDA context) | published |", "|---|---|---:|---|"]
    for model, what, request, published in rows:
        plan = plan_memory(KNOWN_SHAPES[model], request)
        lines.append(f"| {model} | {what} | {format_bytes(plan.needed)} | {published} |")
    return "\n".join(lines)


def main() -> int:
    print(fits_table())
    print()
    print(published_comparison())
    return 0


if __name__ == "__main__":
    sys.exit(main())
