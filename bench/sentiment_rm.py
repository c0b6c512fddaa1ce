"""The benchmark's reward model: the policy's own backbone with a linear head fitted to VADER.

TRL's PPO scores token ids with a sequence-classification model, so both trainers get the
same one: `AutoModelForSequenceClassification(num_labels=1)` over the policy's weights and
tokenizer, whose `score` head is a ridge regression (closed form, a second of CPU) from the
backbone's last hidden state to the VADER compound sentiment of demo-corpus review
prefixes. The reward is then meaningful ("write positive reviews", the demo's task) and
identical for both sides. The head reads the last real token; TRL reads it at the EOS a
finished response keeps and we at the last text token, so every prefix is fitted both
with and without a trailing EOS.

The folder is built once per policy model and cached.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path

import torch
from torch import Tensor
from transformers import AutoModelForSequenceClassification, AutoTokenizer

RM_VERSION = 1
"""Bump when the recipe changes, so cached folders are rebuilt."""
INFO_FILE = "bench_rm.json"


def sentiment_rm(model_dir: Path, cache_dir: Path, n_texts: int = 1200) -> Path:
    """The cached reward-model folder for `model_dir`, built on first use."""
    folder = Path(cache_dir) / f"sentiment-rm-{_cache_key(Path(model_dir), n_texts)}"
    if (folder / INFO_FILE).is_file():
        return folder
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    build_sentiment_rm(Path(model_dir), partial, n_texts)
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder


def build_sentiment_rm(model_dir: Path, out: Path, n_texts: int = 1200, seed: int = 0) -> dict:
    """Fit the head, save the classifier with the policy's tokenizer to `out`; returns the info."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from core.demo.corpus import generate_reviews

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, num_labels=1, dtype=torch.float32
    )
    model.config.pad_token_id = tokenizer.pad_token_id  # batches need it to find the last token
    model.eval()

    rng = random.Random(seed)
    prefixes = [_prefix(tokenizer, text, rng) for text in generate_reviews(n_texts, seed=seed + 7)]
    analyzer = SentimentIntensityAnalyzer()
    labels = [analyzer.polarity_scores(tokenizer.decode(ids))["compound"] for ids in prefixes]
    eos = tokenizer.eos_token_id
    rows = prefixes + [ids + [eos] for ids in prefixes]  # readout without and with EOS
    features = _last_hidden(model, rows, tokenizer.pad_token_id)  # (2N, H)
    targets = torch.tensor(labels + labels, dtype=torch.float64)  # (2N,)

    split = int(0.8 * len(prefixes))
    train = torch.tensor([i for i in range(len(rows)) if i % len(prefixes) < split])
    held = torch.tensor([i for i in range(len(rows)) if i % len(prefixes) >= split])
    weight = _ridge(features[train], targets[train])  # (H,)
    info = {
        "version": RM_VERSION,
        "policy": str(model_dir),
        "texts": len(prefixes),
        "train_r2": _r2(features[train] @ weight, targets[train]),
        "heldout_r2": _r2(features[held] @ weight, targets[held]),
    }
    with torch.no_grad():
        model.score.weight.copy_(weight.to(model.score.weight.dtype)[None, :])  # (1, H)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def _prefix(tokenizer, text: str, rng: random.Random) -> list[int]:
    """The first 3-40 tokens of a review: what a prompt plus a short response looks like."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return ids[: rng.randint(3, max(3, min(len(ids), 40)))]


@torch.no_grad()
def _last_hidden(model, rows: list[list[int]], pad_id: int, batch: int = 64) -> Tensor:
    """Final hidden state at each row's last token (what the `score` head reads): (N, H)."""
    backbone = getattr(model, model.base_model_prefix)
    out = []
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        width = max(len(ids) for ids in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for i, row in enumerate(chunk):  # right padding: positions 0..n-1 as when scoring
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        hidden = backbone(input_ids=ids, attention_mask=mask).last_hidden_state  # (b, T, H)
        last = mask.sum(dim=1) - 1  # (b,)
        out.append(hidden[torch.arange(len(chunk)), last].double())
    return torch.cat(out)


def _ridge(features: Tensor, targets: Tensor, strength: float = 1e-3) -> Tensor:
    """argmin |Xw - y|^2 + strength * mean(diag(X'X)) * |w|^2 (no intercept: `score` has no bias)."""
    gram = features.T @ features  # (H, H)
    penalty = strength * gram.diagonal().mean() * torch.eye(gram.shape[0], dtype=gram.dtype)
    return torch.linalg.solve(gram + penalty, features.T @ targets)


def _r2(predicted: Tensor, targets: Tensor) -> float:
    residual = ((targets - predicted) ** 2).sum()
    total = ((targets - targets.mean()) ** 2).sum().clamp(min=1e-12)
    return round(float(1 - residual / total), 4)


def _cache_key(model_dir: Path, n_texts: int) -> str:
    """Changes with the recipe, the model folder and its weights."""
    parts = [str(RM_VERSION), str(n_texts), str(model_dir.resolve())]
    for path in sorted(model_dir.glob("*")):
        if path.is_file():
            stat = path.stat()
            parts.append(f"{path.name}:{stat.st_size}:{int(stat.st_mtime)}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]
