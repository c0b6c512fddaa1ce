"""Which reward a PPO run trained against at each step, kept in the run's config.

A run starts with `reward_specs`; an AI feedback round or a resume with another reward
changes it from some step on. Each change is appended to `reward_history` as
{"step": N, "reward_specs": [...]}, meaning "from step N + 1 on". Resuming from an
earlier checkpoint drops the changes made after it (that branch of the run is gone, as
its metrics are), so "the reward at step N" is always that of the run as it now stands.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.store import Store

HISTORY_KEY = "reward_history"


def reward_at(store: Store, run_id: int, step: int) -> list[str]:
    """The reward specs run `run_id` used after `step` (empty if none are recorded)."""
    config = store.run(run_id).config
    specs = list(config.get("reward_specs") or [])
    for change in config.get(HISTORY_KEY, []):
        if change["step"] <= step:
            specs = list(change["reward_specs"])
    return specs


def record_reward_change(store: Store, run_id: int, step: int, specs: Sequence[str]) -> None:
    """Note that run `run_id` trains against `specs` from after `step` on (if that is new)."""
    if list(specs) == reward_at(store, run_id, step):
        return
    config = store.run(run_id).config
    history = [*config.get(HISTORY_KEY, []), {"step": step, "reward_specs": list(specs)}]
    store.update_run_config(run_id, {**config, HISTORY_KEY: history})


def forget_changes_after(store: Store, run_id: int, step: int) -> None:
    """Drop the changes made after `step` (the run resumes from a checkpoint at `step`)."""
    config = store.run(run_id).config
    history = config.get(HISTORY_KEY, [])
    kept = [change for change in history if change["step"] <= step]
    if len(kept) != len(history):
        store.update_run_config(run_id, {**config, HISTORY_KEY: kept})
