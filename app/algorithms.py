"""What the Train page shows of each algorithm: its dashboard plots and its presets,
keyed by run kind. Everything else about an algorithm (label, config, trainer, the data
it reads, on-policy or not) is its spec in core.algorithms, the one registry; an
`AlgorithmChoice` joins the two for the widgets.

A kind gets the visuals of the data it reads (VISUALS_BY_DATA) unless VISUALS names its
own; an on-policy kind must (its presets differ). No Qt here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from core import algorithms as registry
from core.algorithms import AlgorithmSpec

Preset = tuple[dict[str, Any], tuple[int, int], tuple[str, ...]]
"""(config overrides, LoRA (r, alpha), reward specs)."""

DATA_HINTS = {
    "pairs": "the comparisons rated on Compare & Rate or by the AI judge",
    "thumbs": "thumbs up/down ratings, and the comparisons split into their sides",
    "demonstrations": "a prompt/response file, or the preferred sides of the comparisons",
}
"""The form's hint of what an offline algorithm learns from, by the data it reads."""


@dataclass(frozen=True)
class PlotSpec:
    """One dashboard plot: objectName, title, (metric key, legend label) pairs, y unit."""

    name: str
    title: str
    series: tuple[tuple[str, str], ...]
    unit: str = ""
    tooltip: str = ""
    """What the plot shows, at length (titles stay short so they never clip)."""
    style: str = "lines"
    """lines | stacked (the `reward/<component>` keys, found as they come) | objective
    (score and -beta*KL, derived from `objective/kl` where not logged)."""


@dataclass(frozen=True)
class Visuals:
    """The dashboard and presets of one algorithm."""

    losses: tuple[tuple[str, str], ...]
    """The Losses plot's curves (key, label): only the losses this algorithm has."""
    extra_plots: tuple[PlotSpec, ...] = ()
    """On-policy: plots shown for this algorithm only (e.g. GRPO's group statistics)."""
    plots: tuple[PlotSpec, ...] = ()
    """Offline: the dashboard's plots (app/widgets/offline_dashboard.py)."""
    presets: Mapping[str, Preset] = field(default_factory=dict)
    objective_plots: tuple[PlotSpec, ...] = ()
    """On-policy: the objective's terms, shown first among the gauges (a stacked plot only
    once a step carries its keys)."""
    help: str = ""
    """On-policy: the dashboard's "What am I looking at?" text (plain text, paragraphs)."""


@dataclass(frozen=True)
class AlgorithmChoice:
    """One algorithm the Train page offers: its spec and its visuals."""

    spec: AlgorithmSpec
    visuals: Visuals

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def config_class(self) -> type:
        return self.spec.config_class

    @property
    def summary(self) -> str:
        return self.spec.summary

    @property
    def offline(self) -> bool:
        """True for the trainers from stored feedback: no reward, no prompt set."""
        return not self.spec.on_policy

    @property
    def data(self) -> str:
        """What an offline algorithm learns from, for the form's hint ('' on-policy)."""
        return DATA_HINTS.get(self.spec.data, "")

    @property
    def losses(self) -> tuple[tuple[str, str], ...]:
        return self.visuals.losses

    @property
    def extra_plots(self) -> tuple[PlotSpec, ...]:
        return self.visuals.extra_plots

    @property
    def plots(self) -> tuple[PlotSpec, ...]:
        return self.visuals.plots

    @property
    def presets(self) -> Mapping[str, Preset]:
        return self.visuals.presets

    @property
    def objective_plots(self) -> tuple[PlotSpec, ...]:
        return self.visuals.objective_plots

    @property
    def help(self) -> str:
        return self.visuals.help

    def algorithm(self) -> Any:
        """The core.train.launch.Algorithm that starts and resumes its runs."""
        return self.spec.algorithm()

    def check_config(self, config: Any) -> None:
        self.spec.check_config(config)

    def job_function(self) -> Any:
        """The background job that trains it (app/jobs/training.py or app/jobs/offline.py)."""
        if self.offline:
            from app.jobs.offline import run_offline

            return run_offline
        from app.jobs.training import run_training

        return run_training


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

# The objective's terms (docs/metrics.md); tooltips are one line for a newcomer.
COMPONENTS_PLOT = PlotSpec(
    "rewardComponentsPlot",
    "Reward parts",
    (),
    tooltip="Each band is one term of the reward (its mean raw score, before its weight), "
    "stacked: see which term moved when the reward did",
    style="stacked",
)
OBJECTIVE_PLOT = PlotSpec(
    "objectivePlot",
    "Score vs KL",
    (("objective/scores", "score"), ("objective/non_score_reward", "−β·KL")),
    tooltip="What training climbs: the score the answers earned, and −β·KL, the price paid "
    "for drifting from the reference model",
    style="objective",
)
EXPLAINED_VARIANCE_PLOT = PlotSpec(
    "explainedVariancePlot",
    "Critic fit",
    (("val/explained_variance", "explained var."),),
    tooltip="How well the critic predicts the returns: 1 is perfect, 0 no better than "
    "guessing the average, below 0 worse",
)
CLIP_TOOLTIP = (
    "How hard each update pushed: the share of tokens whose probability ratio hit the clip "
    "(left), and approx KL, how far the update moved the policy (right)"
)
"""The clip fraction vs approx KL plot (every on-policy kind; app/widgets/dashboard.py)."""

PPO_HELP = "\n\n".join(
    (
        "PPO writes an answer one token at a time: each token is an action, the text "
        "before it the state. The reward model scores the whole answer at the end.",
        "Score vs KL: the score is that reward (as the trainer uses it); −β·KL is what "
        "every answer pays for drifting from the reference model (the model you started "
        "from). Training climbs their sum.",
        "Reward parts: with several rewards, each term's mean score, stacked.",
        "Critic fit: a critic (value head) guesses, from each prefix, the reward still to "
        "come. The advantage (what the reward turned out minus that guess) says which "
        "tokens to make likelier. Explained variance near 1: good guesses; near 0: noisy "
        "advantages, slower learning.",
        "Clipping: PPO clips the probability ratio so one update cannot move the policy "
        "far. A high clip fraction or approx KL means the updates are too big: lower the "
        "learning rate.",
    )
)

_GROUP_HELP = "\n\n".join(
    (
        "{name} samples several answers to each prompt (a group) and scores them all. "
        "{advantage} No critic is needed: the group is the baseline.",
        "Score vs KL: the score the advantages came from; −β·KL is the price of drifting "
        "from the reference model (the model you started from). With β = 0 there is no KL "
        "to show.",
        "Reward parts: with several rewards, each term's mean score, stacked.",
        "Groups: a group whose answers all scored the same has zero advantage and teaches nothing.",
        "Clipping: the update clips the probability ratio as PPO does. A high clip fraction "
        "or approx KL means the updates are too big: lower the learning rate.",
    )
)

GRPO_HELP = _GROUP_HELP.format(
    name="GRPO",
    advantage="An answer's advantage is its reward minus its group's mean, divided by the "
    "group's spread (std).",
)
RLOO_HELP = _GROUP_HELP.format(
    name="RLOO",
    advantage="An answer's advantage is its reward minus the mean of the other answers of "
    "its group (leave one out).",
)

LOSSES_PPO = (("loss/policy", "policy"), ("loss/value", "value"))
LOSSES_GROUP = (("loss/policy", "policy"), ("loss/kl", "KL term"))

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
    """The presets of the trainers from stored feedback: LoRA (16, 32), no reward."""
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


PLAIN_LOSS = (("loss", "loss"),)
LOSS_TERMS_PLOT = PlotSpec(
    "lossTermsPlot",
    "Loss terms",
    (
        ("loss/nll", "NLL (chosen)"),
        ("loss/odds_ratio", "odds ratio"),
        ("eval/loss/nll", "held-out NLL"),
    ),
)
"""ORPO's two terms: shown only where the spec's metric keys have them."""
SHARED_KEYS = ("loss", "perf/samples_per_s")
"""Keys every trainer from stored feedback logs (core.offline.trainer)."""

VISUALS_BY_DATA: dict[str, Visuals] = {
    "pairs": Visuals(
        PLAIN_LOSS, plots=(*PREFERENCE_PLOTS, LOSS_TERMS_PLOT), presets=_offline_presets()
    ),
    "thumbs": Visuals(PLAIN_LOSS, plots=PREFERENCE_PLOTS, presets=_offline_presets()),
    "demonstrations": Visuals(
        PLAIN_LOSS, plots=(OFFLINE_LOSS, DRIFT_PLOT, OFFLINE_SPEED), presets=_offline_presets()
    ),
}
"""The visuals of a kind that VISUALS does not name, by the data it reads."""

VISUALS: dict[str, Visuals] = {
    "ppo": Visuals(
        LOSSES_PPO,
        presets=PPO_PRESETS,
        objective_plots=(OBJECTIVE_PLOT, COMPONENTS_PLOT, EXPLAINED_VARIANCE_PLOT),
        help=PPO_HELP,
    ),
    "grpo": Visuals(
        LOSSES_GROUP,
        extra_plots=(GROUP_PLOT,),
        presets=_group_presets(),
        objective_plots=(OBJECTIVE_PLOT, COMPONENTS_PLOT),
        help=GRPO_HELP,
    ),
    "rloo": Visuals(
        LOSSES_GROUP,
        extra_plots=(GROUP_PLOT,),
        presets=_group_presets(),
        objective_plots=(OBJECTIVE_PLOT, COMPONENTS_PLOT),
        help=RLOO_HELP,
    ),
}


def visuals_of(spec: AlgorithmSpec) -> Visuals:
    """The kind's own visuals, else those of the data it reads, keeping the plots of the
    metric keys it logs (a reference-free trainer has no drift plot)."""
    if spec.kind in VISUALS:
        return VISUALS[spec.kind]
    if spec.data not in VISUALS_BY_DATA:
        raise KeyError(f"app/algorithms.py has no plots or presets for '{spec.kind}'")
    shared = VISUALS_BY_DATA[spec.data]
    logged = set(spec.metric_keys) | set(SHARED_KEYS)
    plots = tuple(
        plot
        for plot in shared.plots
        if any(key.removeprefix("eval/") in logged for key, _ in plot.series)
    )
    return replace(shared, plots=plots)


ALGORITHMS: dict[str, AlgorithmChoice] = {
    kind: AlgorithmChoice(spec, visuals_of(spec)) for kind, spec in registry.ALGORITHMS.items()
}
"""kind -> choice, in the registry's order (the combo lists them so)."""


def choice_of(kind: str) -> AlgorithmChoice:
    """The choice of a run kind (an unknown kind: core.algorithms.UnknownAlgorithm)."""
    return ALGORITHMS[registry.spec_of(kind).kind]


def on_policy() -> dict[str, AlgorithmChoice]:
    """The trainers that sample from the policy against a reward (PPO, GRPO, RLOO)."""
    return {kind: choice for kind, choice in ALGORITHMS.items() if not choice.offline}


def offline() -> dict[str, AlgorithmChoice]:
    """The trainers from stored feedback (DPO/IPO, KTO, SFT, ...)."""
    return {kind: choice for kind, choice in ALGORITHMS.items() if choice.offline}


INSPECTOR_NOTES = {
    "ppo": "PPO: each token is an action taken in the state of the text before it. The "
    "reward arrives at the end (the score), and every token pays -KL coefficient x its "
    "KL to the reference. The critic's value V estimates the reward still to come; the "
    "advantage (GAE) is how much better this token turned out than V expected. Green "
    "tokens are made more likely by the update, red ones less.",
    "grpo": "GRPO: the completion is scored against the others of its group; (reward - "
    "group mean) / std is its advantage, the same on every token. The KL colours show "
    "where the policy has moved away from the reference.",
    "rloo": "RLOO: the completion's advantage is its reward minus the mean of the other "
    "answers of its group, the same on every token. The KL colours show where the policy "
    "has moved away from the reference.",
}
"""The token inspector's "what am I looking at" line per on-policy kind."""
OFFLINE_INSPECTOR_NOTE = (
    "Trained from stored answers: each token's share of the implicit reward, beta x (log p "
    "- log p_ref), shows where the policy now prefers this answer more (green) or less "
    "(red) than the reference."
)
"""The same for the trainers from stored data (DPO, KTO, SFT, SimPO, ORPO)."""
