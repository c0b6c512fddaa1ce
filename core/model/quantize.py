"""4-bit and 8-bit loading of the base model (QLoRA) through bitsandbytes.

The base weights are stored quantised and stay frozen; the LoRA adapter, the value head
and every weight bitsandbytes does not quantise (embeddings, norms, the output head) are
float32, as in QLoRA (Dettmers et al. 2023). 4bit is NF4 with double quantisation, the
QLoRA recipe; its matrix products run in the compute dtype (bfloat16 on a GPU that has
it, else float32). bitsandbytes is an optional extra (`pip install "rlhf-studio[quant]"`);
nothing here imports it until a quantised load is asked for.

A quantised run keeps its mode: checkpoints record it, `--resume` without `--quantize`
follows it, and a resume with another mode is refused (the adapter was trained against
that base's rounding). The adapter-off reference is the quantised base itself.
"""

from __future__ import annotations

import importlib.util
import logging
from importlib import metadata
from typing import TYPE_CHECKING, Any

from core.errors import ModelLoadError, TrainingError

if TYPE_CHECKING:
    from pathlib import Path

    import torch
    from transformers import PreTrainedModel

    from core.model.session import ModelSession

QUANTIZE_MODES = ("none", "8bit", "4bit")
"""--quantize values: none (the dtype as chosen), 8bit (LLM.int8), 4bit (NF4, QLoRA)."""
NO_QUANTIZE = "none"
INSTALL_HINT = 'pip install "rlhf-studio[quant]"'
MIN_BITSANDBYTES = (0, 47)
"""The first bitsandbytes that runs 4-bit and 8-bit layers on x86 CPUs as well as CUDA."""
_DEVICES = ("cpu", "cuda")


def check_quantize_mode(mode: str) -> str:
    """`mode` if it is one of QUANTIZE_MODES, else a one-line ModelLoadError."""
    if mode not in QUANTIZE_MODES:
        raise ModelLoadError(f"Unknown quantize mode '{mode}'; choose {', '.join(QUANTIZE_MODES)}.")
    return mode


def is_quantized(mode: str) -> bool:
    """Whether `mode` asks for a bitsandbytes base (8bit or 4bit)."""
    return check_quantize_mode(mode) != NO_QUANTIZE


def check_quantize_device(mode: str, device: torch.device) -> None:
    """bitsandbytes runs on CUDA GPUs and on the CPU (from 0.47); refuse anything else,
    and a missing or too old bitsandbytes, before any weight is read."""
    if device.type not in _DEVICES:
        raise ModelLoadError(
            f"--quantize {mode} needs a CUDA GPU or the CPU; bitsandbytes does not run on "
            f"'{device.type}'. Choose device cuda or cpu, or --quantize none."
        )
    version = bitsandbytes_version()
    if version is None:
        raise ModelLoadError(
            f"--quantize {mode} needs the bitsandbytes package, which is not installed: "
            f"{INSTALL_HINT} (or choose --quantize none)."
        )
    if _version_tuple(version) < MIN_BITSANDBYTES and device.type == "cpu":
        raise ModelLoadError(
            f"bitsandbytes {version} cannot run quantised layers on the CPU (0.47 or newer "
            f'can): pip install -U "bitsandbytes>=0.47", or use a CUDA GPU.'
        )


def bitsandbytes_version() -> str | None:
    """The installed bitsandbytes version, or None when it is not installed."""
    if importlib.util.find_spec("bitsandbytes") is None:
        return None
    try:
        return metadata.version("bitsandbytes")
    except metadata.PackageNotFoundError:
        return None


def _version_tuple(version: str) -> tuple[int, int]:
    parts = [
        int("".join(ch for ch in part if ch.isdigit()) or 0) for part in version.split(".")[:2]
    ]
    return (parts + [0, 0])[0], (parts + [0, 0])[1]


def quantization_config(mode: str, compute_dtype: torch.dtype) -> Any:
    """transformers' BitsAndBytesConfig for `mode`: NF4 + double quantisation for 4bit
    (matrix products in `compute_dtype`), LLM.int8 for 8bit."""
    from transformers import BitsAndBytesConfig

    if mode == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype,
        )
    return BitsAndBytesConfig(load_in_8bit=True)


def quantized_load_kwargs(mode: str, device: torch.device, compute_dtype: torch.dtype) -> dict:
    """from_pretrained arguments of a quantised load: bitsandbytes places the weights on
    `device` as it reads them (a quantised model is not moved afterwards), and what it
    does not quantise is float32."""
    import torch

    quiet_bitsandbytes()
    index: int | str = "cpu" if device.type == "cpu" else (device.index or 0)
    return {
        "quantization_config": quantization_config(mode, compute_dtype),
        "device_map": {"": index},
        "dtype": torch.float32,
    }


def prepare_quantized(model: PreTrainedModel) -> PreTrainedModel:
    """PEFT's k-bit preparation before LoRA: freeze the base, non-quantised weights in
    float32. Gradient checkpointing stays as the run's settings have it (PEFT would
    switch it on by default)."""
    from peft import prepare_model_for_kbit_training

    keep_4bit_layout(model)
    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)


def keep_4bit_layout(model: torch.nn.Module) -> None:
    """Stop bitsandbytes (0.50.2 does it) repacking 4-bit weights for its CPU kernel.

    On a CPU with AVX512-BF16, a Linear4bit's first eval-mode forward without gradients
    rewrites its weight in place: absmax rounded to bfloat16, products in bfloat16, and
    from then on every forward, training ones included, goes through that kernel, which
    has no backward (the gradient to the layer's input is silently dropped). Saving a
    state dict, as every checkpoint does, unpacks it again but not exactly (absmax is
    re-quantised from the bfloat16 copy). So a run's numbers depended on when it last
    saved: an uninterrupted PPO run with checkpoints and one resumed from them differed
    in step 2's loss/policy (-0.000275 vs -0.000319), and the resumed one matched a run
    that saved nothing. Kept in the loaded layout, every forward dequantises the same
    weights into the compute dtype, with autograd, whatever the run did before."""
    from bitsandbytes.nn import Linear4bit

    for module in model.modules():
        if isinstance(module, Linear4bit):
            module.support_avx512bf16_for_cpu = False


def quiet_bitsandbytes() -> None:
    """LLM.int8 logs a warning on every matrix product whose input is not float16 (every
    one on a float32 model); it says nothing the user can act on."""
    logging.getLogger("bitsandbytes.autograd._functions").setLevel(logging.ERROR)


def logical_numel(param: torch.Tensor) -> int:
    """Elements a parameter stands for: a packed 4-bit tensor holds two per byte, and its
    quant_state knows the original shape."""
    state = getattr(param, "quant_state", None)
    shape = getattr(state, "shape", None)
    if shape is not None:
        count = 1
        for size in shape:
            count *= int(size)
        return count
    return param.numel()


# ---------------------------------------------------------------- checkpoints and resume


def quantize_of(meta: dict[str, Any]) -> str:
    """The quantize mode a checkpoint's policy was trained with (older ones: none)."""
    return str(meta.get("quantize", NO_QUANTIZE))


def check_resume_quantize(folder: Path, meta: dict[str, Any], quantize: str) -> None:
    """An adapter trained on a quantised base goes on training on the same one, and an
    adapter trained on a full-precision base is not continued on a quantised one."""
    trained = quantize_of(meta)
    if trained != quantize:
        raise TrainingError(
            f"The run in {folder} was trained on a base loaded with quantize {trained}, but "
            f"the model is loaded with quantize {quantize}. Load it with quantize {trained} "
            f"(Model page, or --quantize {trained}, which --resume picks by itself) to resume "
            "this run."
        )


def session_quantize(session: ModelSession) -> str:
    """The quantize mode a session's base was loaded with (none for sessions without a
    spec, such as test doubles)."""
    return str(getattr(getattr(session, "spec", None), "quantize", NO_QUANTIZE))
