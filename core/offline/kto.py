"""KTO from single answers marked desirable or undesirable (Ethayarajh et al. 2024).

With r = log pi(y|x) - log ref(y|x) and z = max(0, mean r over the micro-batch) (the
reference point, no gradient):

    desirable:    w_d (1 - sigma(beta (r - z)))
    undesirable:  w_u (1 - sigma(beta (z - r)))

The paper estimates z from mismatched prompt/answer pairs; we take the batch's own mean
log-ratio, which needs no extra forward pass and no reference pass per step (the
reference log-probs are cached per answer). Held-out accuracy: the share of answers on
the right side of z (r > z for desirable ones).
"""

from __future__ import annotations

import torch
from torch import Tensor

from core.offline.batching import SequenceTable, chunks, response_logps
from core.offline.config import KTOConfig, OfflineConfig
from core.offline.trainer import OfflineTrainer, Stats


def kto_losses(
    policy: Tensor,
    reference: Tensor,
    desirable: Tensor,
    beta: float,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """((B,) per-answer losses, z); policy/reference (B,) log-probs, desirable (B,) bool."""
    ratio = policy - reference
    z = ratio.detach().mean().clamp(min=0)
    good = desirable_weight * (1 - torch.sigmoid(beta * (ratio - z)))
    bad = undesirable_weight * (1 - torch.sigmoid(beta * (z - ratio)))
    return torch.where(desirable, good, bad), z


class KTOTrainer(OfflineTrainer):
    """KTO on Examples (core.offline.data) with their `desirable` flag."""

    kind = "kto"
    config_class = KTOConfig
    config: KTOConfig

    def _build_tables(self) -> None:
        self.train_table = _table(self.session, self.train_data, self.config)
        self.eval_table = _table(self.session, self.eval_data, self.config)
        device = self.session.device
        self._train_good = torch.tensor([e.desirable for e in self.train_data], device=device)
        self._eval_good = torch.tensor([e.desirable for e in self.eval_data], device=device)

    def _batch_loss(self, indices: list[int]) -> tuple[Tensor, Stats]:
        return self._loss(self.train_table, self._train_good, indices, "")

    def _evaluate(self) -> Stats:
        totals: dict[str, float] = {}
        everything = list(range(len(self.eval_data)))
        for chunk in chunks(everything, self.config.micro_batch_size):
            _, stats = self._loss(self.eval_table, self._eval_good, chunk, "eval/")
            for key, value in stats.items():
                totals[key] = totals.get(key, 0.0) + value * len(chunk) / len(everything)
        return totals

    def _loss(
        self, table: SequenceTable, good: Tensor, indices: list[int], prefix: str
    ) -> tuple[Tensor, Stats]:
        config = self.config
        batch = table.batch(indices)
        policy = response_logps(self.session.model, batch, table.logits_chunk_size).sum(dim=1)
        reference = table.reference_logps(indices, config.micro_batch_size)
        desirable = good[indices]
        losses, z = kto_losses(
            policy, reference, desirable, config.beta,
            config.desirable_weight, config.undesirable_weight,
        )  # fmt: skip
        ratio = (policy - reference).detach()
        rewards = config.beta * ratio
        correct = torch.where(desirable, ratio > z, ratio < z).float().mean()
        stats = {
            f"{prefix}loss": losses.detach().mean().item(),
            f"{prefix}rewards/chosen": _mean_where(rewards, desirable),
            f"{prefix}rewards/rejected": _mean_where(rewards, ~desirable),
            f"{prefix}rewards/accuracy": correct.item(),
            f"{prefix}kl/reference_point": z.item(),
            f"{prefix}drift/logratio": (ratio.abs() / table.token_counts(indices)).mean().item(),
        }
        stats[f"{prefix}rewards/margins"] = (
            stats[f"{prefix}rewards/chosen"] - stats[f"{prefix}rewards/rejected"]
        )
        return losses.mean(), stats


def _mean_where(values: Tensor, where: Tensor) -> float:
    """Mean of values[where]; 0 when nothing is selected (a batch of one kind only)."""
    return values[where].mean().item() if where.any() else 0.0


def _table(session, examples: list, config: OfflineConfig) -> SequenceTable:
    return SequenceTable(
        session,
        [e.prompt for e in examples],
        [e.response for e in examples],
        config.max_response_tokens,
        config.logits_chunk_size,
    )
