"""DPO and IPO from preference pairs: the loss, and the trainer that applies it.

With h = (log pi(y_c) - log ref(y_c)) - (log pi(y_r) - log ref(y_r)) and p = P(chosen is
better) (1 for a hard label, less with label smoothing, the judge's probability for an AI
label, 0.5 for a tie kept as 'soft'):

    sigmoid (DPO):  -p log sigma(beta h) - (1 - p) log sigma(-beta h)
    ipo:            p (h - 1/(2 beta))^2 + (1 - p) (h + 1/(2 beta))^2,  log-probs
                    averaged over each response's tokens (as IPO and TRL do)

Both are the expected loss under the label distribution: a soft label 0.7 is 70% of the
pair as given and 30% of it swapped. The IPO minimiser is h = (2p - 1) / (2 beta).
Implicit rewards: beta (log pi - log ref) of each side. The reference is the adapter-off
base, its log-probs cached per pair (core.offline.batching.SequenceTable).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from core.offline.batching import SequenceTable, chunks, response_logps
from core.offline.config import DPOConfig
from core.offline.trainer import OfflineTrainer, Stats


def dpo_losses(
    policy_chosen: Tensor,
    policy_rejected: Tensor,
    reference_chosen: Tensor,
    reference_rejected: Tensor,
    label: Tensor,
    beta: float,
    loss_type: str = "sigmoid",
) -> Tensor:
    """(B,) per-pair losses; all inputs (B,): log-probs of each side, label = P(chosen better)."""
    h = (policy_chosen - reference_chosen) - (policy_rejected - reference_rejected)
    if loss_type == "sigmoid":
        return -label * F.logsigmoid(beta * h) - (1.0 - label) * F.logsigmoid(-beta * h)
    if loss_type == "ipo":
        target = 1.0 / (2.0 * beta)
        return label * (h - target) ** 2 + (1.0 - label) * (h + target) ** 2
    raise ValueError(f"unknown DPO loss {loss_type!r}")


def smoothed_labels(labels: list[float], sources: list[str], smoothing: float) -> list[float]:
    """Hard human labels (1.0) become 1 - smoothing; AI and tie labels stay as they are."""
    return [
        label * (1.0 - smoothing) + (1.0 - label) * smoothing if source == "human" else label
        for label, source in zip(labels, sources, strict=True)
    ]


class PairTrainer(OfflineTrainer):
    """What every trainer on PreferencePairs shares: the pairs' token tables (train and
    held-out) and their smoothed labels (DPO, IPO, SimPO, ORPO)."""

    def _build_tables(self) -> None:
        self.train_table = _pair_table(self.session, self.train_data, self.config)
        self.eval_table = _pair_table(self.session, self.eval_data, self.config)
        self._train_labels = self._labels(self.train_data)
        self._eval_labels = self._labels(self.eval_data)

    def _labels(self, pairs: list) -> Tensor:
        values = smoothed_labels(
            [p.label for p in pairs], [p.source for p in pairs], self.config.label_smoothing
        )
        return torch.tensor(values, dtype=torch.float32, device=self.session.device)


class DPOTrainer(PairTrainer):
    """DPO / IPO on PreferencePairs (core.reward_model.training), LoRA, adapter-off reference."""

    kind = "dpo"
    config_class = DPOConfig
    config: DPOConfig

    def _batch_loss(self, indices: list[int]) -> tuple[Tensor, Stats]:
        sides, drift = self._side_logps(self.train_table, indices, self.session.model)
        labels = self._train_labels[indices]
        losses = dpo_losses(*sides, labels, self.config.beta, self.config.loss_type)
        stats = _pair_stats(sides, labels, losses, self.config.beta, "")
        return losses.mean(), stats | {"drift/logratio": drift}

    def _evaluate(self) -> Stats:
        totals: dict[str, float] = {}
        everything = list(range(len(self.eval_data)))
        for chunk in chunks(everything, self.config.micro_batch_size):
            sides, drift = self._side_logps(self.eval_table, chunk, self.session.model)
            labels = self._eval_labels[chunk]
            losses = dpo_losses(*sides, labels, self.config.beta, self.config.loss_type)
            stats = _pair_stats(sides, labels, losses, self.config.beta, "eval/")
            stats["eval/drift/logratio"] = drift
            for key, value in stats.items():
                totals[key] = totals.get(key, 0.0) + value * len(chunk) / len(everything)
        return totals

    def _side_logps(
        self, table: SequenceTable, indices: list[int], model: torch.nn.Module
    ) -> tuple[tuple[Tensor, Tensor, Tensor, Tensor], float]:
        """((policy chosen, policy rejected, reference chosen, reference rejected), (B,)
        each; the drift: mean |log pi - log ref| per response token). Chosen and rejected
        sides go through one forward pass together."""
        rows = [2 * i for i in indices] + [2 * i + 1 for i in indices]
        policy = response_logps(model, table.batch(rows), table.logits_chunk_size).sum(dim=1)
        reference = table.reference_logps(rows, 2 * self.config.micro_batch_size)
        counts = table.token_counts(rows)
        drift = ((policy.detach() - reference).abs() / counts).mean().item()
        if self.config.loss_type == "ipo":
            policy, reference = policy / counts, reference / counts
        half = len(indices)
        return (policy[:half], policy[half:], reference[:half], reference[half:]), drift


def _pair_table(session, pairs: list, config: DPOConfig) -> SequenceTable:
    """Rows 2i and 2i + 1: the chosen and rejected sides of pair i."""
    prompts = [pair.prompt for pair in pairs for _ in range(2)]
    responses = [text for pair in pairs for text in (pair.chosen, pair.rejected)]
    return SequenceTable(
        session, prompts, responses, config.max_response_tokens, config.logits_chunk_size
    )


def _pair_stats(
    sides: tuple[Tensor, Tensor, Tensor, Tensor],
    labels: Tensor,
    losses: Tensor,
    beta: float,
    prefix: str,
) -> Stats:
    """Loss, implicit rewards, margin and accuracy (decided pairs only)."""
    policy_chosen, policy_rejected, reference_chosen, reference_rejected = (
        side.detach() for side in sides
    )
    chosen = beta * (policy_chosen - reference_chosen)
    rejected = beta * (policy_rejected - reference_rejected)
    margins = chosen - rejected
    decided = labels != 0.5
    correct = ((margins > 0) == (labels > 0.5)) & decided
    accuracy = correct.sum() / decided.sum() if decided.any() else torch.tensor(float("nan"))
    return {
        f"{prefix}loss": losses.detach().mean().item(),
        f"{prefix}rewards/chosen": chosen.mean().item(),
        f"{prefix}rewards/rejected": rejected.mean().item(),
        f"{prefix}rewards/margins": margins.mean().item(),
        f"{prefix}rewards/accuracy": float(accuracy),
    }
