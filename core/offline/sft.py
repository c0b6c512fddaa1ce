"""SFT (imitation learning) on demonstrations: the mean negative log-likelihood of the
response tokens only (the prompt's tokens are context, never targets), LoRA.

`drift/logratio` compares with the adapter-off base, whose log-probs are cached per
demonstration as DPO's are; it shows how far imitation has moved the model.
"""

from __future__ import annotations

import math

from torch import Tensor

from core.offline.batching import SequenceTable, chunks, response_logps
from core.offline.config import OfflineConfig, SFTConfig
from core.offline.trainer import OfflineTrainer, Stats


def sft_loss(token_logps: Tensor, response_mask: Tensor) -> Tensor:
    """Mean negative log-likelihood per response token: (N, Tr) log-probs and mask -> ()."""
    return -(token_logps * response_mask).sum() / response_mask.sum().clamp(min=1)


class SFTTrainer(OfflineTrainer):
    """SFT on Examples (core.offline.data): prompt and demonstrated response."""

    kind = "sft"
    config_class = SFTConfig
    config: SFTConfig

    def _build_tables(self) -> None:
        self.train_table = _table(self.session, self.train_data, self.config)
        self.eval_table = _table(self.session, self.eval_data, self.config)

    def _batch_loss(self, indices: list[int]) -> tuple[Tensor, Stats]:
        return self._loss(self.train_table, indices, "")

    def _evaluate(self) -> Stats:
        totals: dict[str, float] = {}
        everything = list(range(len(self.eval_data)))
        for chunk in chunks(everything, self.config.micro_batch_size):
            _, stats = self._loss(self.eval_table, chunk, "eval/")
            for key, value in stats.items():
                totals[key] = totals.get(key, 0.0) + value * len(chunk) / len(everything)
        totals["eval/perplexity"] = math.exp(min(50.0, totals["eval/loss"]))
        return totals

    def _loss(self, table: SequenceTable, indices: list[int], prefix: str) -> tuple[Tensor, Stats]:
        batch = table.batch(indices)
        token_logps = response_logps(self.session.model, batch, table.logits_chunk_size)
        loss = sft_loss(token_logps, batch.response_mask)
        policy = token_logps.detach().sum(dim=1)
        reference = table.reference_logps(indices, self.config.micro_batch_size)
        drift = ((policy - reference).abs() / batch.token_counts).mean()
        return loss, {f"{prefix}loss": loss.item(), f"{prefix}drift/logratio": drift.item()}


def _table(session, examples: list, config: OfflineConfig) -> SequenceTable:
    return SequenceTable(
        session,
        [e.prompt for e in examples],
        [e.response for e in examples],
        config.max_response_tokens,
        config.logits_chunk_size,
    )
