"""Preference pairs for a Bradley–Terry reward model: the pair, its loss and accuracy,
and the store's comparisons turned into pairs and split into train and held-out.

A pair (prompt, chosen, rejected) with label p = P(chosen is better) trains the reward r
with the Bradley–Terry likelihood (Ouyang et al. 2022, eq. 1), soft labels included:

    loss = -[p log σ(r_c - r_r) + (1 - p) log σ(r_r - r_c)]     (p = 1: -log σ(r_c - r_r))
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from core.data.conflicts import DECIDED, TIE, resolved
from core.errors import TrainingError

if TYPE_CHECKING:
    from core.data.conflicts import Resolution
    from core.store.rows import ComparisonRow, ResolutionRow

MIN_PAIRS = 4
"""Fewest usable comparisons to train on (one held out, three to learn from)."""


@dataclass(frozen=True)
class PreferencePair:
    """One training pair, oriented so `label` is P(chosen is better)."""

    prompt: str
    chosen: str
    rejected: str
    label: float = 1.0
    """The vote share of `chosen` (1 when the people agree), the judge's probability for an
    AI pair, 0.5 for a tie."""
    source: str = "human"
    """human | ai: lets the held-out accuracy be reported on human labels alone."""
    comparison_id: int | None = None
    chat: bool = False
    """A conversational row (its answers were generated, or imported, as chat): the reward
    model reads it through the chat template, as TRL's RewardTrainer does."""
    comparison_ids: tuple[int, ...] = ()
    """Every verdict merged into this pair (core.data.conflicts): all are seen in training."""

    @classmethod
    def of(cls, resolution: Resolution, chat: bool = False) -> PreferencePair:
        """The pair the conflict rule made of a pair's verdicts, as reward models and DPO
        train on it."""
        return cls(
            prompt=resolution.prompt,
            chosen=resolution.chosen,
            rejected=resolution.rejected,
            label=resolution.label,
            source="human" if resolution.by_people else "ai",
            comparison_id=resolution.counted[-1].id,
            chat=chat,
            comparison_ids=resolution.comparison_ids,
        )


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
    rows: Sequence[ComparisonRow],
    include_ties: bool = False,
    prompt_formats: dict[int, str] | None = None,
    resolutions: Sequence[ResolutionRow] = (),
) -> list[PreferencePair]:
    """Store comparison rows as training pairs, one per pair of answers.

    The verdicts on a pair are merged by core.data.conflicts' rule (the one exports and DPO
    use): each rater's latest verdict, people over AI, label = the vote share of the
    favoured answer (1 when the people agree, a judge's probability for AI pairs).
    Conflicts (verdicts that cancel out) and 'both bad' are skipped, as are ties unless
    `include_ties` (label 0.5; TRL's reward trainer drops them). `prompt_formats`
    ({generation id: plain | chat}, core.data.preference_export.prompt_formats) marks the
    conversational rows; `resolutions` (Store.resolutions) settle the pairs people
    resolved.
    """
    pairs = []
    for resolution in resolved(rows, resolutions):
        if resolution.status not in (DECIDED, TIE) or (
            resolution.status == TIE and not include_ties
        ):
            continue
        chat = (prompt_formats or {}).get(resolution.counted[-1].left_id) == "chat"
        pairs.append(PreferencePair.of(resolution, chat=chat))
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
