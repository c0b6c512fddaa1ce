"""The memory planner's display (core.memory_plan): the expected peak split into its
terms, and verdicts for the device's free memory and common GPU sizes.

Pure arithmetic on a shape already read: the pages read the shape in a worker (Model
page, from config.json) or from the loaded session's description (Train page)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

from core.memory_plan import MemoryPlan, PlanRequest, format_bytes, plan_memory
from core.model.shapes import ModelShape

GPU_SIZES_GIB = (8, 12, 16, 24)


def plan_text(
    shape: ModelShape, request: PlanRequest, budget: tuple[int, str] | None = None
) -> str:
    """Rich text: peak, its terms, the verdict for `budget` (bytes, name) and GPU sizes."""
    plan = plan_memory(shape, request)
    rows = "".join(
        f"<tr><td>{name}</td><td align='right'>&nbsp;{format_bytes(size)}</td></tr>"
        for name, size in plan.parts()
    )
    lines = [
        f"<b>Peak ≈ {format_bytes(plan.peak)}</b> ({request.algorithm.upper()}, "
        f"{request.dtype}, prompts ≤ {request.prompt_tokens} + {request.response_tokens} "
        f"tokens, in {plan.peak_phase}; ±25%)",
        f"<table>{rows}</table>",
    ]
    if budget is not None:
        lines.append(plan.verdict(*budget))
    lines.append(gpu_sizes_line(shape, request, plan))
    return "<br>".join(lines)


def gpu_sizes_line(shape: ModelShape, request: PlanRequest, plan: MemoryPlan) -> str:
    """'On a GPU: 8 GiB no · 12 GiB yes ...' for this run in 16-bit on a GPU."""
    if not request.device.startswith("cuda"):
        dtype = "bfloat16" if request.dtype == "float32" else request.dtype
        from dataclasses import replace

        request = replace(request, device="cuda", dtype=dtype)
        plan = plan_memory(shape, request)
    verdicts = " · ".join(
        f"{size} GiB {'yes' if plan.needed <= size * 2**30 else 'no'}" for size in GPU_SIZES_GIB
    )
    return f"On a GPU ({request.dtype}, {format_bytes(plan.needed)}): {verdicts}"


class MemoryPlanLabel(QLabel):
    """Word-wrapped rich text holding the planner's latest answer."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("memoryPlanLabel")
        self.setWordWrap(True)
        self.setToolTip(
            "The memory planner's expected peak for these settings (docs/memory.md): "
            "within ±25% of the measured peak on the models it was checked on."
        )

    def show_plan(
        self, shape: ModelShape, request: PlanRequest, budget: tuple[int, str] | None = None
    ) -> None:
        self.setText(plan_text(shape, request, budget))
