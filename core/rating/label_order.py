"""The order in which pairs are offered for labelling, by a person (Compare & Rate) or a
judge (`label --order`).

- `fixed`: as the caller found them (the store's order).
- `random`: shuffled (seeded).
- `active`: where the reward model is least sure. Its head is refitted as a bootstrap
  ensemble on the labelled pairs (people's and judges', but no judge's verdict on a pair
  being ordered) over the reward model's own features (core.rating.active, core.reward_model.features);
  pairs come by BALD, most informative first, near-copies later.
- `disagreement`: where the reward model and the judges' stored verdicts part ways most
  (|the ensemble's mean P(left better) - the judges' P(left better)|); pairs no judge
  has seen follow, in active order.

`active` and `disagreement` need a reward model (the workspace's newest, `rm-N`, unless
one is named) and a few labelled pairs; without them a StudioError says what to do, and
nothing falls back to another order by itself.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.errors import StudioError
from core.paths import REWARD_MODELS_DIR

if TYPE_CHECKING:
    from core.store import Store
    from core.store.rows import ComparisonRow

PairRef = tuple[int, int, int]
"""(prompt_id, left_generation_id, right_generation_id)."""

ORDERS = ("fixed", "random", "active", "disagreement")
NEEDS_REWARD_MODEL = ("active", "disagreement")
MIN_LABELLED = 4
"""Fewest labelled pairs the ensemble is refitted on (as a reward model needs)."""
MEMBERS = 8
"""Heads in the bootstrap ensemble."""


@dataclass(frozen=True)
class Ordering:
    """Pairs in the order to label them, and why."""

    pairs: list[PairRef]
    scores: list[float | None]
    """The rule's value for each pair (BALD, or |RM - judge|); None where it has none."""
    message: str
    """One line: what was ordered, by what."""


def latest_reward_model(workspace: str | Path) -> Path | None:
    """The workspace's newest trained reward model (`reward_models/rm-<highest N>` with a
    config.json), or None when none has been trained."""
    root = Path(workspace) / REWARD_MODELS_DIR
    numbered = []
    for folder in root.glob("rm-*"):
        suffix = folder.name.removeprefix("rm-")
        if suffix.isdigit() and (folder / "config.json").is_file() and not folder.is_symlink():
            numbered.append((int(suffix), folder))
    return max(numbered)[1] if numbered else None


def no_reward_model_message(order: str) -> str:
    """What to do when `order` needs a reward model and the workspace has none."""
    needs = ("compares the reward model with the judges' verdicts" if order == "disagreement"
             else "asks the reward model where it is least sure")  # fmt: skip
    return (
        f"Order '{order}' {needs}, and this workspace has none yet: train one (AI Feedback → "
        "Train reward model, or `train-rm`), or choose the random order."
    )


def order_pairs(
    store: Store, pairs: Sequence[PairRef], order: str, *, rm: str | Path | None = None,
    seed: int = 0, device: str = "cpu",
) -> Ordering:  # fmt: skip
    """`pairs` in `order` (see the module doc). `rm` is the reward-model folder (default:
    the workspace's newest)."""
    pairs = list(pairs)
    if order not in ORDERS:
        raise StudioError(f"Unknown order {order!r}; choose one of {', '.join(ORDERS)}.")
    if order == "fixed" or not pairs:
        return Ordering(pairs, [None] * len(pairs), f"{len(pairs)} pairs in stored order")
    if order == "random":
        shuffled = list(pairs)
        random.Random(seed).shuffle(shuffled)
        return Ordering(shuffled, [None] * len(pairs), f"{len(pairs)} pairs in random order")
    folder = Path(rm).expanduser() if rm is not None else latest_reward_model(store.workspace)
    if folder is None:
        raise StudioError(no_reward_model_message(order))
    p_members, diffs = _ensemble_probabilities(store, pairs, folder, seed, device)
    return _ranked(store, pairs, order, p_members, diffs, folder.name)


def _ranked(store, pairs, order, p_members: np.ndarray, diffs: np.ndarray, rm_name: str):
    """The Ordering of `pairs` by `order` from the ensemble's (M, N) P(left better)."""
    from core.rating.active import disagreement, pick_batch, uncertainty

    informative = uncertainty(p_members, "bald")
    active = pick_batch(informative, len(pairs), diffs)
    if order == "active":
        return Ordering([pairs[i] for i in active], [float(informative[i]) for i in active],
                        f"{len(pairs)} pairs, the ones {rm_name} is least sure of first")  # fmt: skip
    judged = judge_probabilities(store.comparisons("ai"), pairs)
    seen = [i for i, p in enumerate(judged) if p is not None]
    if not seen:
        raise StudioError(
            "Order 'disagreement' compares the reward model with a judge's verdicts, and no "
            "judge has compared these pairs: label them first (AI Feedback → Label, or "
            "`label`), or choose the active order."
        )
    apart = disagreement(p_members[:, seen], [p for p in judged if p is not None])
    first = [seen[i] for i in np.argsort(-apart, kind="stable")]
    rest = [i for i in active if judged[i] is None]
    scores = dict(zip(first, apart[np.argsort(-apart, kind="stable")].tolist(), strict=True))
    ranked = first + rest
    return Ordering([pairs[i] for i in ranked], [scores.get(i) for i in ranked],
                    f"{len(seen)} pairs where {rm_name} and the judge differ most first, then "
                    f"{len(rest)} no judge has seen")  # fmt: skip


def judge_probabilities(
    rows: Sequence[ComparisonRow], pairs: Sequence[PairRef]
) -> list[float | None]:
    """For each pair, the judges' mean P(its left answer better) over their latest verdicts
    (the soft label, else 1 / 0.5 / 0 for left / tie / right), None where none judged it."""
    latest: dict[tuple[frozenset[int], str], ComparisonRow] = {}
    for row in rows:  # oldest first: later verdicts replace earlier ones
        if row.is_ai and row.verdict != "both_bad":
            latest[(frozenset((row.left_id, row.right_id)), row.rater)] = row
    by_pair: dict[frozenset[int], list[tuple[int, float]]] = {}  # (its left id, P(left))
    for (key, _rater), row in latest.items():
        p = row.soft_label
        if p is None:
            p = {"left": 1.0, "tie": 0.5, "right": 0.0}[row.verdict]
        by_pair.setdefault(key, []).append((row.left_id, p))
    out: list[float | None] = []
    for _prompt, left, right in pairs:
        votes = by_pair.get(frozenset((left, right)))
        out.append(None if not votes else
                   float(np.mean([p if l_id == left else 1.0 - p for l_id, p in votes])))  # fmt: skip
    return out


def _ensemble_probabilities(store, pairs, folder: Path, seed: int, device: str):
    """((MEMBERS, N) P(left better) for each pair from a bootstrap ensemble of the reward
    model's head, refitted on the store's labelled pairs over its features; (N, H) the
    pairs' feature differences)."""
    from core.rating.active import bootstrap_heads, pair_probabilities, standardise
    from core.reward_model.pairs import pairs_from_comparisons
    from core.rewards.classifier import ClassifierReward

    # A judge's verdicts on the pairs being ordered are left out: they are what the
    # reward model is compared with (disagreement), and what a person may overrule.
    ordered = {frozenset((left, right)) for _, left, right in pairs}
    rows = [c for c in store.comparisons("all")
            if not (c.is_ai and frozenset((c.left_id, c.right_id)) in ordered)]  # fmt: skip
    labelled = pairs_from_comparisons(rows)
    if len(labelled) < MIN_LABELLED:
        raise StudioError(
            f"Only {len(labelled)} labelled pairs with a verdict; the reward model's ensemble "
            f"needs at least {MIN_LABELLED}. Rate a few pairs first, or choose the random order."
        )
    answers: dict[tuple[str, str], int] = {}  # (prompt, text) -> feature row

    def row(prompt: str, text: str) -> int:
        return answers.setdefault((prompt, text), len(answers))

    sides = []
    for _prompt_id, left, right in pairs:
        a, b = store.generation(left), store.generation(right)
        sides.append((row(a.prompt, a.text), row(b.prompt, b.text)))
    known = [(row(p.prompt, p.chosen), row(p.prompt, p.rejected)) for p in labelled]
    reward = ClassifierReward(folder, device=device)
    try:
        keys = list(answers)
        phi = standardise(reward.features([k[0] for k in keys], [k[1] for k in keys]).numpy())
    finally:
        reward.close()
    diffs = np.stack([phi[c] - phi[r] for c, r in known])
    heads = bootstrap_heads(diffs, np.array([p.label for p in labelled]), MEMBERS, seed)
    candidates = np.stack([phi[a] - phi[b] for a, b in sides])
    return pair_probabilities(heads, candidates), candidates


def unrated_pairs(store: Store, prompt_ids: set[int] | None = None) -> list[PairRef]:
    """Pairs of stored answers no person has compared (of these prompts, when given):
    pairs a judge compared, then disjoint neighbours (g0, g1), (g2, g3)... of each
    prompt's other answers, as `label` takes them."""
    rows = store.comparisons("all")
    by_people = {frozenset((c.left_id, c.right_id)) for c in rows if not c.is_ai}
    taken = set(by_people)
    out: list[PairRef] = []
    for c in rows:
        key = frozenset((c.left_id, c.right_id))
        if c.is_ai and key not in taken and (prompt_ids is None or c.prompt_id in prompt_ids):
            out.append((c.prompt_id, c.left_id, c.right_id))
            taken.add(key)
    by_prompt: dict[int, list[int]] = {}
    for generation in store.generations():
        if prompt_ids is None or generation.prompt_id in prompt_ids:
            by_prompt.setdefault(generation.prompt_id, []).append(generation.id)
    for prompt_id, ids in by_prompt.items():
        for a, b in zip(ids[0::2], ids[1::2], strict=False):
            if frozenset((a, b)) not in taken:
                out.append((prompt_id, a, b))
    return out
