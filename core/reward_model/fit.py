"""The reward model's training loop: steps over shuffled pairs (each rank its share over
several processes), held-out evaluation after every epoch, early stopping, and the best
epoch's weights restored (core.reward_model.training.train_reward_model drives it)."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from core.errors import TrainingError
from core.model.host_memory import update_memory_returned
from core.progress import Progress
from core.reward_model.folder import chat_input, reward_input
from core.reward_model.pairs import PreferencePair, bradley_terry_loss, pair_accuracy
from core.train.distributed import current_world

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class EpochReport:
    """What one epoch achieved (the GUI plots these; the store keeps them as run metrics)."""

    epoch: int
    train_loss: float
    train_accuracy: float
    eval_loss: float | None
    eval_accuracy: float | None
    eval_margin: float | None
    """Mean r(preferred) - r(other) on held-out pairs."""
    eval_accuracy_human: float | None
    """Held-out accuracy on the human-labelled pairs only (None when there are none)."""
    seconds: float

    def metrics(self) -> dict[str, float]:
        """Namespaced metric keys for the store and plots (None values left out)."""
        values = {
            "train/loss": self.train_loss,
            "train/accuracy": self.train_accuracy,
            "eval/loss": self.eval_loss,
            "eval/accuracy": self.eval_accuracy,
            "eval/margin": self.eval_margin,
            "eval/accuracy_human": self.eval_accuracy_human,
            "perf/seconds": self.seconds,
        }
        return {key: float(value) for key, value in values.items() if value is not None}


@dataclass(frozen=True)
class StepReport:
    """One optimiser step (for a live loss curve)."""

    step: int
    epoch: int
    loss: float
    accuracy: float


@dataclass
class RMResult:
    """The outcome of `train_reward_model`."""

    folder: Path
    epochs: list[EpochReport]
    best_epoch: int
    stopped_early: bool
    """Early stopping ended the training (no held-out improvement for `patience` epochs)."""
    stopped: bool
    """`should_stop` ended the training (the user pressed stop)."""
    n_train: int
    n_eval: int
    seconds: float
    run_id: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    coin_flips_dropped: int = 0
    """AI labels the caller left out as too unsure to train on (set by the caller)."""

    @property
    def best(self) -> EpochReport:
        """The epoch whose weights were saved."""
        return self.epochs[self.best_epoch - 1]


def rewards_of(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str | list[int]],
    max_length: int,
) -> torch.Tensor:
    """Scalar rewards (B,) for prompt + response texts (or token ids already made, as chat
    rows are), with grad if enabled."""
    device = next(model.parameters()).device
    encoded = encode_inputs(tokenizer, texts, max_length)
    logits = model(
        input_ids=encoded["input_ids"].to(device),
        attention_mask=encoded["attention_mask"].to(device),
    ).logits  # (B, 1)
    return logits[:, 0].float()


def encode_inputs(tokenizer, inputs: Sequence[str | list[int]], max_length: int) -> dict:
    """A right-padded batch: texts tokenized (with special tokens), ids kept; each cut to
    `max_length` on the tokenizer's truncation side."""
    rows = []
    for item in inputs:
        if isinstance(item, str):
            ids = tokenizer(item, truncation=True, max_length=max_length)["input_ids"]
        else:
            left = tokenizer.truncation_side == "left"
            ids = list(item)[-max_length:] if left else list(item)[:max_length]
        rows.append({"input_ids": ids})
    return tokenizer.pad(rows, padding=True, return_tensors="pt")


def reward_inputs(tokenizer, pairs: Sequence[PreferencePair], side: str, eos) -> list:
    """What the reward model reads for one side of each pair: chat rows through the chat
    template (as TRL does), text rows as prompt + answer + eos (core.reward_model.folder)."""
    chat = bool(getattr(tokenizer, "chat_template", None))
    return [
        chat_input(tokenizer, p.prompt, getattr(p, side))
        if p.chat and chat
        else reward_input(p.prompt, getattr(p, side), eos)
        for p in pairs
    ]


def pair_rewards(model, tokenizer, batch: Sequence[PreferencePair], max_length: int, eos):
    """(r_chosen, r_rejected, label), each (B,): one forward pass over 2B sequences."""
    texts = reward_inputs(tokenizer, batch, "chosen", eos) + reward_inputs(
        tokenizer, batch, "rejected", eos
    )
    rewards = rewards_of(model, tokenizer, texts, max_length)  # (2B,)
    label = torch.tensor([p.label for p in batch], device=rewards.device)
    return rewards[: len(batch)], rewards[len(batch) :], label


# ----------------------------------------------------------------------- training


@dataclass
class Callbacks:
    """What the caller of train_reward_model listens with, and may stop it by."""

    on_epoch: Callable[[EpochReport], None] | None
    on_step: Callable[[StepReport], None] | None
    should_stop: Callable[[], bool] | None
    progress: Progress
    reporters: list = field(default_factory=list)
    """core.train.reporting reporters: each epoch's metrics, at the epoch number."""


def train_epoch(model, tokenizer, optimizer, train, config, epoch, step0, callbacks):
    """One pass over shuffled training pairs; returns (loss, accuracy, steps, stopped)."""
    model.train()
    order = list(train)
    random.Random(config.seed * 1000 + epoch).shuffle(order)
    total_loss, correct, counted, step = 0.0, 0, 0, step0
    n_batches = math.ceil(len(order) / config.batch_size)
    device = next(model.parameters()).device
    for index in range(n_batches):
        if callbacks.should_stop is not None and callbacks.should_stop():
            return total_loss / max(index, 1), correct / max(counted, 1), step, True
        batch = order[index * config.batch_size : (index + 1) * config.batch_size]
        with update_memory_returned(device, model):  # large models: freed tensors leave at once
            loss, hits, n = train_batch(model, tokenizer, optimizer, batch, config, epoch)
        step += 1
        correct, counted, total_loss = correct + hits, counted + n, total_loss + loss
        if callbacks.on_step is not None:
            callbacks.on_step(StepReport(step, epoch, loss, hits / max(n, 1)))
        callbacks.progress(step, n_batches * config.epochs, f"epoch {epoch} loss {loss:.3f}")
    return total_loss / max(n_batches, 1), correct / max(counted, 1), step, False


def train_batch(model, tokenizer, optimizer, batch, config, epoch) -> tuple[float, int, int]:
    """One optimiser step on `batch`: (its mean loss, correct, counted). Over several
    processes each rank takes its share of the batch, weighted by that share, and the
    gradients and figures are summed over ranks: the one process's step."""
    world = current_world()
    mine = world.shard(batch)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer.zero_grad(set_to_none=True)
    loss, hits, n = torch.zeros(()), 0, 0
    if mine:
        r_c, r_r, label = pair_rewards(
            model, tokenizer, mine, config.max_length, tokenizer.eos_token
        )
        loss = bradley_terry_loss(r_c, r_r, label) * (len(mine) / len(batch))
        if not torch.isfinite(loss):
            raise TrainingError(
                f"Reward-model loss became {loss.item()} at epoch {epoch}; lower the learning "
                f"rate (now {config.learning_rate}) or check the labels."
            )
        loss.backward()
        hits, n = pair_accuracy((r_c - r_r).detach(), label)
    world.all_reduce_gradients(parameters, "sum")
    torch.nn.utils.clip_grad_norm_(parameters, 1.0)
    optimizer.step()
    if not world.is_distributed:
        return loss.item(), hits, n
    totals = world.sum(torch.tensor([loss.item(), hits, n], dtype=torch.float64)).tolist()
    return totals[0], int(totals[1]), int(totals[2])


@torch.no_grad()
def evaluate_pairs(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[PreferencePair],
    max_length: int,
    batch_size: int,
    eos: str | None = None,
) -> dict[str, float | None]:
    """Loss, accuracy, margin (and accuracy on human pairs) of a model on pairs; `eos`
    ends each input (core.reward_model.folder's convention: the tokenizer's eos_token)."""
    if not pairs:
        return {"loss": None, "accuracy": None, "margin": None, "accuracy_human": None}
    model.eval()
    deltas, labels = [], []
    for start in range(0, len(pairs), batch_size):
        r_c, r_r, label = pair_rewards(
            model, tokenizer, pairs[start : start + batch_size], max_length, eos
        )
        deltas.append(r_c - r_r)
        labels.append(label)
    delta, label = torch.cat(deltas), torch.cat(labels)  # (N,), (N,)
    correct, counted = pair_accuracy(delta, label)
    human = torch.tensor([p.source == "human" for p in pairs], device=delta.device)
    human_correct, human_counted = pair_accuracy(delta[human], label[human])
    decided = label != 0.5
    preferred = torch.where(label > 0.5, delta, -delta)[decided]  # r(preferred) - r(other)
    return {
        "loss": bradley_terry_loss(delta, torch.zeros_like(delta), label).item(),
        "accuracy": correct / counted if counted else None,
        "margin": preferred.mean().item() if counted else None,
        "accuracy_human": human_correct / human_counted if human_counted else None,
    }


def fit(model, tokenizer, optimizer, train, held_out, config, callbacks, store, run_id) -> RMResult:
    """Epochs with held-out evaluation, early stopping and best-weights restore."""
    started = time.perf_counter()
    reports: list[EpochReport] = []
    best_loss, best_epoch, best_state, stale, step = math.inf, 0, None, 0, 0
    stopped = stopped_early = False
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        loss, accuracy, step, stopped = train_epoch(
            model, tokenizer, optimizer, train, config, epoch, step, callbacks
        )
        scores = evaluate_pairs(
            model, tokenizer, held_out, config.max_length, config.batch_size, tokenizer.eos_token
        )
        scores = current_world().share(scores)  # rank 0's figures decide for every rank
        report = EpochReport(
            epoch, loss, accuracy, scores["loss"], scores["accuracy"], scores["margin"],
            scores["accuracy_human"], time.perf_counter() - epoch_start,
        )  # fmt: skip
        reports.append(report)
        if run_id is not None:
            store.add_metrics(run_id, epoch, report.metrics())
        for reporter in callbacks.reporters:
            reporter.log(epoch, report.metrics())
        if callbacks.on_epoch is not None:
            callbacks.on_epoch(report)
        # Without held-out pairs the training loss decides (and the last epoch usually wins).
        watched = report.eval_loss if report.eval_loss is not None else report.train_loss
        if watched < best_loss - 1e-6:
            best_loss, best_epoch, stale = watched, epoch, 0
            best_state = trainable_state(model)
        else:
            stale += 1
        if stopped:
            break
        if stale >= config.patience:
            stopped_early = epoch < config.epochs
            break
    if best_state is not None:
        model.load_state_dict(best_state, strict=False)
    return RMResult(
        folder=Path(), epochs=reports, best_epoch=max(best_epoch, 1), stopped_early=stopped_early,
        stopped=stopped, n_train=len(train), n_eval=len(held_out),
        seconds=time.perf_counter() - started,
    )  # fmt: skip


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of the trainable weights (LoRA + head): all that training changes."""
    return {
        name: param.detach().clone()
        for name, param in model.named_parameters()
        if param.requires_grad
    }
