"""Reward sources behind one small protocol: `score(prompts, responses) -> list[float]`.

Build them from specs (`KIND[=ARG][@WEIGHT]`) with `build_reward`; `REWARD_KINDS` lists
the kinds with one line of help each. Sources that load a model are imported lazily.
"""

from core.rewards.base import (
    RewardContext,
    RewardSource,
    RewardSpec,
    check_scores,
)
from core.rewards.combined import WeightedSum
from core.rewards.spec import (
    REWARD_KINDS,
    build_reward,
    format_reward_spec,
    parse_reward_spec,
    parse_reward_specs,
    register_reward_kind,
)

__all__ = [
    "REWARD_KINDS",
    "RewardContext",
    "RewardSource",
    "RewardSpec",
    "WeightedSum",
    "build_reward",
    "check_scores",
    "format_reward_spec",
    "parse_reward_spec",
    "parse_reward_specs",
    "register_reward_kind",
]
