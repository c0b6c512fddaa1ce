"""Build the demo model: corpus -> byte-level BPE -> a tiny GPT-2 trained from scratch.

Plain torch, nanoGPT style: AdamW with decoupled weight decay on matrices only, linear
warmup then cosine decay, documents packed whole into fixed-length rows. Everything is
seeded, so two builds with the same config give the same weights (on the same torch
build and thread schedule, which demo_model.json records). The default config builds in
about 110 s on two idle CPU cores, about 160 s on one.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from core.demo.cache import INFO_FILE
from core.demo.corpus import generate_reviews
from core.demo.threads import ThreadGovernor, available_cores
from core.demo.tokenizer import train_bpe_tokenizer
from core.progress import Progress, no_progress

IGNORE_INDEX = -100  # label value F.cross_entropy skips (padding)


@dataclass(frozen=True)
class DemoBuildConfig:
    """Everything that decides the demo model's weights."""

    n_reviews: int = 24_000
    """Synthetic reviews generated for training (each ends with EOS)."""
    n_eval_reviews: int = 400
    """Held-out reviews (another seed) for the final evaluation loss."""
    corpus_seed: int = 0
    """Seed of the review generator."""
    vocab_size: int = 2048
    """BPE vocabulary upper bound (the corpus may saturate below it)."""
    n_layer: int = 4
    """Transformer blocks."""
    n_embd: int = 128
    """Hidden size."""
    n_head: int = 4
    """Attention heads."""
    n_positions: int = 128
    """Context length; also the length of a packed training row."""
    batch_size: int = 16
    """Packed rows per optimiser step."""
    steps: int = 400
    """Optimiser steps (about 0.45 s of one core each)."""
    learning_rate: float = 5e-3
    """Peak learning rate (tiny models take a high one; 3e-3 and 8e-3 did worse at 400 steps)."""
    warmup_steps: int = 30
    """Linear warmup steps before the cosine decay."""
    min_lr_ratio: float = 0.1
    """Final learning rate as a fraction of the peak."""
    weight_decay: float = 0.01
    """AdamW decoupled weight decay, on weight matrices only."""
    seed: int = 0
    """Seed of weight init and batch order."""
    num_threads: int | None = None
    """Torch CPU threads; None = all cores while they beat one thread (see threads.py)."""


@dataclass(frozen=True)
class BuildReport:
    """What a build did; saved as demo_model.json beside the weights."""

    corpus_size: int
    corpus_tokens: int
    vocab_size: int
    parameters: int
    steps: int
    tokens_seen: int
    final_train_loss: float
    eval_loss: float
    build_seconds: float
    thread_schedule: list[tuple[int, int]]  # (first step, threads) at each change
    config: dict


def build_demo_model(
    folder: Path, config: DemoBuildConfig | None = None, progress: Progress | None = None
) -> BuildReport:
    """Generate the corpus, train tokenizer and model, and save an HF folder at `folder`.

    Progress counts one unit per optimiser step plus one each for the corpus, the
    tokenizer and saving.
    """
    config = config or DemoBuildConfig()
    report_progress = progress or no_progress
    total = config.steps + 3
    started = time.perf_counter()
    previous_threads = torch.get_num_threads()
    if config.num_threads:
        governor = ThreadGovernor.fixed(config.num_threads)
    else:
        governor = ThreadGovernor(available_cores())
    try:
        report_progress(0, total, "generating reviews")
        reviews = generate_reviews(config.n_reviews, seed=config.corpus_seed)
        report_progress(1, total, "training tokenizer")
        tokenizer = train_bpe_tokenizer(reviews, vocab_size=config.vocab_size)
        tokenizer.model_max_length = config.n_positions
        rows = _training_rows(tokenizer, reviews, config.n_positions)
        model = _new_model(config, tokenizer)

        def on_step(step: int, loss: float) -> None:
            report_progress(2 + step, total, f"step {step}/{config.steps} loss {loss:.3f}")

        losses = train(model, rows, config, on_step, governor)
        eval_reviews = generate_reviews(config.n_eval_reviews, seed=config.corpus_seed + 1)
        eval_loss = evaluate(model, _training_rows(tokenizer, eval_reviews, config.n_positions))
        report_progress(config.steps + 2, total, "saving")
        tail = losses[-20:]
        report = BuildReport(
            corpus_size=len(reviews),
            corpus_tokens=int((rows[1] != IGNORE_INDEX).sum()),
            vocab_size=len(tokenizer),
            parameters=sum(p.numel() for p in model.parameters()),
            steps=config.steps,
            tokens_seen=config.steps * config.batch_size * config.n_positions,
            final_train_loss=round(sum(tail) / len(tail), 4),
            eval_loss=round(eval_loss, 4),
            build_seconds=round(time.perf_counter() - started, 1),
            thread_schedule=governor.schedule,
            config=asdict(config),
        )
        save_model_folder(folder, model, tokenizer, report)
        report_progress(total, total, "done")
        return report
    finally:
        torch.set_num_threads(previous_threads)


def _training_rows(
    tokenizer: PreTrainedTokenizerFast, texts: list[str], length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Packed (input_ids, labels) rows; every text ends with EOS so the model learns to stop."""
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    documents = [ids + [tokenizer.eos_token_id] for ids in encoded]
    return pack_documents(documents, length, fill_id=tokenizer.eos_token_id)


def pack_documents(
    documents: list[list[int]], length: int, fill_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pack whole documents greedily into rows of `length` tokens.

    Each row starts at a document start, as a prompt does at generation time; later
    documents in the row follow the previous one's EOS. The unused tail holds `fill_id`
    with labels IGNORE_INDEX; causal attention keeps it from touching real tokens, so
    no attention mask is needed. Returns (input_ids, labels), both (N, length).
    """
    rows: list[list[int]] = []
    current: list[int] = []
    for document in documents:
        document = document[:length]
        if len(current) + len(document) > length:
            rows.append(current)
            current = []
        current = current + document
    if current:
        rows.append(current)
    input_ids = torch.full((len(rows), length), fill_id, dtype=torch.long)
    labels = torch.full((len(rows), length), IGNORE_INDEX, dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = torch.tensor(row)
        labels[i, : len(row)] = torch.tensor(row)
    return input_ids, labels


def _new_model(config: DemoBuildConfig, tokenizer: PreTrainedTokenizerFast) -> GPT2LMHeadModel:
    """A freshly initialised GPT-2 sized by `config`.

    Dropout is off: the corpus is far bigger than the model can memorise, and PPO later
    needs the policy's log-probs to be the same in train and eval mode.
    """
    torch.manual_seed(config.seed)
    model_config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=config.n_positions,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return GPT2LMHeadModel(model_config)


def _learning_rate(step: int, config: DemoBuildConfig) -> float:
    """Linear warmup to the peak, then cosine decay to min_lr_ratio * peak."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    ratio = config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (
        1 + math.cos(math.pi * progress)
    )
    return config.learning_rate * ratio


def _lm_loss(model: GPT2LMHeadModel, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over labelled positions."""
    logits = model(input_ids=input_ids).logits  # (B, T, V)
    return F.cross_entropy(
        logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), ignore_index=IGNORE_INDEX
    )


def _optimizer(model: GPT2LMHeadModel, config: DemoBuildConfig) -> torch.optim.AdamW:
    """AdamW that decays weight matrices only; biases and LayerNorm gains stay free (nanoGPT)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(
        [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ],
        lr=config.learning_rate,
        betas=(0.9, 0.95),
    )


def train(
    model: GPT2LMHeadModel,
    rows: tuple[torch.Tensor, torch.Tensor],
    config: DemoBuildConfig,
    on_step: Callable[[int, float], None] | None = None,
    governor: ThreadGovernor | None = None,
) -> list[float]:
    """Train `model` in place for config.steps steps; returns the loss of every step.

    `governor` sets torch's thread count before each step from the times of earlier ones.
    """
    input_ids, labels = rows  # (N, T) each
    optimizer = _optimizer(model, config)
    generator = torch.Generator().manual_seed(config.seed)
    order = torch.randperm(len(input_ids), generator=generator)
    cursor = 0
    losses: list[float] = []
    model.train()
    for step in range(config.steps):
        if cursor + config.batch_size > len(order):  # next epoch, fresh shuffle
            order = torch.randperm(len(input_ids), generator=generator)
            cursor = 0
        batch = order[cursor : cursor + config.batch_size]
        cursor += config.batch_size
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(step, config)
        threads = governor.threads_for(step) if governor is not None else None
        if threads is not None and threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        started = time.perf_counter()
        loss = _lm_loss(model, input_ids[batch], labels[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        if governor is not None:
            governor.record(time.perf_counter() - started)
        if on_step is not None:
            on_step(step + 1, losses[-1])
    model.eval()
    return losses


@torch.no_grad()
def evaluate(model: GPT2LMHeadModel, rows: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Mean next-token loss on held-out rows."""
    input_ids, labels = rows
    model.eval()
    return _lm_loss(model, input_ids, labels).item()


def save_model_folder(
    folder: Path, model: GPT2LMHeadModel, tokenizer: PreTrainedTokenizerFast, report: BuildReport
) -> None:
    """Write a standard HF folder (weights, config, tokenizer, generation config) + report."""
    folder.mkdir(parents=True, exist_ok=True)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=48,
    )
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    info = asdict(report) | {"torch": torch.__version__, "python": platform.python_version()}
    # Written last: its presence marks a complete folder.
    (folder / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
