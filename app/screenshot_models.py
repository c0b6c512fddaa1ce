"""A stand-in Hugging Face cache for the screenshot tour, so that the Model page's "Models on
this machine" shows rows (size, dtype, memory verdict) on a machine with no hub cache.

Two tiny causal LMs with random weights, one GPT-2-shaped (float32) and one Qwen2-shaped
(bfloat16), are built with transformers from their configs (nothing is downloaded) and laid
out as huggingface_hub lays out its cache (core/model/local.py reads that layout): blobs,
snapshot links into them, refs/main naming the revision.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TOUR_MODELS = ("studio-tour/tiny-gpt2", "studio-tour/tiny-qwen2")
"""The cache's repo ids, as the Model page lists them."""
REVISION = "0" * 40
"""The snapshot's name (a commit hash in a real cache)."""
TOKENIZER_TEXTS = [
    "The food was great and the staff were friendly.",
    "The movie was slow, but the ending was worth it.",
    "This toaster is loud and the crumbs go everywhere.",
]


def _configs(vocab_size: int) -> dict[str, object]:
    """{repo id: config}; small enough to build in a second, large enough to list in MiB."""
    from transformers import GPT2Config, Qwen2Config

    gpt2 = GPT2Config(vocab_size=vocab_size, n_layer=4, n_head=4, n_embd=256, n_positions=256)
    qwen2 = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=256,
        intermediate_size=704,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
    )
    return dict(zip(TOUR_MODELS, (gpt2, qwen2), strict=True))


def build_tour_hub_cache(cache: Path) -> list[Path]:
    """Fill `cache` with the tour's models; returns their snapshot folders."""
    import torch
    from transformers import AutoModelForCausalLM

    from core.demo.tokenizer import train_bpe_tokenizer

    tokenizer = train_bpe_tokenizer(TOKENIZER_TEXTS, vocab_size=512)
    snapshots = []
    with tempfile.TemporaryDirectory(prefix="tour-model-") as tmp:
        for repo_id, config in _configs(len(tokenizer)).items():
            torch.manual_seed(0)
            model = AutoModelForCausalLM.from_config(config)
            if "qwen" in repo_id:
                model = model.to(torch.bfloat16)  # the dtype column shows both kinds
            folder = Path(tmp) / repo_id.replace("/", "--")
            model.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
            snapshots.append(put_in_hub_cache(cache, repo_id, folder))
    return snapshots


def put_in_hub_cache(cache: Path, repo_id: str, folder: Path) -> Path:
    """Copy the files of `folder` into `cache` as huggingface_hub stores a download: each
    file a blob, linked from the snapshot folder. Returns the snapshot folder."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / REVISION
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(REVISION, encoding="utf-8")
    for file in sorted(folder.iterdir()):
        blob = repo / "blobs" / file.name
        shutil.copyfile(file, blob)
        os.symlink(os.path.relpath(blob, snapshot), snapshot / file.name)
    return snapshot


@contextmanager
def tour_hub_cache(root: Path) -> Iterator[Path]:
    """HF_HUB_CACHE pointed at a cache of the tour's models under `root` while the block
    runs (the Model page reads the variable at each refresh), then set back as it was."""
    cache = root / "hf-cache"
    build_tour_hub_cache(cache)
    before = os.environ.get("HF_HUB_CACHE")
    os.environ["HF_HUB_CACHE"] = str(cache)
    try:
        yield cache
    finally:
        if before is None:
            os.environ.pop("HF_HUB_CACHE", None)
        else:
            os.environ["HF_HUB_CACHE"] = before
