"""Bradley–Terry reward models: LoRA + a scalar head on any Hugging Face backbone.

A pair (prompt, chosen, rejected) with label p = P(chosen is better) trains the reward r
with the Bradley–Terry likelihood (Ouyang et al. 2022, eq. 1), soft labels included:

    loss = -[p log σ(r_c - r_r) + (1 - p) log σ(r_r - r_c)]     (p = 1: -log σ(r_c - r_r))

The model is `AutoModelForSequenceClassification(num_labels=1)` over the backbone: for a
causal LM that is the last non-pad token's hidden state through a linear `score` head
(GPT2ForSequenceClassification, LlamaForSequenceClassification...), for an encoder its
pooled output through `classifier`. LoRA adapts the backbone, the head is trained in full
(PEFT's SEQ_CLS task marks it `modules_to_save`). At the end the adapter is merged and
the plain classifier is saved, so `rm=FOLDER` (core.rewards.classifier) and
`AutoModelForSequenceClassification.from_pretrained(FOLDER)` load it with no studio code.
Inputs are `prompt + response + end-of-text`, right-padded, truncated from the left:
exactly what the `rm=` reward source feeds it, and what TRL's RewardTrainer trains on
(core.rm_folder has the convention, and how older and foreign folders are scored).
`rm_meta.json` beside the weights keeps the settings, the metrics per epoch and the ids of
the comparisons used, so the agreement report can measure the model on human labels it
never saw.
"""

from __future__ import annotations

import math
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from core.config import RMConfig, to_dict
from core.errors import TrainingError
from core.grad_checkpointing import set_gradient_checkpointing
from core.progress import Progress, no_progress
from core.rm_folder import (
    META_FILE,
    check_out_folder,
    read_meta,
    reward_input,
    save_reward_model,
)
from core.train.distributed import current_world

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from core.store import Store
    from core.store.rows import ComparisonRow

__all__ = ["META_FILE", "read_meta", "train_reward_model"]  # META_FILE, read_meta: rm_folder's

MIN_PAIRS = 4
"""Fewest usable comparisons to train on (one held out, three to learn from)."""


@dataclass(frozen=True)
class PreferencePair:
    """One training pair, oriented so `label` is P(chosen is better)."""

    prompt: str
    chosen: str
    rejected: str
    label: float = 1.0
    """1 for a hard human verdict, the judge's probability for an AI one, 0.5 for a tie."""
    source: str = "human"
    """human | ai: lets the held-out accuracy be reported on human labels alone."""
    comparison_id: int | None = None


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

    @property
    def best(self) -> EpochReport:
        """The epoch whose weights were saved."""
        return self.epochs[self.best_epoch - 1]


def bradley_terry_loss(
    r_chosen: torch.Tensor, r_rejected: torch.Tensor, label: torch.Tensor
) -> torch.Tensor:
    """Mean soft Bradley–Terry loss; all (B,), label = P(chosen better) in [0, 1]."""
    delta = r_chosen - r_rejected
    # logsigmoid is the stable log σ; the (1 - p) term is the same likelihood for the swap.
    return -(label * F.logsigmoid(delta) + (1.0 - label) * F.logsigmoid(-delta)).mean()


def pair_accuracy(delta: torch.Tensor, label: torch.Tensor) -> tuple[int, int]:
    """(correct, counted): the sign of r_c - r_r agrees with the label; ties (0.5) not counted."""
    decided = label != 0.5
    correct = ((delta > 0) == (label > 0.5)) & decided
    return int(correct.sum()), int(decided.sum())


def pairs_from_comparisons(
    rows: Sequence[ComparisonRow], include_ties: bool = False
) -> list[PreferencePair]:
    """Store comparison rows as training pairs.

    Human verdicts give hard labels (left/right -> 1; tie -> 0.5 when `include_ties`); AI
    verdicts keep the judge's soft label P(left better). 'both_bad' says nothing about the
    order and is skipped, as are ties by default (TRL's reward trainer drops them too).
    """
    pairs = []
    for row in rows:
        source = "ai" if row.is_ai else "human"
        common = {"prompt": row.prompt, "source": source, "comparison_id": row.id}
        if row.verdict == "both_bad":
            continue
        if row.soft_label is not None:
            pairs.append(PreferencePair(chosen=row.left_text, rejected=row.right_text,
                                        label=float(row.soft_label), **common))  # fmt: skip
        elif row.verdict == "left":
            pairs.append(PreferencePair(chosen=row.left_text, rejected=row.right_text, **common))
        elif row.verdict == "right":
            pairs.append(PreferencePair(chosen=row.right_text, rejected=row.left_text, **common))
        elif include_ties:
            pairs.append(PreferencePair(chosen=row.left_text, rejected=row.right_text,
                                        label=0.5, **common))  # fmt: skip
    return pairs


def split_pairs(
    pairs: Sequence[PreferencePair], eval_fraction: float, seed: int
) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """(train, held-out): a seeded shuffle; at least one pair each side when asked for."""
    if len(pairs) < MIN_PAIRS:
        raise TrainingError(
            f"Only {len(pairs)} usable comparisons (ties and 'both bad' are skipped); a reward "
            f"model needs at least {MIN_PAIRS}. Label more pairs (compare page or `label`)."
        )
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    n_eval = 0 if eval_fraction <= 0 else max(1, round(eval_fraction * len(pairs)))
    n_eval = min(n_eval, len(pairs) - 1)
    return [pairs[i] for i in order[n_eval:]], [pairs[i] for i in order[:n_eval]]


# --------------------------------------------------------------------------- model


def load_backbone(
    base: str, device: torch.device, dtype: torch.dtype
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """(classifier with one label, tokenizer) for a backbone folder / hub id / 'demo'.

    A folder that already is a 1-label classifier (an earlier reward model) keeps its
    head, so training on it fine-tunes that reward model.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from core.errors import ModelLoadError
    from core.models import resolve_model_path

    path = resolve_model_path(base)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "score.weight newly initialised" is the point here
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, dtype=dtype)
    except (OSError, ValueError) as error:
        raise ModelLoadError(
            f"Cannot load {base!r} as a reward-model backbone ({error}). Give a local model "
            f"folder with config.json and tokenizer files, 'demo', or a cached hub id."
        ) from error
    finally:
        hf_logging.set_verbosity(verbosity)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # GPT-style tokenizers ship without one
    # Decoder classifiers find each row's last real token through pad_token_id.
    model.config.pad_token_id = tokenizer.pad_token_id
    tokenizer.padding_side = "right"  # positions start at 0 for every row, as when scoring
    tokenizer.truncation_side = "left"  # keep the response, which is what is judged
    return model.to(device), tokenizer


def attach_head_lora(model: PreTrainedModel, config: RMConfig) -> PeftModel:
    """Wrap with LoRA on the backbone; PEFT's SEQ_CLS task trains the head in full."""
    from peft import get_peft_model

    from core.lora import lora_config

    lora = lora_config(model, config.lora)
    lora.task_type = "SEQ_CLS"  # adds score/classifier to modules_to_save
    with warnings.catch_warnings():
        # PEFT calls a transformers method deprecated in 5.x; nothing for us to change.
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
        return get_peft_model(model, lora)


def rewards_of(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int
) -> torch.Tensor:
    """Scalar rewards (B,) for prompt + response texts, with grad if enabled."""
    device = next(model.parameters()).device
    encoded = tokenizer(
        list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )
    logits = model(
        input_ids=encoded["input_ids"].to(device),
        attention_mask=encoded["attention_mask"].to(device),
    ).logits  # (B, 1)
    return logits[:, 0].float()


def _pair_rewards(model, tokenizer, batch: Sequence[PreferencePair], max_length: int, eos):
    """(r_chosen, r_rejected, label), each (B,): one forward pass over 2B sequences."""
    texts = [reward_input(p.prompt, p.chosen, eos) for p in batch] + [
        reward_input(p.prompt, p.rejected, eos) for p in batch
    ]
    rewards = rewards_of(model, tokenizer, texts, max_length)  # (2B,)
    label = torch.tensor([p.label for p in batch], device=rewards.device)
    return rewards[: len(batch)], rewards[len(batch) :], label


# ----------------------------------------------------------------------- training


@dataclass
class _Callbacks:
    on_epoch: Callable[[EpochReport], None] | None
    on_step: Callable[[StepReport], None] | None
    should_stop: Callable[[], bool] | None
    progress: Progress
    reporters: list = field(default_factory=list)
    """core.train.reporting reporters: each epoch's metrics, at the epoch number."""


def _train_epoch(model, tokenizer, optimizer, train, config, epoch, step0, callbacks):
    """One pass over shuffled training pairs; returns (loss, accuracy, steps, stopped)."""
    model.train()
    order = list(train)
    random.Random(config.seed * 1000 + epoch).shuffle(order)
    total_loss, correct, counted, step = 0.0, 0, 0, step0
    n_batches = math.ceil(len(order) / config.batch_size)
    for index in range(n_batches):
        if callbacks.should_stop is not None and callbacks.should_stop():
            return total_loss / max(index, 1), correct / max(counted, 1), step, True
        batch = order[index * config.batch_size : (index + 1) * config.batch_size]
        loss, hits, n = _train_batch(model, tokenizer, optimizer, batch, config, epoch)
        step += 1
        correct, counted, total_loss = correct + hits, counted + n, total_loss + loss
        if callbacks.on_step is not None:
            callbacks.on_step(StepReport(step, epoch, loss, hits / max(n, 1)))
        callbacks.progress(step, n_batches * config.epochs, f"epoch {epoch} loss {loss:.3f}")
    return total_loss / max(n_batches, 1), correct / max(counted, 1), step, False


def _train_batch(model, tokenizer, optimizer, batch, config, epoch) -> tuple[float, int, int]:
    """One optimiser step on `batch`: (its mean loss, correct, counted). Over several
    processes each rank takes its share of the batch, weighted by that share, and the
    gradients and figures are summed over ranks: the one process's step."""
    world = current_world()
    mine = world.shard(batch)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer.zero_grad(set_to_none=True)
    loss, hits, n = torch.zeros(()), 0, 0
    if mine:
        r_c, r_r, label = _pair_rewards(
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
    ends each input (core.rm_folder's convention: the tokenizer's eos_token)."""
    if not pairs:
        return {"loss": None, "accuracy": None, "margin": None, "accuracy_human": None}
    model.eval()
    deltas, labels = [], []
    for start in range(0, len(pairs), batch_size):
        r_c, r_r, label = _pair_rewards(
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


def train_reward_model(
    pairs: Sequence[PreferencePair],
    config: RMConfig,
    out: str | Path,
    *,
    device: str = "auto",
    store: Store | None = None,
    source: str = "all",
    on_epoch: Callable[[EpochReport], None] | None = None,
    on_step: Callable[[StepReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: Progress | None = None,
    report_to: Sequence[str] = (),
) -> RMResult:
    """Train a Bradley–Terry reward model on `pairs` and save it to `out`.

    Holds out `config.eval_fraction` of the pairs, keeps the weights of the epoch with the
    lowest held-out loss, stops after `config.patience` epochs without improvement, and
    saves a merged sequence classifier plus rm_meta.json. With a `store`, the training is
    a run of kind 'reward_model' whose metrics are the epoch reports. `should_stop` ends
    the training between steps; what was learnt so far is still saved. `report_to` names
    trackers (core.train.reporting) for the epoch metrics; they need a `store` (a run).
    """
    from core.models import pick_device, pick_dtype

    world = current_world()  # several processes: rank 0 alone writes (out, store)
    out = check_out_folder(Path(out)) if world.is_main else Path(out)
    train, held_out = split_pairs(pairs, config.eval_fraction, config.seed)
    callbacks = _Callbacks(on_epoch, on_step, should_stop, progress or no_progress)
    run_id = None
    if store is not None and world.is_main:
        run_config = {"rm": to_dict(config), "out": str(out), "source": source}
        run_id = store.create_run("reward_model", run_config, name=f"rm {out.name}")
    try:
        callbacks.reporters = _reporters(report_to, store, run_id)
        torch_device = pick_device(world.device(device))
        torch.manual_seed(config.seed)  # the head's initialisation
        model, tokenizer = load_backbone(
            config.base, torch_device, pick_dtype("auto", torch_device)
        )
        model = attach_head_lora(model, config)
        set_gradient_checkpointing(model, config.gradient_checkpointing)
        world.broadcast_parameters(p for p in model.parameters() if p.requires_grad)
        optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=config.learning_rate
        )
        result = _fit(
            model, tokenizer, optimizer, train, held_out, config, callbacks, store, run_id
        )
        result.folder, result.run_id = out, run_id
        if world.is_main:
            result.meta = save_reward_model(
                model, tokenizer, out, config, source, train, held_out, result
            )
    except BaseException as error:
        if run_id is not None:
            status = "stopped" if isinstance(error, KeyboardInterrupt) else "failed"
            store.set_run_status(run_id, status, error=str(error) or type(error).__name__)
        raise
    finally:
        for reporter in callbacks.reporters:
            reporter.close()
    if run_id is not None:
        store.set_run_status(run_id, "stopped" if result.stopped else "finished")
    return result


def _fit(
    model, tokenizer, optimizer, train, held_out, config, callbacks, store, run_id
) -> RMResult:
    """Epochs with held-out evaluation, early stopping and best-weights restore."""
    started = time.perf_counter()
    reports: list[EpochReport] = []
    best_loss, best_epoch, best_state, stale, step = math.inf, 0, None, 0, 0
    stopped = stopped_early = False
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        loss, accuracy, step, stopped = _train_epoch(
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
            best_state = _trainable_state(model)
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


def _trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of the trainable weights (LoRA + head): all that training changes."""
    return {
        name: param.detach().clone()
        for name, param in model.named_parameters()
        if param.requires_grad
    }


def _reporters(report_to: Sequence[str], store: Store | None, run_id: int | None) -> list:
    """The trackers of `report_to`, writing under the run's folder (the run needs a store)."""
    if not report_to or list(report_to) == ["none"]:
        return []
    if store is None:
        raise TrainingError("--report-to needs a workspace store to name the run's folder.")
    from core.paths import run_checkpoint_dir
    from core.train.reporting import build_reporters

    return build_reporters(report_to, run_checkpoint_dir(store.workspace, run_id))
