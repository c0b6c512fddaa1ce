"""A loaded causal LM: tokenizer, base weights, LoRA adapter, device, lock.

One copy of the base weights serves the policy (adapter on) and the reference model
(`ModelSession.reference()`): the adapter off, as in TRL's PPO, or, for a run that starts
from a trained adapter, a frozen copy of that adapter on the same backbone. Jobs that use the model
(generation, training, scoring) hold `session.lock` while they do.

Choices worth knowing:
- dtype "auto" is bfloat16 on a CUDA GPU that supports it, else float32. float16 on the
  CPU is refused with a ModelLoadError (many CPU kernels lack it and the rest are slow);
  we don't fall back silently, so the dtype a run reports is the dtype it used.
- A tokenizer without a pad token pads with EOS (the embeddings keep their size), so
  masks always come from lengths, never from `ids != pad_token_id`.
- Hub ids are downloaded when the network allows; offline, a clear ModelLoadError says so.
- quantize 4bit/8bit stores the frozen base with bitsandbytes (core/model/quantize.py); dtype is
  then the compute dtype of its layers, and everything it leaves unquantised is float32.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import torch
from peft import PeftModel
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from core.config import DEMO_MODEL, ModelSpec
from core.config.ppo import REFERENCE_CHOICES
from core.data.prompt_format import check_prompt_format, has_chat_template
from core.errors import ModelLoadError
from core.judge.cache import DEMO_JUDGE
from core.model.backbone import base_model
from core.model.loading import (
    check_config_dict,
    check_local_folder,
    load_config,
    load_tokenizer,
    load_weights,
    locate,
    read_config_dict,
)
from core.model.lora import (
    attach_lora,
    copy_adapter_as_reference,
    drop_reference_adapter,
    has_reference_adapter,
    has_trained_weights,
    load_adapter_weights,
    lora_targets,
    reference_active,
    save_adapter_folder,
)
from core.model.quantize import (
    check_quantize_device,
    is_quantized,
    logical_numel,
    prepare_quantized,
    quantized_load_kwargs,
)
from core.progress import Progress, no_progress

if TYPE_CHECKING:
    from transformers import PretrainedConfig

__all__ = [
    "MemoryInfo",
    "ModelSession",
    "ParamCounts",
    "describe",
    "lora_targets",
    "pick_device",
    "pick_dtype",
    "release_memory",
    "resolve_model_path",
]

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


@dataclass(frozen=True)
class ParamCounts:
    """Parameter counts of a session's model (LoRA weights included in the total)."""

    total: int
    trainable: int


@dataclass(frozen=True)
class MemoryInfo:
    """Memory in use: tensors on the accelerator, and the whole process's resident set."""

    device: str
    device_used_bytes: int | None
    """Bytes PyTorch has allocated on the device (None on the CPU)."""
    device_free_bytes: int | None
    """Free device memory as the driver reports it (None where unknown)."""
    process_rss_bytes: int


def resolve_model_path(name_or_path: str, progress: Progress | None = None) -> str:
    """'demo' / 'demo-judge' -> the built-in model's folder (built on first use); anything
    else unchanged."""
    if name_or_path == DEMO_JUDGE:
        from core.judge import ensure_demo_judge  # lazy: building it pulls in the trainer

        return str(ensure_demo_judge(progress))
    if name_or_path != DEMO_MODEL:
        return name_or_path
    try:
        from core.demo import ensure_demo_model  # lazy: building it pulls in the trainer
    except ImportError as error:
        raise ModelLoadError(
            "The built-in demo model is not available in this installation; pass a model "
            "folder or a hub id instead."
        ) from error
    return str(ensure_demo_model(progress))


def pick_device(request: str) -> torch.device:
    """auto | cpu | cuda[:N] | mps -> a torch.device, or a ModelLoadError if unavailable."""
    text = (request or "auto").strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        if not torch.backends.mps.is_available():
            raise ModelLoadError(
                "Device 'mps' (Apple GPU) is not available on this machine; choose 'cpu' or 'auto'."
            )
        return torch.device("mps")
    if text == "cuda" or text.startswith("cuda:"):
        return _cuda_device(text)
    raise ModelLoadError(f"Unknown device '{request}'; choose auto, cpu, cuda or mps.")


def _cuda_device(text: str) -> torch.device:
    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise ModelLoadError(
            f"Device '{text}' was asked for but PyTorch sees no CUDA GPU (this PyTorch is "
            f"{build}). Choose 'cpu' or 'auto', or install a CUDA build of PyTorch."
        )
    try:
        device = torch.device(text)
    except RuntimeError as error:
        raise ModelLoadError(f"Bad device name '{text}'; use 'cuda' or 'cuda:N'.") from error
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise ModelLoadError(
            f"Device '{text}' does not exist: this machine has {count} CUDA GPU(s), "
            f"numbered 0 to {count - 1}."
        )
    return device


def pick_dtype(request: str, device: torch.device | str) -> torch.dtype:
    """auto | float32 | bfloat16 | float16 -> a torch.dtype that works on `device`."""
    device = torch.device(device)
    text = (request or "auto").strip().lower()
    if text == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if text not in _DTYPES:
        raise ModelLoadError(
            f"Unknown dtype '{request}'; choose auto, float32, bfloat16 or float16."
        )
    dtype = _DTYPES[text]
    if dtype == torch.float16 and device.type == "cpu":
        raise ModelLoadError(
            "float16 is not supported on the CPU (many CPU kernels lack it and the rest are "
            "slow). Choose float32 (or bfloat16) for the CPU, or use float16 on a GPU."
        )
    if dtype == torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ModelLoadError(
            "This GPU does not support bfloat16; choose float16 or float32 (or dtype 'auto')."
        )
    return dtype


def release_memory(generation: int = 2) -> None:
    """Collect garbage (up to `generation`) and hand cached accelerator memory back to the
    driver."""
    gc.collect(generation)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if torch.backends.mps.is_available():
        torch.mps.empty_cache()


class ModelSession:
    """A tokenizer and a causal LM (with its LoRA adapter) on one device, shared by jobs."""

    def __init__(
        self,
        spec: ModelSpec,
        tokenizer: PreTrainedTokenizerBase,
        model: PreTrainedModel | PeftModel,
        device: torch.device,
        dtype: torch.dtype,
        name: str,
    ) -> None:
        self.spec = spec
        self.tokenizer = tokenizer
        self.model = model
        self.device = device
        self.dtype = dtype
        self.name = name
        self.prompt_format = spec.prompt_format
        self.lock = threading.RLock()
        self._counted: tuple[torch.nn.Module, ParamCounts] | None = None
        config = base_model(model).config
        self.architecture: str = config.model_type
        text_config = config.get_text_config()
        self.hidden_size: int = int(getattr(text_config, "hidden_size", 0) or 0)

    @property
    def has_adapter(self) -> bool:
        """Whether the model carries a (LoRA) adapter that reference() can switch off."""
        return isinstance(self.model, PeftModel)

    @classmethod
    def load(
        cls,
        spec: ModelSpec,
        progress: Progress | None = None,
        tokenizer: PreTrainedTokenizerBase | None = None,
    ) -> ModelSession:
        """Load `spec`'s model; every failure a user can cause is a ModelLoadError.

        `tokenizer`: that of a session on the same model (a reload with a fresh adapter),
        reused: reading a 150k-token tokenizer.json is one JSON parse that holds the GIL for
        0.2-0.4 s, freezing every other thread (the GUI's included)."""
        report = progress or no_progress
        steps = 5
        report(0, steps, "Locating the model")
        device = pick_device(spec.device)
        dtype = pick_dtype(spec.dtype, device)
        if is_quantized(spec.quantize):
            check_quantize_device(spec.quantize, device)
        source, is_local = locate(resolve_model_path(spec.name_or_path, progress))
        if is_local:
            check_local_folder(Path(source))
        report(1, steps, "Reading the configuration")
        check_config_dict(read_config_dict(source, is_local), source, spec.trust_remote_code)
        config = load_config(source, is_local, spec.trust_remote_code)
        report(2, steps, "Loading the tokenizer")
        if tokenizer is None:
            tokenizer = load_tokenizer(source, is_local, spec.trust_remote_code)
        check_prompt_format(tokenizer, spec.prompt_format, spec.name_or_path)
        report(3, steps, "Loading the weights")
        base = _load_base(spec, source, is_local, config, device, dtype)
        _check_vocabulary(tokenizer, base, source)
        model: PreTrainedModel | PeftModel = base
        report(4, steps, "Attaching the adapter")
        if spec.adapter_path:
            model = load_adapter_weights(model, spec.adapter_path)
        elif spec.lora is not None:
            model = attach_lora(model, spec.lora)
        # Eval mode (dropout off) after PEFT, whose new modules start in train mode: RL
        # needs the log-probs the sampler saw. Trainers switch modes as they need.
        model.eval()
        report(steps, steps, "Model ready")
        return cls(spec, tokenizer, model, device, dtype, _display_name(spec, source, is_local))

    @contextmanager
    def reference(self) -> Iterator[torch.nn.Module]:
        """The reference policy inside the block: the frozen start adapter when
        set_reference('start') kept one, else the base (adapter disabled); a no-op for bare
        models."""
        if has_reference_adapter(self.model):
            with reference_active(self.model):
                yield self.model
        elif isinstance(self.model, PeftModel):
            with self.model.disable_adapter():
                yield self.model
        else:
            yield self.model

    @contextmanager
    def base(self) -> Iterator[torch.nn.Module]:
        """The base model with every adapter off inside the block (what 'Base' compares)."""
        if isinstance(self.model, PeftModel):
            with self.model.disable_adapter():
                yield self.model
        else:
            yield self.model

    def set_reference(self, mode: str) -> str:
        """Choose what reference() runs: 'start' keeps a frozen copy of the adapter as it
        is now (the policy a run starts from, e.g. an SFT adapter), 'base' the adapter-off
        base. Returns the reference in effect: 'base' when the adapter is still fresh
        (lora_B = 0, so the start is the base) or the model has none."""
        if mode not in REFERENCE_CHOICES:
            raise ValueError(f"reference is {mode!r}; use one of {', '.join(REFERENCE_CHOICES)}.")
        with self.lock:
            model = self._loaded_model()
            if mode == "start" and has_trained_weights(model):
                copy_adapter_as_reference(model)
                return "start"
            drop_reference_adapter(model)
            return "base"

    @property
    def reference_kind(self) -> str:
        """'start' while reference() runs a kept start adapter, else 'base'."""
        return "start" if has_reference_adapter(self.model) else "base"

    def param_counts(self) -> ParamCounts:
        """Total and trainable parameters (shared/tied tensors counted once)."""
        model = self.model
        if model is None:
            return ParamCounts(total=0, trainable=0)
        # Counted once per model object: walking a 0.5B model's modules takes ~0.1 s with
        # the GIL held, and the GUI describes the session on its own thread at every change.
        if self._counted is not None and self._counted[0] is model:
            return self._counted[1]
        params = list(model.parameters())
        counts = ParamCounts(
            total=sum(logical_numel(p) for p in params),
            trainable=sum(p.numel() for p in params if p.requires_grad),
        )
        self._counted = (model, counts)
        return counts

    def memory(self) -> MemoryInfo:
        """Device and process memory now."""
        rss = psutil.Process().memory_info().rss
        used = free = None
        if self.device.type == "cuda":
            free, _total = torch.cuda.mem_get_info(self.device)
            used = torch.cuda.memory_allocated(self.device)
        elif self.device.type == "mps":
            used = torch.mps.current_allocated_memory()
        return MemoryInfo(str(self.device), used, free, rss)

    def save_adapter(self, folder: Path, state: dict[str, torch.Tensor] | None = None) -> None:
        """Save the adapter as a PEFT folder (adapter_config.json + adapter_model.safetensors);
        `state` gives its weights where the model holds only shards of them (FSDP)."""
        with self.lock:
            save_adapter_folder(self._loaded_model(), folder, state)

    def load_adapter(self, folder: Path) -> None:
        """Replace the adapter with the one saved in a PEFT folder."""
        with self.lock:
            model = self._loaded_model()
            _refuse_sharded(model)
            was_training = model.training
            self.model = load_adapter_weights(model, folder)
            self._counted = None  # the adapter may differ in rank
            self.model.train(was_training)  # new LoRA modules must not bring dropout back

    def unload(self) -> None:
        """Drop the model and free its memory; the session is unusable afterwards."""
        with self.lock:
            # `model` is typed for a usable session: unloading ends the session's life, and
            # only `is None` checks read the attribute afterwards.
            model, self.model, self._counted = self.model, None, None  # type: ignore[assignment]
            _drop_in_pieces(model)
            del model
            # The tensors are freed already; the module shells left in cycles are small and
            # go with a later collection. A full one now would walk every object alive with
            # the GIL held (60 ms+), and even the middle generation holds the new model's
            # modules just after a reload (0.2 s measured).
            release_memory(generation=0)

    def adapter_model(self) -> PeftModel:
        """The model as the PeftModel it is when has_adapter (trainers check that first)."""
        model = self._loaded_model()
        if not isinstance(model, PeftModel):
            raise ModelLoadError("The model has no LoRA adapter; load it with LoRA enabled.")
        return model

    def _loaded_model(self) -> PreTrainedModel | PeftModel:
        if self.model is None:
            raise ModelLoadError("The model was unloaded; load it again first.")
        return self.model


def _drop_in_pieces(model: torch.nn.Module | None) -> None:
    """Free `model`'s tensors one module at a time rather than in one cascade.

    Dropping the last reference to a whole model frees every tensor inside one C call,
    with the GIL held throughout: 0.2 s for a 0.5B model on 2 cores, during which no other
    thread (the GUI's included) runs Python. Emptying each module's own tensors in a
    Python loop gives the interpreter a switch point between modules."""
    if model is None:
        return
    for module in list(model.modules()):
        module._parameters.clear()
        module._buffers.clear()


def _refuse_sharded(model: torch.nn.Module) -> None:
    from core.model.sharding import is_sharded

    if is_sharded(model):
        raise ModelLoadError(
            "This model is sharded (FSDP) by a trainer; load the adapter into a freshly "
            "loaded model (resume builds the trainer after loading it)."
        )


def describe(session: ModelSession) -> dict[str, Any]:
    """Plain data about a session for the GUI's model page and the CLI."""
    counts = session.param_counts()
    return {
        "name": session.name,
        "source": session.spec.name_or_path,
        "architecture": session.architecture,
        "params": counts.total,
        "trainable": counts.trainable,
        "device": str(session.device),
        "dtype": str(session.dtype).removeprefix("torch."),
        "quantize": session.spec.quantize,
        "hidden_size": session.hidden_size,
        "vocab_size": len(session.tokenizer),
        "has_adapter": session.has_adapter,
        "prompt_format": session.prompt_format,
        "has_chat_template": has_chat_template(session.tokenizer),
        "adapter_path": session.spec.adapter_path,
        "memory": asdict(session.memory()),
        "shape": _shape_dict(session),
    }


def _shape_dict(session: ModelSession) -> dict[str, Any] | None:
    """The model's shape for the memory planner (core.model.shapes), None if unknown."""
    from core.model.shapes import ShapeError, shape_from_config

    if session.model is None:
        return None
    try:
        return asdict(shape_from_config(base_model(session.model).config.to_dict()))
    except ShapeError:
        return None


def _display_name(spec: ModelSpec, source: str, is_local: bool) -> str:
    if spec.name_or_path in (DEMO_MODEL, DEMO_JUDGE):
        return spec.name_or_path
    return Path(source).resolve().name if is_local else source


def _check_vocabulary(
    tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel, source: str
) -> None:
    """Token ids past the embedding table would crash mid-generation; refuse them up front."""
    embeddings = model.get_input_embeddings()
    rows = getattr(embeddings, "num_embeddings", None)
    if rows is not None and len(tokenizer) > rows:
        raise ModelLoadError(
            f"The tokenizer of {source} has {len(tokenizer)} tokens but the model's embedding "
            f"table only {rows} rows: tokenizer and weights don't belong together. Save them "
            "from the same model."
        )


def _load_base(
    spec: ModelSpec,
    source: str,
    is_local: bool,
    config: PretrainedConfig,
    device: torch.device,
    dtype: torch.dtype,
) -> PreTrainedModel:
    """The base weights on `device`: in `dtype`, or quantised by bitsandbytes (frozen,
    the rest float32, `dtype` the compute dtype) and prepared for LoRA."""
    if not is_quantized(spec.quantize):
        model = load_weights(source, is_local, config, dtype, spec.trust_remote_code)
        return _to_device(model, device, dtype)
    kwargs = quantized_load_kwargs(spec.quantize, device, dtype)
    model = load_weights(source, is_local, config, dtype, spec.trust_remote_code, kwargs)
    return prepare_quantized(model)


def _to_device(model: PreTrainedModel, device: torch.device, dtype: torch.dtype) -> PreTrainedModel:
    if device.type == "cpu":
        return model
    try:
        # transformers wraps PreTrainedModel.to, and its stub lost Module.to's signature.
        return model.to(device)  # type: ignore[arg-type]
    except torch.OutOfMemoryError as error:
        del model
        release_memory()
        name = str(dtype).removeprefix("torch.")
        raise ModelLoadError(
            f"Not enough memory on {device} for this model in {name}. Choose a smaller model, "
            "a 16-bit dtype, or device 'cpu'."
        ) from error
