"""A Hugging Face tokenizer as GGUF metadata (the `tokenizer.ggml.*` keys llama.cpp reads).

Two kinds of fast tokenizer are written:
- byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM, the demo model): `tokenizer.ggml.model`
  'gpt2', the vocabulary and merges as tokenizer.json spells them, and a pre-tokenizer name
  that tells llama.cpp how the text is split before the merges;
- sentencepiece-style BPE (Llama 2, Mistral: a Metaspace pre-tokenizer): model 'llama',
  with a score per token (earlier ids merge first, as sentencepiece orders them) and the
  merges too, so readers that rebuild merges from the file agree.
Token types follow llama.cpp: normal, control (special added tokens such as EOS), user
defined (added tokens that are not special), byte (<0xNN> fallback pieces), unused
(padding rows of an embedding larger than the vocabulary).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.errors import StudioError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# llama.cpp's token types (gguf.TokenType), repeated here so the module imports without gguf.
NORMAL, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 3, 4, 5, 6

# Pre-tokenizer split patterns, recognised by the regex tokenizer.json carries; anything
# else byte-level is split as GPT-2 splits ('gpt-2').
_LLAMA3_MARK = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
_QWEN2_MARK = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"


@dataclass
class GGUFVocab:
    """What `tokenizer.ggml.*` records."""

    model: str  # 'gpt2' (byte-level BPE) or 'llama' (sentencepiece-style)
    pre: str
    tokens: list[str]
    types: list[int]
    merges: list[str]
    scores: list[float] | None = None
    special_ids: dict[str, int] = field(default_factory=dict)
    add_bos: bool = False
    chat_template: str | None = None


def vocab_of(tokenizer: PreTrainedTokenizerBase, vocab_size: int, architecture: str) -> GGUFVocab:
    """The GGUF description of `tokenizer` for a model whose embedding has `vocab_size` rows."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise StudioError(
            "GGUF export needs a fast tokenizer (tokenizer.json); this model has only a slow "
            "one. Save the tokenizer as a fast one first."
        )
    data = json.loads(backend.to_str())
    model = data.get("model") or {}
    if model.get("type") != "BPE":
        raise StudioError(
            f"GGUF export writes BPE tokenizers; this one is {model.get('type')}. Convert the "
            "model with llama.cpp's own converter instead."
        )
    byte_level = "ByteLevel" in json.dumps(data.get("pre_tokenizer")) or "ByteLevel" in json.dumps(
        data.get("decoder")
    )
    tokens, types = _tokens_and_types(tokenizer, model["vocab"], vocab_size)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    vocab = GGUFVocab(
        model="gpt2" if byte_level else "llama",
        pre=_pre_tokenizer(data, architecture) if byte_level else "default",
        tokens=tokens,
        types=types,
        merges=merges,
        scores=None if byte_level else [-float(i) for i in range(len(tokens))],
        special_ids=_special_ids(tokenizer),
        add_bos=_adds_bos(tokenizer),
        chat_template=getattr(tokenizer, "chat_template", None) or None,
    )
    if not byte_level:
        vocab.types = [
            BYTE if re.fullmatch(r"<0x[0-9A-Fa-f]{2}>", t) and k == NORMAL else k
            for t, k in zip(vocab.tokens, vocab.types, strict=True)
        ]
    return vocab


def _tokens_and_types(
    tokenizer: PreTrainedTokenizerBase, base_vocab: dict[str, int], vocab_size: int
) -> tuple[list[str], list[int]]:
    """Tokens in id order with their types, padded to the embedding's rows."""
    by_id: dict[int, tuple[str, int]] = {i: (t, NORMAL) for t, i in base_vocab.items()}
    for token_id, added in tokenizer.added_tokens_decoder.items():
        by_id[int(token_id)] = (added.content, CONTROL if added.special else USER_DEFINED)
    size = max(vocab_size, max(by_id) + 1)
    tokens, types = [], []
    for i in range(size):
        token, kind = by_id.get(i, (f"[PAD{i}]", UNUSED))
        tokens.append(token)
        types.append(kind)
    return tokens, types


def _pre_tokenizer(data: dict[str, Any], architecture: str) -> str:
    """llama.cpp's name for how byte-level text is split before the merges."""
    text = json.dumps(data.get("pre_tokenizer"))
    if _QWEN2_MARK.replace("\\", "\\\\") in text:
        return "qwen2"
    if _LLAMA3_MARK.replace("\\", "\\\\") in text:
        return "llama-bpe"
    return "qwen2" if architecture == "qwen2" and '"Split"' in text else "gpt-2"


def _special_ids(tokenizer: PreTrainedTokenizerBase) -> dict[str, int]:
    ids = {}
    for name in ("bos", "eos", "pad", "unk"):
        token_id = getattr(tokenizer, f"{name}_token_id", None)
        if isinstance(token_id, int):
            ids[name] = token_id
    return ids


def _adds_bos(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether encoding plain text puts BOS first (llama.cpp must do the same)."""
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:
        return False
    ids = tokenizer("a")["input_ids"]
    return bool(ids) and ids[0] == bos


def write_vocab(writer: Any, vocab: GGUFVocab) -> None:
    """Add `vocab`'s keys to a gguf.GGUFWriter."""
    writer.add_tokenizer_model(vocab.model)
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    if vocab.scores is not None:
        writer.add_token_scores(vocab.scores)
    if vocab.merges:
        writer.add_token_merges(vocab.merges)
    adders = {
        "bos": writer.add_bos_token_id,
        "eos": writer.add_eos_token_id,
        "pad": writer.add_pad_token_id,
        "unk": writer.add_unk_token_id,
    }
    for name, token_id in vocab.special_ids.items():
        adders[name](token_id)
    writer.add_add_bos_token(vocab.add_bos)
    if vocab.chat_template:
        writer.add_chat_template(vocab.chat_template)
