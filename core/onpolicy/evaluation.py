"""Held-out evaluation: prompts kept out of training, answered by the policy every few steps.

The training reward is measured on the prompts the policy is being fitted to; the held-out
reward says whether what it learned carries over to prompts it never trained on. Every
evaluation samples with the same seed (common random numbers), so two evaluations differ
because the policy changed, not because the draw did. The reference policy's answers to
the same prompts are scored with the current reward as a baseline.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from core.config import GenerationConfig
from core.errors import TrainingError
from core.onpolicy.maths import kl_k1
from core.onpolicy.rollout import (
    collect_rollout,
    computed,
    decode_responses,
    reference_responses,
    sample_rows,
)

if TYPE_CHECKING:
    from core.model.session import ModelSession

Scorer = Callable[[list[str], list[str]], torch.Tensor]


def split_prompts(n_prompts: int, n_eval: int, seed: int) -> tuple[list[int], list[int]]:
    """(training indices, held-out indices), both ascending; the seed picks the held-out."""
    if n_eval == 0:
        return list(range(n_prompts)), []
    if n_eval >= n_prompts:
        raise TrainingError(
            f"eval_prompts ({n_eval}) must leave at least one of the {n_prompts} prompts for "
            "training; hold out fewer prompts or add prompts to the set."
        )
    held_out = sorted(random.Random(seed).sample(range(n_prompts), n_eval))
    chosen = set(held_out)
    return [i for i in range(n_prompts) if i not in chosen], held_out


class HeldOutEval:
    """The held-out prompts of one run and how to measure the policy on them."""

    def __init__(
        self, prompts: Sequence[str], queries: Sequence[list[int]], every: int, seed: int
    ) -> None:
        self.prompts = list(prompts)
        self.queries = list(queries)
        self.every = every
        self.seed = seed
        self._reference: list[str] | None = None  # the adapter-off answers never change

    def due(self, step: int, total: int) -> bool:
        """Whether the policy after `step` updates is evaluated."""
        return bool(self.prompts) and (step % self.every == 0 or step == total)

    @torch.no_grad()
    def run(
        self,
        session: ModelSession,
        value_head: nn.Module | None,
        generation: GenerationConfig,
        score: Scorer,
        chunk_size: int,
        logits_chunk_size: int = 0,
    ) -> tuple[dict[str, float], list[dict]]:
        """Sample, score and compare with the reference: the eval/* metrics and the answers
        (prompt, response, reward, reference). The caller holds session.lock; sampling
        forks the RNG, so training draws are unchanged. Prompts are sampled in batches of
        generation.batch_size (a step's rollouts): the held-out set may be larger."""
        responses: list[str] = []
        lengths, kls = [], []
        for start, queries in self._batches(generation.batch_size):
            rollout = collect_rollout(
                session,
                value_head,
                queries,
                generation,
                self.seed + start,
                chunk_size,
                logits_chunk_size=logits_chunk_size,
            )
            mask = rollout.response_mask  # (b, Tr)
            lengths.append(mask.sum(dim=1).long())
            responses += decode_responses(session.tokenizer, rollout.response_ids, lengths[-1])
            ref_logprobs = computed(rollout.ref_logprobs, "reference log-probs")
            kls.append((kl_k1(rollout.logprobs, ref_logprobs) * mask).sum(dim=1))
        length, kl = torch.cat(lengths), torch.cat(kls)  # (E,), (E,)
        scores = score(self.prompts, responses)  # (E,)
        if self._reference is None:
            self._reference = [
                answer
                for start, queries in self._batches(generation.batch_size)
                for answer in reference_responses(session, queries, generation, self.seed + start)
            ]
        reference_scores = score(self.prompts, self._reference)  # (E,): the reward may change
        metrics = {
            "eval/reward/mean": scores.mean().item(),
            "eval/reward/std": scores.std(correction=0).item(),
            "eval/reference_reward/mean": reference_scores.mean().item(),
            "eval/kl": kl.mean().item(),
            "eval/response/length": length.float().mean().item(),
        }
        return metrics, sample_rows(self.prompts, responses, scores.tolist(), self._reference)

    def _batches(self, size: int) -> list[tuple[int, list[list[int]]]]:
        """(offset, queries) of consecutive batches of at most `size` held-out prompts."""
        return [
            (start, self.queries[start : start + size])
            for start in range(0, len(self.queries), size)
        ]
