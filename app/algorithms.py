"""The Train page's algorithm choice, as a small registry: one entry per algorithm.

An entry names the run kind, its config class (the form's settings come from its
declarations), where its launch binding and config check live (imported when a run
starts: the trainers pull in torch), what the dashboard plots for it and its presets.
Adding an algorithm to the GUI is one `register(AlgorithmChoice(...))` call here.
No Qt here.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.config import PPOConfig
from core.critic_free_config import GRPOConfig, RLOOConfig

Preset = tuple[dict[str, Any], tuple[int, int], tuple[str, ...]]
"""(config overrides, LoRA (r, alpha), reward specs)."""


@dataclass(frozen=True)
class PlotSpec:
    """One dashboard plot: objectName, title, (metric key, legend label) pairs, y unit."""

    name: str
    title: str
    series: tuple[tuple[str, str], ...]
    unit: str = ""


@dataclass(frozen=True)
class AlgorithmChoice:
    """One algorithm the Train page offers."""

    kind: str
    """The run kind (store, checkpoints, CLI command): 'ppo'."""
    label: str
    """What the algorithm combo shows: 'PPO'."""
    config_class: type
    launch: str
    """'module:ATTRIBUTE' of its core.train.launch.Algorithm."""
    check: str
    """'module:function' checking a config before the run starts (raises StudioError)."""
    summary: str
    """One line under the choice: what it is and when to pick it."""
    losses: tuple[tuple[str, str], ...]
    """The Losses plot's curves (key, label): only the losses this algorithm has."""
    extra_plots: tuple[PlotSpec, ...] = ()
    """Plots shown for this algorithm only (e.g. GRPO's group statistics)."""
    presets: Mapping[str, Preset] = field(default_factory=dict)

    def algorithm(self) -> Any:
        """The core.train.launch.Algorithm that starts and resumes its runs."""
        return _resolve(self.launch)

    def check_config(self, config: Any) -> None:
        _resolve(self.check)(config)


def _resolve(path: str) -> Any:
    module, attribute = path.split(":")
    return getattr(importlib.import_module(module), attribute)


ALGORITHMS: dict[str, AlgorithmChoice] = {}
"""kind -> choice, in the order the combo lists them."""


def register(choice: AlgorithmChoice) -> None:
    """Offer `choice` on the Train page (a later entry with the same kind replaces it)."""
    ALGORITHMS[choice.kind] = choice


def choice_of(kind: str) -> AlgorithmChoice:
    """The registered choice of a run kind (a StudioError-free KeyError says which)."""
    return ALGORITHMS[kind]


PPO_PRESETS: dict[str, Preset] = {
    "Demo: quick look (CPU, ~1 min)": (
        dict(
            steps=12,
            batch_size=8,
            mini_batch_size=8,
            ppo_epochs=2,
            max_new_tokens=16,
            learning_rate=1e-3,
            init_kl_coef=0.05,
            target_kl=4.0,
            checkpoint_every=0,
        ),
        (8, 16),
        ("sentiment",),
    ),
    "Demo: positive reviews (CPU, ~5 min)": (
        dict(
            steps=40,
            batch_size=16,
            mini_batch_size=8,
            ppo_epochs=4,
            max_new_tokens=24,
            learning_rate=5e-4,
            init_kl_coef=0.05,
            target_kl=6.0,
            checkpoint_every=10,
            eval_prompts=8,  # of the 40 demo prompts: the held-out curve shows transfer
        ),
        (16, 32),
        ("sentiment", "length=12@0.2"),
    ),
    "Small hub model on a GPU (SmolLM2 / Qwen2.5-0.5B)": (
        dict(
            steps=100,
            batch_size=32,
            mini_batch_size=8,
            ppo_epochs=4,
            max_new_tokens=48,
            learning_rate=1e-4,
            init_kl_coef=0.05,
            target_kl=6.0,
            checkpoint_every=20,
        ),
        (16, 32),
        ("sentiment",),
    ),
}


def _group_presets(**kind_specific: Any) -> dict[str, Preset]:
    """GRPO's and RLOO's presets: the same runs, group_size completions per prompt."""
    return {
        "Demo: quick look (CPU, ~1 min)": (
            dict(steps=12, batch_size=16, group_size=4, mini_batch_size=16, **kind_specific),
            (8, 16),
            ("sentiment",),
        ),
        "Demo: positive reviews (CPU, ~3 min)": (
            dict(
                steps=30,
                batch_size=16,
                group_size=4,
                mini_batch_size=8,
                checkpoint_every=10,
                eval_prompts=8,
                **kind_specific,
            ),
            (16, 32),
            ("sentiment", "length=12@0.2"),
        ),
        "Small hub model on a GPU (SmolLM2 / Qwen2.5-0.5B)": (
            dict(
                steps=100,
                batch_size=64,
                group_size=8,
                mini_batch_size=16,
                max_new_tokens=48,
                learning_rate=1e-4,
                checkpoint_every=20,
                **kind_specific,
            ),
            (16, 32),
            ("sentiment",),
        ),
    }


GROUP_PLOT = PlotSpec(
    "groupPlot",
    "Groups",
    (("group/zero_std_frac", "no spread"), ("group/reward_std", "group std")),
)

register(
    AlgorithmChoice(
        kind="ppo",
        label="PPO",
        config_class=PPOConfig,
        launch="core.ppo.launch:PPO",
        check="core.ppo.optim:check_config",
        summary="A value head learns a per-token baseline; one sample per prompt.",
        losses=(("loss/policy", "policy"), ("loss/value", "value")),
        presets=PPO_PRESETS,
    )
)
register(
    AlgorithmChoice(
        kind="grpo",
        label="GRPO",
        config_class=GRPOConfig,
        launch="core.grpo.launch:GRPO",
        check="core.grpo.trainer:check_config",
        summary="No value head: each prompt gets a group of responses, each judged "
        "against its group's mean (and std).",
        losses=(("loss/policy", "policy"), ("loss/kl", "KL term")),
        extra_plots=(GROUP_PLOT,),
        presets=_group_presets(),
    )
)
register(
    AlgorithmChoice(
        kind="rloo",
        label="RLOO",
        config_class=RLOOConfig,
        launch="core.grpo.launch:RLOO",
        check="core.grpo.trainer:check_config",
        summary="No value head: each response is judged against the mean of the other "
        "responses to the same prompt.",
        losses=(("loss/policy", "policy"), ("loss/kl", "KL term")),
        extra_plots=(GROUP_PLOT,),
        presets=_group_presets(),
    )
)
