"""Score stored generations with reward sources and keep the scores in the store.

The CLI's `score` command and the GUI's AI-score action both call `score_generations`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from core.progress import Progress, no_progress
from core.rewards import RewardContext, build_reward, format_reward_spec, parse_reward_spec
from core.store import GenerationRow, Store


@dataclass(frozen=True)
class ScoreSummary:
    """What one source gave: its spec text, how many generations, their mean."""

    source: str
    count: int
    mean: float


def score_generations(
    store: Store,
    reward_specs: Sequence[str],
    generations: Sequence[GenerationRow],
    context: RewardContext | None = None,
    progress: Progress | None = None,
    batch_size: int = 32,
) -> list[ScoreSummary]:
    """Score each generation with each spec (separately, so each source keeps its own score)."""
    report = progress or no_progress
    context = context or RewardContext(references=references_of(store))
    summaries = []
    total = len(reward_specs) * len(generations)
    done = 0
    for text in reward_specs:
        # Weights belong to a weighted sum; each source's own score is stored unweighted.
        spec = replace(parse_reward_spec(text), weight=1.0)
        source_name = format_reward_spec(spec)
        source = build_reward([spec], context)
        values: list[float] = []
        for start in range(0, len(generations), batch_size):
            chunk = generations[start : start + batch_size]
            scores = source.score([g.prompt for g in chunk], [g.text for g in chunk])
            for generation, value in zip(chunk, scores, strict=True):
                store.add_score(generation.id, source_name, value)
            values += scores
            done += len(chunk)
            report(done, total, source_name)
        close = getattr(source, "close", None)
        if close is not None:
            close()
        mean = sum(values) / len(values) if values else float("nan")
        summaries.append(ScoreSummary(source_name, len(values), mean))
    return summaries


def references_of(store: Store) -> dict[str, str]:
    """Reference answers by prompt text, for the `refsim` source."""
    return {row.text: row.reference for row in store.prompts() if row.reference}
