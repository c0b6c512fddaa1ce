"""A weighted sum of reward sources: score = sum_i w_i * s_i; and a reward with watched
sources beside it.

Each component's raw (unweighted) scores of the last batch stay in `last_components`, so
PPO can log `reward/<name>` per component and a user can see which term moved. Watched
sources' scores stay in `last_watched` (`watch/<name>`): measured, never trained on.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.errors import RewardError
from core.rewards.base import RewardSource, check_batch, check_scores


def unique_names(names: Sequence[str]) -> list[str]:
    """Names made distinct by suffixes (_2, _3...) in order: metric keys must not collide."""
    seen: dict[str, int] = {}
    result = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        result.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return result


class WeightedSum:
    """Sum of several sources, each scaled by its weight."""

    name = "weighted_sum"

    def __init__(self, sources_with_weights: Sequence[tuple[RewardSource, float]]) -> None:
        if not sources_with_weights:
            raise RewardError("A weighted sum needs at least one reward source.")
        self.sources = [source for source, _ in sources_with_weights]
        self.weights = [float(weight) for _, weight in sources_with_weights]
        self.component_names = unique_names([source.name for source in self.sources])
        self.last_components: dict[str, list[float]] = {}
        """Raw scores of each component for the last scored batch, by component name."""

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        """Weighted sum of the components' scores; fills `last_components`."""
        check_batch(prompts, responses)
        components: dict[str, list[float]] = {}
        total = [0.0] * len(responses)
        for name, source, weight in zip(
            self.component_names, self.sources, self.weights, strict=True
        ):
            scores = check_scores(name, source.score(prompts, responses), len(responses))
            components[name] = scores
            total = [t + weight * s for t, s in zip(total, scores, strict=True)]
        self.last_components = components
        return check_scores(self.name, total, len(responses))

    def close(self) -> None:
        """Close every component that holds a model."""
        for source in self.sources:
            close = getattr(source, "close", None)
            if close is not None:
                close()


class WatchedReward:
    """The trained reward, with sources scored beside it that never reach the trainer.

    A watched source is a gold signal the policy cannot game, because nothing optimises
    it: when the trained reward rises while a watched one falls, the policy is exploiting
    the trained one (core.train.guardrails pauses such a run)."""

    def __init__(self, trained: RewardSource, watched: Sequence[RewardSource]) -> None:
        self.trained = trained
        self.watched = list(watched)
        self.name = trained.name
        self.watched_names = unique_names([source.name for source in self.watched])
        self.last_watched: dict[str, list[float]] = {}
        """Each watched source's scores for the last scored batch, by name."""

    @property
    def last_components(self) -> dict[str, list[float]]:
        """The trained reward's components (a weighted sum's), as without watching."""
        return getattr(self.trained, "last_components", None) or {}

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        """The trained reward's scores; fills `last_watched`."""
        scores = self.trained.score(prompts, responses)
        self.last_watched = {
            name: check_scores(name, source.score(prompts, responses), len(responses))
            for name, source in zip(self.watched_names, self.watched, strict=True)
        }
        return scores

    def close(self) -> None:
        """Close every source that holds a model."""
        for source in (self.trained, *self.watched):
            close = getattr(source, "close", None)
            if close is not None:
                close()
