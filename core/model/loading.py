"""Checks and loaders behind ModelSession.load: every way a folder or hub id can fail to
be a usable causal LM becomes a ModelLoadError that says what is wrong and what to do.

Local folders are checked before transformers sees them (its own errors for an empty
folder or missing tokenizer files are confusing, or it silently builds an empty tokenizer).
Custom model code never runs unless the user asked for it (trust_remote_code).
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path
from typing import Any, cast

import torch
from safetensors import SafetensorError
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

from core.errors import ModelLoadError, pickle_refusal
from core.model.backbone import contiguous_output_layer_input

# huggingface_hub >= 0.35 checks config fields' types (older ones raise TypeError).
_CONFIG_TYPE_ERRORS: tuple[type[Exception], ...] = (TypeError,)
try:
    from huggingface_hub.errors import StrictDataclassError

    _CONFIG_TYPE_ERRORS += (StrictDataclassError,)
except ImportError:  # pragma: no cover - older huggingface_hub
    pass

WEIGHT_SUFFIXES = (".safetensors", ".bin")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tekken.json",
)
# Heads that make a checkpoint something other than a text generator.
_NON_CAUSAL_HEADS = {
    "ForTokenClassification": "a token-classification model",
    "ForQuestionAnswering": "a question-answering model",
    "ForMaskedLM": "a masked language model (BERT-style), which cannot generate text",
    "ForConditionalGeneration": "an encoder-decoder or multimodal model",
    "ForMultipleChoice": "a multiple-choice model",
}
_LOAD_ERRORS = (OSError, ValueError, RuntimeError, KeyError, EOFError, SafetensorError)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[A-Za-z0-9][\w.\-]*)?$")


def is_hub_id(text: str) -> bool:
    """Whether `text` could name a Hugging Face Hub repository ("gpt2", "org/name")."""
    return bool(_HUB_ID.match(text)) and ".." not in text and "--" not in text and len(text) <= 96


def locate(name_or_path: str) -> tuple[str, bool]:
    """(source, is_local): an existing local path, or a plausible hub id to download."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return str(path), True
    if is_hub_id(name_or_path):
        return name_or_path, False
    raise ModelLoadError(
        f"Model folder {path} does not exist. Pass an existing model folder, a Hugging Face "
        "hub id such as 'gpt2' (needs network), or 'demo' for the built-in model."
    )


def check_local_folder(path: Path) -> None:
    """Raise a ModelLoadError unless `path` looks like a complete HF causal-LM folder."""
    if not path.is_dir():
        raise ModelLoadError(
            f"{path} is a file, not a model folder. Pass the folder that holds it."
        )
    names = {child.name for child in path.iterdir()}
    if not names:
        raise ModelLoadError(
            f"Model folder {path} is empty. Point at a folder saved with save_pretrained "
            "(config.json, weights, tokenizer files)."
        )
    if "config.json" not in names:
        if "adapter_config.json" in names:
            raise ModelLoadError(
                f"{path} is a LoRA adapter folder, not a model. Load its base model and pass this "
                "folder as the adapter (ModelSpec.adapter_path, CLI --adapter)."
            )
        raise ModelLoadError(
            f"{path} has no config.json, so it is not a Hugging Face model folder. Point at the "
            "folder saved with save_pretrained."
        )
    if not any(name.endswith(WEIGHT_SUFFIXES) for name in names):
        raise ModelLoadError(
            f"{path} has config.json but no weights (model.safetensors or pytorch_model.bin). "
            "Copy the weight files into it or download the model again."
        )
    if not names.intersection(TOKENIZER_FILES):
        raise ModelLoadError(
            f"{path} has no tokenizer files (one of {', '.join(TOKENIZER_FILES)}). Save the "
            "tokenizer into the folder too (tokenizer.save_pretrained(folder))."
        )


def hub_error(name: str, error: BaseException) -> ModelLoadError:
    """A ModelLoadError for a failed hub look-up or download, with the likely cause."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(chain) < 8:
        chain.append(current)
        current = current.__cause__ or current.__context__
    kinds = {type(e).__name__ for e in chain}
    text = " ".join(str(e) for e in chain).lower()
    if "GatedRepoError" in kinds or "gated" in text:
        return ModelLoadError(
            f"'{name}' is a gated model on the Hugging Face Hub. Accept its licence on the hub "
            "and log in (hf auth login), or use a local folder or 'demo'."
        )
    if "RepositoryNotFoundError" in kinds or "not a valid model identifier" in text:
        return ModelLoadError(
            f"'{name}' is neither a local folder nor a model on the Hugging Face Hub. Check the "
            "spelling, or use a local folder or 'demo'."
        )
    offline_signs = ("connect", "offline", "outgoing traffic has been disabled", "network")
    if "LocalEntryNotFoundError" in kinds or any(sign in text for sign in offline_signs):
        return ModelLoadError(
            f"Could not download '{name}': no network, it is not in the local Hugging Face "
            "cache, and there is no local folder of that name; use a local folder or 'demo'."
        )
    return ModelLoadError(
        f"Could not download '{name}' from the Hugging Face Hub: {first_line(error)}. "
        "Use a local folder or 'demo'."
    )


def read_config_dict(source: str, is_local: bool) -> dict[str, Any]:
    """config.json as a dict, without running any model code."""
    if is_local:
        config_path = Path(source) / "config.json"
        try:
            data = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ModelLoadError(
                f"Cannot read {config_path}: {error}. The file is damaged; download or save the "
                "model again."
            ) from error
        if not isinstance(data, dict):
            raise ModelLoadError(f"{config_path} is not a JSON object; save the model again.")
        return data
    try:
        data, _ = PretrainedConfig.get_config_dict(source)
    except (OSError, ValueError) as error:
        raise hub_error(source, error) from error
    return data


def check_config_dict(data: dict[str, Any], source: str, trust_remote_code: bool) -> None:
    """Refuse configs that are not causal LMs, or that need custom code the user didn't trust."""
    model_type = data.get("model_type")
    if not model_type:
        raise ModelLoadError(
            f"config.json of {source} has no model_type, so transformers cannot tell what "
            "model it is. Save the model again with save_pretrained."
        )
    auto_map = data.get("auto_map") or {}
    built_in = model_type in CONFIG_MAPPING_NAMES
    # Custom code is needed when transformers has no class of its own for this model; a
    # built-in model type with an auto_map is loaded with the built-in (trusted) code.
    needs_code = bool(auto_map) and (
        not built_in
        or (
            model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
            and "AutoModelForCausalLM" in auto_map
        )
    )
    if needs_code and not trust_remote_code:
        raise ModelLoadError(
            f"{source} ships its own model code (config.json auto_map), which would run on this "
            "machine. If you trust its source, pass --trust-remote-code "
            "(ModelSpec.trust_remote_code=True); otherwise use another model."
        )
    if not built_in and not auto_map:
        raise ModelLoadError(
            f"Unknown model type '{model_type}' in {source}: this transformers version does not "
            "know it. Upgrade transformers, or use a supported model (GPT-2, Llama, Qwen, ...)."
        )
    _check_architectures(data.get("architectures") or [], source)
    if built_in and not needs_code and model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ModelLoadError(
            f"{source} is a '{model_type}' model, which has no causal language-model head in "
            "transformers (it cannot generate text left to right). Use a decoder-only model as "
            "the policy."
        )


def _check_architectures(architectures: list[str], source: str) -> None:
    for name in architectures:
        if name.endswith("ForSequenceClassification"):
            raise ModelLoadError(
                f"{source} ({name}) is a sequence-classification model (a reward model?); use it "
                f"with --reward rm=DIR, not as a policy."
            )
        for suffix, what in _NON_CAUSAL_HEADS.items():
            if name.endswith(suffix):
                raise ModelLoadError(
                    f"{source} ({name}) is {what}, not a causal language model. Use a "
                    "decoder-only model (…ForCausalLM / …LMHeadModel) as the policy."
                )


def load_config(source: str, is_local: bool, trust_remote_code: bool) -> PretrainedConfig:
    """The model's PretrainedConfig (config dict already checked)."""
    try:
        return AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    except _LOAD_ERRORS as error:
        if not is_local:
            raise hub_error(source, error) from error
        raise ModelLoadError(
            f"Cannot read the configuration of {source}: {first_line(error)}. Save the model "
            "again, or upgrade transformers if it is a new architecture."
        ) from error
    except _CONFIG_TYPE_ERRORS as error:  # a field of the wrong type
        raise ModelLoadError(
            f"{Path(source) / 'config.json' if is_local else source} has a setting of the wrong "
            f"type ({one_line(error)}); fix that value or save the model again."
        ) from error


def load_tokenizer(source: str, is_local: bool, trust_remote_code: bool) -> PreTrainedTokenizerBase:
    """The tokenizer with a pad token and left padding (generation appends on the right)."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (*_LOAD_ERRORS, TypeError, AttributeError, ImportError) as error:
        if "trust_remote_code" in str(error):
            raise ModelLoadError(
                f"The tokenizer of {source} ships its own code, which would run on this machine. "
                "If you trust its source, pass --trust-remote-code; otherwise use another model."
            ) from error
        if not is_local:
            raise hub_error(source, error) from error
        raise ModelLoadError(
            f"Cannot load the tokenizer of {source}: {first_line(error)}. Check its tokenizer "
            "files, or save the tokenizer into the folder again."
        ) from error
    if len(tokenizer) == 0:
        raise ModelLoadError(f"The tokenizer of {source} is empty; save the tokenizer again.")
    if tokenizer.pad_token_id is None:
        # Reuse EOS (or UNK) as padding rather than adding a token, which would resize the
        # embeddings. Padding is then told apart by masks built from lengths, never by id.
        fallback = tokenizer.eos_token or tokenizer.unk_token
        if fallback is None:
            raise ModelLoadError(
                f"The tokenizer of {source} has no pad, EOS or unknown token to pad with. Add a "
                "pad token to its tokenizer files."
            )
        tokenizer.pad_token = fallback
    tokenizer.padding_side = "left"
    tokenizer.truncation_side = "left"  # keep the end of a long prompt, next to the reply
    return tokenizer


def load_weights(
    source: str,
    is_local: bool,
    config: PretrainedConfig,
    dtype: torch.dtype,
    trust_remote_code: bool,
    quantized: dict[str, Any] | None = None,
) -> PreTrainedModel:
    """The causal LM in `dtype` on the CPU; corrupt or missing weights become ModelLoadError.

    `quantized` (core.model.quantize.quantized_load_kwargs) loads it through bitsandbytes
    instead, straight onto its device."""
    kwargs = quantized or {"dtype": dtype}
    try:
        loaded = AutoModelForCausalLM.from_pretrained(
            source,
            config=config,
            trust_remote_code=trust_remote_code,
            output_loading_info=True,
            **kwargs,
        )
        # output_loading_info=True returns (model, info); transformers' stubs omit that form.
        model, info = cast(tuple[PreTrainedModel, dict[str, Any]], loaded)
    except torch.OutOfMemoryError as error:
        how = "quantised" if quantized else f"in {str(dtype).removeprefix('torch.')}"
        raise ModelLoadError(
            f"Not enough memory for {source} {how}; choose a smaller model or --quantize 4bit."
        ) from error
    except pickle.UnpicklingError as error:  # a pytorch_model.bin with pickled objects
        raise ModelLoadError(f"{pickle_refusal(source)}.") from error
    except (*_LOAD_ERRORS, TypeError) as error:
        if not is_local:
            raise hub_error(source, error) from error
        raise ModelLoadError(
            f"Cannot build the model in {source}: {first_line(error).rstrip('.')}. Either "
            "config.json does not describe these weights (check its sizes) or the weight file "
            "is truncated or corrupt; download or save the model again."
        ) from error
    missing = sorted(info.get("missing_keys") or ())
    if missing:
        raise ModelLoadError(
            f"The weights in {source} lack {len(missing)} tensor(s) of a causal LM (e.g. "
            f"{missing[0]}): it is not a complete '{config.model_type}' language model. "
            "Use the folder of a full causal LM."
        )
    contiguous_output_layer_input(model)  # the log-prob passes' speed (core.model.backbone)
    return model


def one_line(error: BaseException) -> str:
    """An exception's whole message on one line (its lines joined), at most 300 characters."""
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return text[:300] or type(error).__name__


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (library messages can run for pages)."""
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else type(error).__name__
