"""The Train page's algorithm choice, as one registry: one entry per algorithm, the
on-policy trainers (PPO, GRPO, RLOO: they sample from the policy and score with a
reward) and the trainers from stored feedback (DPO/IPO, KTO, SFT: `offline=True`).

An entry names the run kind, its config class (the form's settings come from its
declarations), where its launch binding, config check and background job live
(imported when a run starts: the trainers pull in torch), what the dashboard plots for
it and its presets. Adding an algorithm to the GUI is one `register(AlgorithmChoice(...))`
call here. No Qt here.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.config import PPOConfig
from core.critic_free_config import GRPOConfig, RLOOConfig
from core.offline.config import DPOConfig, KTOConfig, SFTConfig

Preset = tuple[dict[str, Any], tuple[int, int], tuple[str, ...]]
"""(config overrides, LoRA (r, alpha), reward specs)."""


@dataclass(frozen=True)
class PlotSpec:
    """One dashboard plot: objectName, title, (metric key, legend label) pairs, y unit."""

    name: str
    title: str
    series: tuple[tuple[str, str], ...]
    unit: str = ""
    tooltip: str = ""
    """What the plot shows, at length (titles stay short so they never clip)."""


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
    offline: bool = False
    """True for the trainers from stored feedback: no reward, no prompt set; their data
    comes from the store (or a file) and their dashboard draws `plots`."""
    plots: tuple[PlotSpec, ...] = ()
    """The offline dashboard's plots (app/widgets/offline_dashboard.py)."""
    data: str = ""
    """What an offline algorithm learns from, for the form's hint."""
    job: str = "app.train_job:run_training"
    """'module:function' of the background job: (session, request, control) -> events."""

    def algorithm(self) -> Any:
        """The core.train.launch.Algorithm that starts and resumes its runs."""
        return _resolve(self.launch)

    def check_config(self, config: Any) -> None:
        _resolve(self.check)(config)

    def job_function(self) -> Any:
        """The background job that trains it (app/train_job.py or app/jobs/offline.py)."""
        return _resolve(self.job)


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


def on_policy() -> dict[str, AlgorithmChoice]:
    """The trainers that sample from the policy against a reward (PPO, GRPO, RLOO)."""
    return {kind: choice for kind, choice in ALGORITHMS.items() if not choice.offline}


def offline() -> dict[str, AlgorithmChoice]:
    """The trainers from stored feedback (DPO/IPO, KTO, SFT)."""
    return {kind: choice for kind, choice in ALGORITHMS.items() if choice.offline}


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
    tooltip="Share of groups whose rewards were all equal, and the mean std within a group",
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


# The trainers from stored feedback: their dashboards (metric keys: docs/metrics.md,
# "DPO, IPO, KTO and SFT metrics").
OFFLINE_LOSS = PlotSpec("offlineLossPlot", "Loss", (("loss", "train"), ("eval/loss", "held-out")))
DRIFT_PLOT = PlotSpec(
    "driftPlot", "Drift", (("drift/logratio", "|log π − log π_ref|"),), "nats/token",
    tooltip="Drift from the base: mean |log π − log π_ref| per token",
)  # fmt: skip
OFFLINE_SPEED = PlotSpec(
    "offlineSpeedPlot", "Speed", (("perf/samples_per_s", "examples/s"),), "examples/s",
    tooltip="Throughput: examples per second of the step",
)  # fmt: skip
PREFERENCE_PLOTS = (
    OFFLINE_LOSS,
    PlotSpec(
        "preferenceRewardsPlot",
        "Rewards",
        (
            ("rewards/chosen", "chosen"),
            ("rewards/rejected", "rejected"),
            ("rewards/margins", "margin"),
            ("eval/rewards/margins", "held-out margin"),
        ),
        tooltip="Implicit rewards β·log(π/π_ref) of the chosen and rejected answers",
    ),
    PlotSpec(
        "preferenceAccuracyPlot",
        "Accuracy",
        (("rewards/accuracy", "train"), ("eval/rewards/accuracy", "held-out")),
        tooltip="Preference accuracy: share of pairs whose chosen answer gets the higher "
        "implicit reward",
    ),
    DRIFT_PLOT,
    OFFLINE_SPEED,
)


def _offline_presets() -> dict[str, Preset]:
    """DPO's, KTO's and SFT's presets: LoRA (16, 32), no reward."""
    return {
        "Demo: quick look (CPU, ~1 min)": (
            dict(steps=30, batch_size=8, micro_batch_size=8, eval_every=5),
            (16, 32),
            (),
        ),
        "Small hub model on a GPU": (
            dict(
                steps=200,
                batch_size=32,
                micro_batch_size=8,
                learning_rate=5e-5,
                checkpoint_every=50,
            ),  # fmt: skip
            (16, 32),
            (),
        ),
    }


def _offline(kind: str, label: str, config_class: type, summary: str, data: str,
             plots: tuple[PlotSpec, ...]) -> AlgorithmChoice:  # fmt: skip
    return AlgorithmChoice(
        kind=kind,
        label=label,
        config_class=config_class,
        launch=f"core.offline.launch:{kind.upper()}",
        check="core.offline.config:check_config",
        summary=summary,
        losses=(("loss", "loss"),),
        presets=_offline_presets(),
        offline=True,
        plots=plots,
        data=data,
        job="app.jobs.offline:run_offline",
    )


register(_offline(
    "dpo", "DPO / IPO (from pairs)", DPOConfig,
    "Learns your pairwise verdicts directly, no reward model and no sampling: fast and "
    "stable. Loss: sigmoid (DPO) or ipo (IPO, for near-certain labels).",
    "the comparisons rated on Compare & Rate or by the AI judge", PREFERENCE_PLOTS,
))  # fmt: skip
register(_offline(
    "kto", "KTO (from thumbs)", KTOConfig,
    "Learns from thumbs up/down on single answers (and the pairs split into their sides); "
    "needs no pairs.",
    "thumbs up/down ratings, and the comparisons split into their sides", PREFERENCE_PLOTS,
))  # fmt: skip
register(_offline(
    "sft", "SFT (from demonstrations)", SFTConfig,
    "Imitates example answers: the steadiest first step, it teaches a format or style.",
    "a prompt/response file, or the preferred sides of the comparisons",
    (OFFLINE_LOSS, DRIFT_PLOT, OFFLINE_SPEED),
))  # fmt: skip
