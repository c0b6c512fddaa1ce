"""LoRA adapters (PEFT): which modules to adapt per architecture, attach, save and load.

One copy of the base weights serves the policy (adapter on) and the reference (adapter
off, `PeftModel.disable_adapter()`), as in TRL's PPO. Adapters are saved in PEFT's
standard folder layout (adapter_config.json + adapter_model.safetensors), so
`PeftModel.from_pretrained(base, folder)` loads them outside the studio too.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeGuard, cast

import torch
from peft import LoraConfig, PeftConfig, PeftModel, get_peft_model
from peft.tuners.tuners_utils import BaseTuner
from peft.utils import load_peft_weights, set_peft_model_state_dict
from safetensors import SafetensorError

from core.config import LoraSpec
from core.errors import ModelLoadError, pickle_refusal
from core.model.adapter_files import ADAPTER_CONFIG, check_adapter_folder
from core.model.backbone import base_model
from core.model.loading import first_line

ADAPTER_NAME = "default"
"""PEFT's name for the one adapter a session holds."""


_LLAMA_STYLE = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
_NEOX_STYLE = ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h")

# Attention and MLP projections of each family: adapting the MLP as well as attention
# learns faster at small ranks (QLoRA, Dettmers et al. 2023, sec. 4). Names missing from a
# given checkpoint (e.g. MoE experts stored as fused parameters) are dropped at lookup.
LORA_TARGETS: dict[str, tuple[str, ...]] = {
    "gpt2": ("c_attn", "c_proj", "c_fc"),
    "gpt_bigcode": ("c_attn", "c_proj", "c_fc"),
    "gpt_neox": _NEOX_STYLE,
    "falcon": _NEOX_STYLE,
    "bloom": _NEOX_STYLE,
    "gpt_neo": ("q_proj", "k_proj", "v_proj", "out_proj", "c_fc", "c_proj"),
    "gptj": ("q_proj", "k_proj", "v_proj", "out_proj", "fc_in", "fc_out"),
    "codegen": ("qkv_proj", "out_proj", "fc_in", "fc_out"),
    "opt": ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"),
    "phi": ("q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"),
    "phi3": ("qkv_proj", "o_proj", "gate_up_proj", "down_proj"),
    "starcoder2": ("q_proj", "k_proj", "v_proj", "o_proj", "c_fc", "c_proj"),
    **{
        model_type: _LLAMA_STYLE
        for model_type in (
            "llama",
            "mistral",
            "mixtral",
            "qwen2",
            "qwen2_moe",
            "qwen3",
            "qwen3_moe",
            "gemma",
            "gemma2",
            "gemma3_text",
            "smollm3",
            "olmo",
            "olmo2",
            "granite",
            "stablelm",
            "cohere",
        )
    },
}

# Output heads are never adapted: LoRA on the vocabulary projection is costly and unstable.
_HEAD_NAMES = {"lm_head", "score", "classifier", "embed_out", "output"}


def _is_linear(module: torch.nn.Module) -> bool:
    # GPT-2 style models use transformers' Conv1D (a Linear with transposed weight).
    return isinstance(module, torch.nn.Linear) or type(module).__name__ == "Conv1D"


def linear_module_names(model: torch.nn.Module) -> list[str]:
    """Sorted distinct leaf names of the model's linear layers, output heads excluded."""
    names = {
        name.rsplit(".", 1)[-1]
        for name, module in base_model(model).named_modules()
        if _is_linear(module)
    }
    return sorted(names - _HEAD_NAMES)


def lora_targets(model: torch.nn.Module) -> list[str]:
    """LoRA target module names for this model's architecture.

    Known families come from LORA_TARGETS; an unknown model type with Llama-style or
    NeoX-style projection names is treated as that family. Anything else is a
    ModelLoadError listing the linear layers found, so the user can choose.
    """
    base = base_model(model)
    model_type = getattr(getattr(base, "config", None), "model_type", None) or "unknown"
    present = set(linear_module_names(base))
    wanted = LORA_TARGETS.get(model_type)
    if wanted is None:
        # Many new decoder models reuse Llama's module names; recognise them by shape.
        for family in (_LLAMA_STYLE, _NEOX_STYLE):
            if set(family[:4]) <= present:
                wanted = family
                break
    targets = [name for name in (wanted or ()) if name in present]
    if not targets:
        found = ", ".join(sorted(present)) or "none"
        raise ModelLoadError(
            f"Don't know which layers of a '{model_type}' model to adapt with LoRA. "
            f"Linear layers found: {found}. Choose some and pass them as LoraSpec.target_modules "
            f"(CLI: --lora-targets NAME,NAME)."
        )
    return targets


def lora_config(model: torch.nn.Module, spec: LoraSpec) -> LoraConfig:
    """The PEFT LoraConfig for `spec` on `model` (targets checked against the model)."""
    if spec.r < 1 or spec.alpha <= 0 or not 0.0 <= spec.dropout < 1.0:
        raise ModelLoadError(
            f"Invalid LoRA settings r={spec.r}, alpha={spec.alpha}, dropout={spec.dropout}: "
            "use r >= 1, alpha > 0 and 0 <= dropout < 1."
        )
    present = set(linear_module_names(model))
    if spec.target_modules:
        targets = list(spec.target_modules)
        unknown = [name for name in targets if name not in present]
        if unknown:
            raise ModelLoadError(
                f"LoRA target module(s) {', '.join(unknown)} not found in this model. "
                f"Linear layers it has: {', '.join(sorted(present)) or 'none'}."
            )
    else:
        targets = lora_targets(model)
    conv1d_targets = {
        name.rsplit(".", 1)[-1]
        for name, module in base_model(model).named_modules()
        if type(module).__name__ == "Conv1D"
    }
    return LoraConfig(
        r=spec.r,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=targets,
        # Conv1D stores its weight as (in, out); PEFT must know or it warns and guesses.
        fan_in_fan_out=bool(conv1d_targets & set(targets)),
        bias="none",
        task_type="CAUSAL_LM",
    )


def attach_lora(model: torch.nn.Module, spec: LoraSpec) -> PeftModel:
    """Wrap `model` with a fresh LoRA adapter; base weights are frozen by PEFT."""
    config = lora_config(model, spec)
    # PEFT draws lora_A from the global RNG: seed it here (without disturbing the caller's
    # RNG) so that two loads with the same spec start from the same adapter.
    with _quiet_peft(), torch.random.fork_rng():
        torch.manual_seed(spec.seed)
        return get_peft_model(model, config, adapter_name=ADAPTER_NAME)


@contextmanager
def _quiet_peft() -> Iterator[None]:
    """Hide one deprecation PEFT triggers inside transformers 5 (PEFT reads
    `is_gradient_checkpointing`); it is theirs to fix and says nothing to our users.
    Also PEFT's note that it flipped fan_in_fan_out: a GPT-2 adapter trained on a 4-bit
    base (whose Conv1D layers bitsandbytes made Linear) loads on the 16-bit base, and the
    other way round, with the flag corrected; the weights are the same either way."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
        )
        warnings.filterwarnings("ignore", message="fan_in_fan_out is set to", category=UserWarning)
        yield


def _read_adapter_config(path: Path) -> PeftConfig:
    try:
        return PeftConfig.from_pretrained(str(path))
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise ModelLoadError(
            f"Cannot read {path / ADAPTER_CONFIG}: {error}. Save the adapter again."
        ) from error


def _same_shape(current: PeftConfig, incoming: PeftConfig) -> bool:
    """Whether `incoming` fits the adapter already attached (same layers, same rank)."""
    keys = ("peft_type", "r", "lora_alpha", "fan_in_fan_out", "bias")
    same = all(getattr(current, k, None) == getattr(incoming, k, None) for k in keys)
    targets = [set(getattr(config, "target_modules", None) or ()) for config in (current, incoming)]
    return same and targets[0] == targets[1]


def load_adapter_weights(model: torch.nn.Module, folder: str | Path) -> PeftModel:
    """Load the PEFT adapter in `folder` as the adapter of `model`; returns the PeftModel.

    The adapter is checked against the model before anything changes, so a misfit leaves
    the current adapter intact. When it has the attached adapter's shape, its weights are
    copied in place (optimisers holding those parameters stay valid); otherwise the old
    adapter is removed and the new one attached, trainable.
    """
    path = check_adapter_folder(folder)
    incoming = _read_adapter_config(path)
    device = next(model.parameters()).device
    try:
        weights = load_peft_weights(str(path), device=str(device))
    except pickle.UnpicklingError as error:  # adapter_model.bin with objects beyond tensors
        raise ModelLoadError(pickle_refusal(path / "adapter_model.bin") + ".") from error
    except (OSError, RuntimeError, ValueError, SafetensorError) as error:
        raise ModelLoadError(
            f"Cannot read the adapter weights in {path}: {first_line(error)}. The file is "
            "probably truncated or corrupt; save the adapter again."
        ) from error
    _check_fit(model, weights, path)
    try:
        if isinstance(model, PeftModel) and _same_shape(model.peft_config[ADAPTER_NAME], incoming):
            set_peft_model_state_dict(model, weights, adapter_name=ADAPTER_NAME)
            return model
        base = model.unload() if isinstance(model, PeftModel) else model
        with _quiet_peft():
            return PeftModel.from_pretrained(
                base, str(path), adapter_name=ADAPTER_NAME, is_trainable=True
            )
    except (RuntimeError, ValueError, KeyError) as error:
        raise ModelLoadError(
            f"Adapter {path} does not fit this model ({first_line(error)}). It was probably "
            "trained on a different base model; load that base model with it."
        ) from error


def _check_fit(model: torch.nn.Module, weights: dict[str, torch.Tensor], path: Path) -> None:
    """Every LoRA matrix in `weights` must match a layer of `model` (name and size)."""
    modules = dict(base_model(model).named_modules())
    for key, tensor in weights.items():
        part = next((p for p in (".lora_A.weight", ".lora_B.weight") if key.endswith(p)), None)
        if part is None:
            continue
        name = key.removeprefix("base_model.model.").removesuffix(part)
        module = modules.get(name)
        features = _features(getattr(module, "base_layer", module))
        if part == ".lora_A.weight":
            fits = features is not None and tensor.shape[1] == features[0]
        else:
            fits = features is not None and tensor.shape[0] == features[1]
        if not fits:
            raise ModelLoadError(
                f"Adapter {path} does not fit this model: its layer '{name}' is missing here "
                "or has another size. It was trained on a different base model; load that "
                "base model with it."
            )


def _features(module: torch.nn.Module | None) -> tuple[int, int] | None:
    """(in_features, out_features) of a Linear or Conv1D layer, else None."""
    if isinstance(module, torch.nn.Linear):
        return module.in_features, module.out_features
    weight = None if module is None else getattr(module, "weight", None)
    if type(module).__name__ == "Conv1D" and isinstance(weight, torch.Tensor):
        return int(weight.shape[0]), int(weight.shape[1])  # stored (in, out)
    return None


def save_adapter_folder(
    model: torch.nn.Module, folder: str | Path, state: dict[str, torch.Tensor] | None = None
) -> Path:
    """Save the adapter of `model` in PEFT's folder format; returns the folder. `state`
    ({name: tensor} as model.state_dict() names them) replaces the model's own weights:
    a sharded model's gathered adapter."""
    if not isinstance(model, PeftModel):
        raise ModelLoadError(
            "This model has no LoRA adapter to save; load it with LoRA enabled first."
        )
    path = Path(folder).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    extra: dict[str, Any] = {} if state is None else {"state_dict": state}
    model.save_pretrained(
        str(path), selected_adapters=[ADAPTER_NAME], safe_serialization=True, **extra
    )
    return path


# ------------------------------------------------------------ a frozen reference adapter

REFERENCE_ADAPTER = "reference"
"""PEFT's name for the frozen copy of the adapter a run started from (its KL anchor)."""


def has_trained_weights(model: torch.nn.Module) -> TypeGuard[PeftModel]:
    """Whether the session's adapter moves the model at all: a fresh LoRA adapter has
    lora_B = 0, so the policy it starts is the base itself."""
    if not isinstance(model, PeftModel):
        return False
    suffix = f"lora_B.{ADAPTER_NAME}.weight"
    return any(
        name.endswith(suffix) and bool(param.detach().abs().max() > 0)
        for name, param in model.named_parameters()
    )


def has_reference_adapter(model: torch.nn.Module) -> TypeGuard[PeftModel]:
    return isinstance(model, PeftModel) and REFERENCE_ADAPTER in model.peft_config


def copy_adapter_as_reference(model: PeftModel) -> None:
    """Add (or refresh) the frozen 'reference' adapter as a copy of the trainable one.

    Two small LoRA adapters on one backbone: the reference pass switches adapters rather
    than holding a second copy of the base, and works on a quantised base too."""
    from peft.utils import get_peft_model_state_dict

    state = get_peft_model_state_dict(model, adapter_name=ADAPTER_NAME)
    if not has_reference_adapter(model):
        grads = {param: param.requires_grad for param in model.parameters()}
        with _quiet_peft():
            model.add_adapter(REFERENCE_ADAPTER, model.peft_config[ADAPTER_NAME])
        for param, wanted in grads.items():  # PEFT may re-mark adapters trainable
            param.requires_grad_(wanted)
    set_peft_model_state_dict(model, state, adapter_name=REFERENCE_ADAPTER)
    for name, param in model.named_parameters():
        if f".{REFERENCE_ADAPTER}." in name:
            param.requires_grad_(False)


def load_reference_adapter(model: PeftModel, folder: str | Path) -> None:
    """Read a saved reference adapter (a checkpoint's) into the frozen 'reference' slot."""
    copy_adapter_as_reference(model)  # creates the slot with the right shapes
    path = check_adapter_folder(folder)
    try:
        weights = load_peft_weights(str(path), device=str(next(model.parameters()).device))
        set_peft_model_state_dict(model, weights, adapter_name=REFERENCE_ADAPTER)
    except (OSError, RuntimeError, ValueError, KeyError, SafetensorError) as error:
        raise ModelLoadError(
            f"Cannot read the reference adapter in {path}: {first_line(error)}."
        ) from error


def drop_reference_adapter(model: torch.nn.Module) -> None:
    if has_reference_adapter(model):
        model.delete_adapter(REFERENCE_ADAPTER)
        _tuner(model).set_adapter(ADAPTER_NAME)


def save_reference_adapter(model: PeftModel, folder: str | Path) -> Path:
    """Save the 'reference' adapter in PEFT's folder format (as the default adapter, so it
    loads with PeftModel.from_pretrained on its own)."""
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    model.peft_config[REFERENCE_ADAPTER].save_pretrained(str(path))
    state = get_peft_model_state_dict(model, adapter_name=REFERENCE_ADAPTER)
    save_file(
        {k: v.contiguous() for k, v in state.items()}, str(path / "adapter_model.safetensors")
    )
    return path


def _tuner(model: PeftModel) -> BaseTuner:
    """The LoRA tuner PEFT wraps around the transformers model (peft declares
    PeftModel.base_model a plain Module)."""
    return cast(BaseTuner, model.base_model)


@contextmanager
def reference_active(model: PeftModel) -> Iterator[None]:
    """Run the reference adapter inside the block, then the trainable one again; every
    parameter keeps its requires_grad (PEFT's set_adapter would change them)."""
    grads = [(param, param.requires_grad) for param in model.parameters()]
    _tuner(model).set_adapter(REFERENCE_ADAPTER, inference_mode=True)
    try:
        yield
    finally:
        _tuner(model).set_adapter(ADAPTER_NAME)
        for param, wanted in grads:
            param.requires_grad_(wanted)
