"""The Model page's list of models on this machine, with a memory verdict for the chosen
device, and the Train page's default preset the Model page plans for (no Qt here).

`list_local_models` runs in a worker: it walks the hub cache and reads config.json files
(core.model.local), which on a slow or network disk takes long enough to hold a window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.algorithms import DEFAULT_KIND
from core.memory_plan import PlanRequest, format_bytes, plan_memory, request_for_config
from core.model.local import LocalModel, find_local_models

if TYPE_CHECKING:
    from core.config import PPOConfig

GPU_SIZES_GIB = (8, 12, 16, 24, 48, 80)


@dataclass(frozen=True)
class TrainDefaults:
    """The Train page's first PPO preset, as the memory plan reads it."""

    preset: str
    config: PPOConfig
    lora_r: int

    @property
    def title(self) -> str:
        return (
            f"PPO with the Train page's first preset: batch {self.config.batch_size}, "
            f"minibatch {self.config.mini_batch_size}, LoRA r {self.lora_r}"
        )

    def request(self, dtype: str, device: str) -> PlanRequest:
        return request_for_config(DEFAULT_KIND, self.config, self.lora_r, dtype, device)


def train_defaults() -> TrainDefaults:
    """The preset the Train page starts PPO from (app/algorithms.PPO_PRESETS' first)."""
    from dataclasses import replace

    from app.algorithms import PPO_PRESETS
    from core.config import PPOConfig

    name, (overrides, (rank, _alpha), _rewards) = next(iter(PPO_PRESETS.items()))
    return TrainDefaults(name, replace(PPOConfig(), **overrides), rank)


@dataclass(frozen=True)
class ModelRow:
    """A local model as the table shows it."""

    model: LocalModel
    size: str
    verdict: str
    fits: bool | None
    """Whether the default run fits the chosen device (None: unknown)."""


def list_local_models(
    cache: Path | None,
    folders: Sequence[str],
    device: str,
    dtype: str,
    ram_bytes: int | None,
) -> list[ModelRow]:
    """The local models with their size and the verdict for `device`: against `ram_bytes`
    on the CPU, else the smallest usual GPU the default run fits."""
    defaults = train_defaults()
    rows = []
    for model in find_local_models(cache, folders):
        run_dtype = model_dtype(model, dtype, device)
        verdict, fits = "plan unknown", None
        if model.shape is not None:
            plan = plan_memory(model.shape, defaults.request(run_dtype, device))
            verdict, fits = _verdict(plan.needed, device, ram_bytes)
        rows.append(ModelRow(model, format_bytes(model.size_bytes), verdict, fits))
    return rows


def model_dtype(model: LocalModel, dtype: str, device: str) -> str:
    """The dtype a load would use: the choice, or for auto bfloat16 on a GPU, else float32."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if device == "cuda" else "float32"


def _verdict(needed: int, device: str, ram_bytes: int | None) -> tuple[str, bool | None]:
    if device == "cpu":
        if ram_bytes is None:
            return f"needs {format_bytes(needed)}", None
        fits = needed <= ram_bytes
        return (f"fits: {format_bytes(needed)}" if fits else
                f"too big: needs {format_bytes(needed)}"), fits  # fmt: skip
    for size in GPU_SIZES_GIB:
        if needed <= size * 2**30:
            return f"{format_bytes(needed)}: a {size} GiB GPU", True
    return f"too big: needs {format_bytes(needed)}", False
