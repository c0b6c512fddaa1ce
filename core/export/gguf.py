"""A merged model as one GGUF file, the format llama.cpp, Ollama and LM Studio run.

Written with the `gguf` package (the `gguf` extra), which llama.cpp itself maintains: its
GGUFWriter, tensor-name map and quantisers. What this module decides is the model side,
per architecture, as llama.cpp's loaders expect it:
- Llama (and Mistral, which llama.cpp runs as 'llama'): q_proj and k_proj rows are
  reordered from Hugging Face's rotary layout (two halves) to llama.cpp's (interleaved
  pairs), per head;
- Qwen2: written as it is (its rotary layout is the one llama.cpp's qwen2 uses);
- GPT-2: its Conv1D weights are stored (in, out) and are transposed to (out, in);
- Gemma 2: its RMSNorm scales by (1 + w), llama.cpp's by w, so the norms are written + 1,
  with the soft-capping and sliding-window settings.
Tied output embeddings are left out (llama.cpp and transformers both reuse token_embd),
except GPT-2's, written as `output.weight` too, as llama.cpp's converter does (older
llama.cpp builds, such as those inside Ollama releases, require it).
Types: F16 (default: every reader has it), BF16, Q8_0 (8-bit blocks of 32, about half F16's
size); one-dimensional tensors (norms, biases) stay F32, as llama.cpp's converter keeps them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import StudioError
from core.export.gguf_vocab import vocab_of, write_vocab

GGUF_TYPES = ("f16", "bf16", "q8_0")
"""Tensor types a GGUF export offers; f16 loads everywhere (transformers and llama.cpp)."""
DEFAULT_GGUF_TYPE = "f16"

GGUF_ARCHITECTURES = {
    "llama": "llama",
    "mistral": "llama",
    "qwen2": "qwen2",
    "gpt2": "gpt2",
    "gemma2": "gemma2",
}
"""Hugging Face model_type -> the GGUF architecture it is written as."""

_GPT2_TRANSPOSED = (".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight",
                    ".mlp.c_proj.weight")  # fmt: skip


def import_gguf() -> Any:
    """The gguf package, or a one-line StudioError saying how to install it."""
    try:
        import gguf
    except ImportError as error:
        raise StudioError(
            'GGUF export needs the gguf package: pip install "rlhf-studio[gguf]"'
        ) from error
    return gguf


def check_gguf_architecture(model_type: str) -> str:
    """The GGUF architecture for `model_type`, or a one-line StudioError naming the ones
    that can be written."""
    if model_type not in GGUF_ARCHITECTURES:
        known = ", ".join(sorted(GGUF_ARCHITECTURES))
        raise StudioError(
            f"GGUF export cannot write a '{model_type}' model (it writes {known}); export "
            "--format merged and convert it with llama.cpp's convert_hf_to_gguf.py"
        )
    return GGUF_ARCHITECTURES[model_type]


def check_gguf_type(kind: str) -> str:
    if kind not in GGUF_TYPES:
        raise StudioError(f"--gguf-type {kind} is unknown; use one of {', '.join(GGUF_TYPES)}")
    return kind


def write_gguf(model: Any, tokenizer: Any, path: Path, kind: str = DEFAULT_GGUF_TYPE) -> Path:
    """Write `model` (a plain transformers causal LM, no adapter) and its tokenizer to the
    GGUF file `path`, tensors in `kind` (f16, bf16 or q8_0)."""
    gguf = import_gguf()
    config = model.config
    arch = check_gguf_architecture(config.model_type)
    check_gguf_type(kind)
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name(str(getattr(config, "_name_or_path", "") or "model").rsplit("/", 1)[-1])
    writer.add_file_type(_file_type(gguf, kind))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    _write_hyperparameters(writer, config, arch)
    vocab_rows = model.get_input_embeddings().weight.shape[0]
    write_vocab(writer, vocab_of(tokenizer, vocab_rows, config.model_type))
    names = gguf.get_tensor_name_map(_model_arch(gguf, arch), _block_count(config))
    for hf_name, array in _tensors(model, config, arch):
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise StudioError(f"GGUF export: no GGUF name for tensor {hf_name}")
        data, raw_type = _encode(gguf, array, kind)
        writer.add_tensor(name, data, raw_dtype=raw_type)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    return path


def _model_arch(gguf: Any, arch: str) -> Any:
    return {"llama": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2,
            "gpt2": gguf.MODEL_ARCH.GPT2, "gemma2": gguf.MODEL_ARCH.GEMMA2}[arch]  # fmt: skip


def _file_type(gguf: Any, kind: str) -> int:
    types = gguf.LlamaFileType
    return {"f16": types.MOSTLY_F16, "bf16": types.MOSTLY_BF16, "q8_0": types.MOSTLY_Q8_0}[kind]


def _block_count(config: Any) -> int:
    return int(getattr(config, "num_hidden_layers", None) or config.n_layer)


def _rope_theta(config: Any) -> float:
    parameters = getattr(config, "rope_parameters", None) or {}
    theta = parameters.get("rope_theta") if isinstance(parameters, dict) else None
    return float(theta or getattr(config, "rope_theta", None) or 10000.0)


def _write_hyperparameters(writer: Any, config: Any, arch: str) -> None:
    """The shape of the network, under llama.cpp's keys."""
    if arch == "gpt2":
        writer.add_context_length(config.n_positions)
        writer.add_embedding_length(config.n_embd)
        writer.add_feed_forward_length(config.n_inner or 4 * config.n_embd)
        writer.add_block_count(config.n_layer)
        writer.add_head_count(config.n_head)
        writer.add_layer_norm_eps(config.layer_norm_epsilon)
        return
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_head_count(heads)
    writer.add_head_count_kv(getattr(config, "num_key_value_heads", None) or heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(_rope_theta(config))
    writer.add_vocab_size(config.vocab_size)
    if arch != "gemma2":
        writer.add_rope_dimension_count(head_dim)
        return
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_attn_logit_softcapping(config.attn_logit_softcapping or 0.0)
    writer.add_final_logit_softcapping(config.final_logit_softcapping or 0.0)
    writer.add_sliding_window(config.sliding_window)


def _tensors(model: Any, config: Any, arch: str) -> Iterator[tuple[str, np.ndarray]]:
    """(Hugging Face name, float32 array as llama.cpp wants it) for every weight written."""
    tied = bool(getattr(config, "tie_word_embeddings", False))
    fix = _LAYOUT_FIXES[arch]
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight" and tied and arch != "gpt2":
            continue  # the output layer is the token embedding
        if name.endswith((".attn.bias", ".attn.masked_bias", "rotary_emb.inv_freq")):
            continue  # buffers, not weights
        array = tensor.detach().to("cpu").float().numpy()
        yield name, fix(name, array, config)


def _llama_layout(name: str, array: np.ndarray, config: Any) -> np.ndarray:
    heads = config.num_attention_heads
    if name.endswith("q_proj.weight"):
        return _interleave_rotary(array, heads)
    if name.endswith("k_proj.weight"):
        return _interleave_rotary(array, getattr(config, "num_key_value_heads", None) or heads)
    return array


def _interleave_rotary(weight: np.ndarray, heads: int) -> np.ndarray:
    """Rows of each head from (half 0, half 1) to (pair 0, pair 1, ...): the rotary layout
    llama.cpp's 'llama' architecture computes with. weight: (heads * head_dim, hidden)."""
    rows = weight.shape[0]
    split = weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:])
    return split.swapaxes(1, 2).reshape(weight.shape)


def _gpt2_layout(name: str, array: np.ndarray, config: Any) -> np.ndarray:
    return np.ascontiguousarray(array.T) if name.endswith(_GPT2_TRANSPOSED) else array


def _gemma_layout(name: str, array: np.ndarray, config: Any) -> np.ndarray:
    return array + 1.0 if name.endswith("norm.weight") else array


_LAYOUT_FIXES: dict[str, Callable[[str, np.ndarray, Any], np.ndarray]] = {
    "llama": _llama_layout,
    "qwen2": lambda name, array, config: array,
    "gpt2": _gpt2_layout,
    "gemma2": _gemma_layout,
}


def _encode(gguf: Any, array: np.ndarray, kind: str) -> tuple[np.ndarray, Any]:
    """(data, raw GGML type or None) of one tensor: 1-D ones stay F32; Q8_0 needs rows of
    whole 32-value blocks, other rows fall back to F16."""
    types = gguf.GGMLQuantizationType
    if array.ndim < 2:
        return array.astype(np.float32), None
    if kind == "q8_0" and array.shape[-1] % 32 == 0:
        return gguf.quants.quantize(array, types.Q8_0), types.Q8_0
    if kind == "bf16":
        return gguf.quants.quantize(array, types.BF16), types.BF16
    return array.astype(np.float16), None
