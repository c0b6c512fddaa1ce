"""What the reference-free pair trainers (SimPO, ORPO) share: the pairs laid out as DPO's
(rows 2i and 2i + 1: chosen and rejected), one forward pass over both sides, their
length-averaged log-probs, the pair labels and the held-out figures.

No reference pass at all: the adapter-off base is never run, so a step costs the policy's
forward and backward only. An algorithm says its per-pair loss (`_pair_losses`) and the
implicit reward scale of each side (`_reward_scale`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from core.offline.batching import SequenceTable, chunks, response_logps
from core.offline.dpo import PairTrainer
from core.offline.trainer import Stats


class ReferenceFreePairTrainer(PairTrainer):
    """A trainer on PreferencePairs whose loss reads the policy's log-probs only."""

    # ------------------------------------------------------------- subclass hooks

    def _pair_losses(
        self, mean_chosen: Tensor, mean_rejected: Tensor, labels: Tensor
    ) -> tuple[Tensor, Stats]:
        """((B,) per-pair losses, its own gauges without prefix) from the (B,) mean
        log-prob per token of each side and the (B,) labels P(chosen better)."""
        raise NotImplementedError

    def _reward_scale(self) -> float:
        """The implicit reward of a side: this times its mean log-prob per token."""
        raise NotImplementedError

    # ------------------------------------------------------------------- steps

    def _batch_loss(self, indices: list[int]) -> tuple[Tensor, Stats]:
        return self._loss(self.train_table, self._train_labels, indices, "")

    def _evaluate(self) -> Stats:
        totals: dict[str, float] = {}
        everything = list(range(len(self.eval_data)))
        for chunk in chunks(everything, self.config.micro_batch_size):
            _, stats = self._loss(self.eval_table, self._eval_labels, chunk, "eval/")
            for key, value in stats.items():
                totals[key] = totals.get(key, 0.0) + value * len(chunk) / len(everything)
        return totals

    def _loss(
        self, table: SequenceTable, all_labels: Tensor, indices: list[int], prefix: str
    ) -> tuple[Tensor, Stats]:
        mean_chosen, mean_rejected = self._mean_logps(table, indices)
        labels = all_labels[indices]
        losses, own = self._pair_losses(mean_chosen, mean_rejected, labels)
        stats = pair_stats(
            mean_chosen.detach(), mean_rejected.detach(), labels, self._reward_scale()
        )
        stats = {"loss": losses.detach().mean().item(), **stats, **own}
        return losses.mean(), {prefix + key: value for key, value in stats.items()}

    def _mean_logps(self, table: SequenceTable, indices: list[int]) -> tuple[Tensor, Tensor]:
        """(B,) mean log-prob per response token of the chosen and the rejected sides,
        both sides through one forward pass."""
        rows = [2 * i for i in indices] + [2 * i + 1 for i in indices]
        batch = table.batch(rows)
        sums = response_logps(self.session.model, batch, table.logits_chunk_size).sum(dim=1)
        means = sums / batch.token_counts  # (2B,): every side has at least its EOS
        half = len(indices)
        return means[:half], means[half:]


def pair_stats(mean_chosen: Tensor, mean_rejected: Tensor, labels: Tensor, scale: float) -> Stats:
    """Implicit rewards (scale x mean log-prob per token), their margin, and the share of
    decided pairs (label != 0.5) whose chosen side has the higher mean log-prob."""
    chosen, rejected = scale * mean_chosen, scale * mean_rejected
    margins = chosen - rejected
    decided = labels != 0.5
    # The sign of the unscaled margin: a scale of 0 (ORPO's lambda off) still counts.
    correct = ((mean_chosen > mean_rejected) == (labels > 0.5)) & decided
    accuracy = correct.sum() / decided.sum() if decided.any() else torch.tensor(float("nan"))
    return {
        "rewards/chosen": chosen.mean().item(),
        "rewards/rejected": rejected.mean().item(),
        "rewards/margins": margins.mean().item(),
        "rewards/accuracy": float(accuracy),
    }
