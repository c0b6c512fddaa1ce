"""Bulk AI labelling: an LLM judge compares pairs and the verdicts go into the store.

Pairs are taken in this order until `n_pairs` are found:

1. pairs a person compared that this judge has not, so judge and people can be compared
   (core.rlaif.agreement);
2. pairs of existing generations of the same prompt that no one has compared;
3. new pairs: two completions of a prompt sampled from the policy (when one is given).

Each verdict is stored as a comparison by rater `ai:<judge>#<rubric id>` (the rubric is
part of the judge: another rubric labels the same pairs again, as another rater; its text
is kept once in `<workspace>/rubrics/`) with the soft label
P(left better) (the mean of both presentation orders) and, in `detail`, the per-order
probabilities, so position bias can be measured later. Human and AI comparisons live
side by side in the same table.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.config import GenerationConfig
from core.data.preference_export import DEFAULT_MIN_CONFIDENCE
from core.errors import StudioError
from core.progress import Progress, no_progress

if TYPE_CHECKING:
    from core.model.session import ModelSession
    from core.rewards.judge import LLMJudge
    from core.store import Store
    from core.store.rows import PromptRow

PairRef = tuple[int, int, int]
"""(prompt_id, left_generation_id, right_generation_id)."""


@dataclass(frozen=True)
class LabelReport:
    """What a labelling pass did."""

    labelled: int
    """Comparisons stored."""
    from_human_pairs: int
    """Of those, pairs a person had already compared (usable for agreement)."""
    from_existing: int
    """Of those, other pairs of existing generations."""
    generated: int
    """Of those, pairs sampled now from the policy."""
    mean_confidence: float | None
    """Mean |p_left - 0.5| * 2: 0 = coin flips, 1 = certain."""
    position_bias_rate: float | None
    """Share of these verdicts where the judge chose the same position in both orders."""
    mean_answer_mass: float | None
    """Mean probability on the answer tokens; low means the judge ignores the format."""
    comparison_ids: list[int]
    seconds: float
    undecided: int = 0
    """Verdicts below the training confidence filter (|2p - 1| < 0.2): they never train."""


def _key(prompt_id: int, a: int, b: int) -> tuple[int, frozenset[int]]:
    return prompt_id, frozenset((a, b))


def candidate_pairs(store: Store, rater: str, limit: int) -> tuple[list[PairRef], list[PairRef]]:
    """(pairs people compared, other unlabelled pairs of existing generations), not yet
    judged by `rater`, at most `limit` in all."""
    comparisons = store.comparisons("all")
    done = {_key(c.prompt_id, c.left_id, c.right_id) for c in comparisons if c.rater == rater}
    taken = set(done)
    human: list[PairRef] = []
    for c in comparisons:
        key = _key(c.prompt_id, c.left_id, c.right_id)
        if not c.is_ai and key not in taken and len(human) < limit:
            human.append((c.prompt_id, c.left_id, c.right_id))
            taken.add(key)
    # Pairs other AI raters judged stay candidates: the same pairs under two rubrics can be
    # compared side by side. Pairs people compared were offered above.
    labelled = taken | {_key(c.prompt_id, c.left_id, c.right_id) for c in comparisons
                        if not c.is_ai}  # fmt: skip
    existing: list[PairRef] = []
    by_prompt: dict[int, list[int]] = {}
    for generation in store.generations():
        by_prompt.setdefault(generation.prompt_id, []).append(generation.id)
    for prompt_id, ids in by_prompt.items():
        # Disjoint neighbours (g0, g1), (g2, g3)...: each generation in at most one new pair.
        for a, b in zip(ids[0::2], ids[1::2], strict=False):
            key = _key(prompt_id, a, b)
            if key not in labelled and len(human) + len(existing) < limit:
                existing.append((prompt_id, a, b))
    return human, existing


def generate_pairs(
    store: Store,
    session: ModelSession,
    n_pairs: int,
    config: GenerationConfig,
    prompt_set: str | None = None,
    progress: Progress | None = None,
) -> list[PairRef]:
    """Sample two completions for each of `n_pairs` prompts and store them as generations."""
    from core.model.generate import generate, generation_params

    prompts = store.prompts(prompt_set)
    if not prompts:
        prompts = _demo_prompts(store, prompt_set)
    order = list(prompts)
    random.Random(config.seed or 0).shuffle(order)
    chosen = [order[i % len(order)] for i in range(n_pairs)]
    completions = generate(session, [p.text for p in chosen], _two_each(config), progress=progress)
    adapter = getattr(session.spec, "adapter_path", None)
    params = generation_params(session, config)
    pairs = []
    for index, prompt in enumerate(chosen):
        ids = [
            store.add_generation(prompt.id, c.text, session.name, adapter, params, config.seed)
            for c in completions[2 * index : 2 * index + 2]
        ]
        pairs.append((prompt.id, ids[0], ids[1]))
    return pairs


def _two_each(config: GenerationConfig) -> GenerationConfig:
    from dataclasses import replace

    return replace(config, n=2, temperature=config.temperature or 1.0)


def _demo_prompts(store: Store, prompt_set: str | None) -> list[PromptRow]:
    """The demo prompts, imported into the store when it has none (first run)."""
    if prompt_set is not None:
        raise StudioError(
            f"The workspace has no prompts in set {prompt_set!r}; import some first "
            f"(`rlhf-studio-cli prompts import FILE --set {prompt_set}`) or drop --prompt-set."
        )
    from resources import resource_path

    lines = resource_path("prompts", "demo.txt").read_text(encoding="utf-8").splitlines()
    store.add_prompts([line for line in lines if line.strip()], set_name="demo")
    return store.prompts("demo")


def label_pairs(
    store: Store,
    judge: LLMJudge,
    n_pairs: int | None = None,
    *,
    pairs: Sequence[PairRef] | None = None,
    policy: ModelSession | None = None,
    generation: GenerationConfig | None = None,
    prompt_set: str | None = None,
    tie_margin: float = 0.0,
    batch_pairs: int = 16,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    order: Callable[[list[PairRef]], list[PairRef]] | None = None,
) -> LabelReport:
    """Judge pairs and store AI comparisons; see the module doc for how pairs are chosen.

    `pairs` labels exactly those (prompt_id, left_id, right_id); otherwise up to `n_pairs`
    are collected (None: every candidate, generating none). `policy` (a ModelSession)
    samples new pairs when the existing ones are too few. `order` (core.rating.label_order) puts
    the stored candidates in the order to take them in, before `n_pairs` are cut.
    """
    started = time.perf_counter()
    counts = {"human": 0, "existing": 0, "generated": 0}
    todo = _collect(store, judge, n_pairs, pairs, policy, generation, prompt_set, progress, order)
    report = progress or no_progress
    if todo:
        from core.rewards.judge_templates import save_rubric

        save_rubric(store.workspace, judge.pairwise)
    ids, judgements = [], []
    for start in range(0, len(todo), batch_pairs):
        if should_stop is not None and should_stop():
            break
        chunk = todo[start : start + batch_pairs]
        lefts = [store.generation(left) for (_, left, _), _ in chunk]
        rights = [store.generation(right) for (_, _, right), _ in chunk]
        results = judge.compare([g.prompt for g in lefts], [g.text for g in lefts],
                                [g.text for g in rights])  # fmt: skip
        for ((prompt_id, left, right), origin), result in zip(chunk, results, strict=True):
            detail = {**result.detail(), "judge": judge.identity, "rubric": judge.pairwise.source,
                      "rubric_id": judge.pairwise.rubric_id,
                      "rubric_digest": judge.pairwise.digest}  # fmt: skip
            ids.append(store.add_comparison(prompt_id, left, right, result.verdict(tie_margin),
                                            judge.rater, soft_label=_clip(result.p_left),
                                            detail=detail))  # fmt: skip
            counts[origin] += 1
            judgements.append(result)
        report(len(ids), len(todo), f"{len(ids)}/{len(todo)} pairs judged")
    return _report(ids, judgements, counts, time.perf_counter() - started)


def _collect(store, judge, n_pairs, pairs, policy, generation, prompt_set, progress, order=None):
    """[(pair, origin)] to judge: given pairs, else candidates (in `order`, when given),
    topped up by sampling."""
    if pairs is not None:
        return [(p, "existing") for p in pairs]
    # With an order, every candidate is ranked before the first n_pairs are taken.
    human, existing = candidate_pairs(store, judge.rater, 10**9 if order else n_pairs or 10**9)
    todo = [(p, "human") for p in human] + [(p, "existing") for p in existing]
    if order is not None:
        origin = dict((p, o) for p, o in todo)
        todo = [(p, origin[p]) for p in order([p for p, _ in todo])][: n_pairs or None]
    missing = (n_pairs or 0) - len(todo)
    if missing > 0 and policy is not None:
        config = generation or GenerationConfig()
        new = generate_pairs(store, policy, missing, config, prompt_set, progress)
        todo += [(p, "generated") for p in new]
    return todo


def _clip(p: float) -> float:
    """A probability the store accepts (float rounding can step just outside [0, 1])."""
    return min(1.0, max(0.0, float(p)))


def _report(ids, judgements, counts, seconds) -> LabelReport:
    n = len(judgements)
    return LabelReport(
        labelled=n,
        from_human_pairs=counts["human"],
        from_existing=counts["existing"],
        generated=counts["generated"],
        mean_confidence=sum(abs(j.p_left - 0.5) * 2 for j in judgements) / n if n else None,
        position_bias_rate=sum(j.same_side_both_orders for j in judgements) / n if n else None,
        mean_answer_mass=(
            sum((j.mass_first + j.mass_swapped) / 2 for j in judgements) / n if n else None
        ),
        comparison_ids=ids,
        seconds=seconds,
        undecided=sum(abs(2 * j.p_left - 1) < DEFAULT_MIN_CONFIDENCE for j in judgements),
    )
