"""The one algorithm registry: every training kind is one `AlgorithmSpec` here.

A spec says what the rest of the program asks about an algorithm: its run kind (the
store's, the checkpoints' and the CLI command's name), its label, its config class (the
settings, hence the CLI flags and the Train form's fields), its trainer (imported when a
run starts: trainers pull in torch), what data it reads, whether a run can be exported
for a cluster, what the memory planner must count, and the metric keys of its own.

Who asks: the CLI's training commands (core/cli/algorithms.py makes one per spec), the
Train page's algorithm choice (app/algorithms.py adds plots and presets, keyed by kind),
the memory planner, run export, resume (which algorithm wrote a checkpoint) and the
data selection (core/data_selection.py). An unknown kind is a StudioError wherever it
is asked for, never a fallback to some other algorithm.

Adding an algorithm: its trainer module, its config, one `register(AlgorithmSpec(...))`
below, its tests (docs/architecture.md, "Adding an algorithm").
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import PPOConfig
from core.config.critic_free import GRPOConfig, RLOOConfig
from core.errors import StudioError
from core.offline.config import (
    DPOConfig,
    KTOConfig,
    ORPOConfig,
    SFTConfig,
    SimPOConfig,
)

if TYPE_CHECKING:
    from core.train.launch import Algorithm
    from core.train.resumable import CheckpointedTrainer

DATA_KINDS = ("prompts", "pairs", "thumbs", "demonstrations")
"""What a trainer learns from: prompts it answers itself against a reward (on-policy),
or stored feedback: preference pairs, thumbs up/down on single answers, or
demonstrations (prompt and response)."""


class UnknownAlgorithm(StudioError):
    """A run kind no spec declares."""


@dataclass(frozen=True)
class PlanProfile:
    """What the memory planner (core.memory_plan) counts for an algorithm beyond the
    shared terms."""

    value_head: bool = False
    """PPO's value head: its weights, and every layer's hidden states while scoring."""
    rows_per_example: int = 1
    """Rows one example puts through a gradient pass (a pair: chosen and rejected)."""
    chunked_scoring: bool = False
    """Rollouts scored in no-grad chunks of a fixed size (GRPO, RLOO)."""


@dataclass(frozen=True)
class AlgorithmSpec:
    """One training algorithm, as every part of the program knows it."""

    kind: str
    """The run kind: the store's, the checkpoint meta's `algorithm`, the CLI command."""
    label: str
    """What the Train page's algorithm combo shows."""
    config_class: type
    trainer: str
    """'module:Class' of its trainer (a core.train.run.StepwiseTrainer with `resume`)."""
    check: str
    """'module:function' refusing a config in one line before a run starts."""
    data: str
    """One of DATA_KINDS."""
    summary: str
    """One line for the Train page: what it is and when to pick it."""
    help: str
    """The CLI command's one-line help."""
    description: str
    """The CLI command's description (--help)."""
    exportable: bool = False
    """`export-run` can write it out (its settings and prompts travel; stored feedback
    does not)."""
    plan: PlanProfile = PlanProfile()
    metric_keys: tuple[str, ...] = ()
    """The metric keys of its own (beyond step, lr, optim/ and perf/), each explained in
    docs/metrics.md; held-out ones are the same keys under eval/."""

    @property
    def on_policy(self) -> bool:
        """Samples its own answers to prompts and scores them with a reward."""
        return self.data == "prompts"

    def trainer_class(self) -> type[CheckpointedTrainer]:
        return _resolve(self.trainer)

    @property
    def reads_unnamed_checkpoints(self) -> bool:
        """Resumes checkpoints written before they named their algorithm (PPO's trainer
        says so). Asked only of such old checkpoints, so the trainer is imported only then."""
        return bool(getattr(self.trainer_class(), "reads_unnamed_checkpoints", False))

    def algorithm(self) -> Algorithm:
        """The core.train.launch.Algorithm that starts and resumes its runs."""
        from core.train.launch import Algorithm

        return Algorithm.of(self.trainer_class())

    def check_config(self, config: object) -> None:
        """Raise a StudioError naming what is wrong with `config` (nothing when fine)."""
        if not isinstance(config, self.config_class):
            raise StudioError(
                f"{self.label} takes a {self.config_class.__name__}, not a {type(config).__name__}."
            )
        _resolve(self.check)(config)


def _resolve(path: str) -> Any:
    module, attribute = path.split(":")
    return getattr(importlib.import_module(module), attribute)


ALGORITHMS: dict[str, AlgorithmSpec] = {}
"""kind -> spec, in the order the Train page and `--help` list them."""


def register(spec: AlgorithmSpec) -> None:
    """Declare `spec` (a later spec with the same kind replaces it)."""
    if spec.data not in DATA_KINDS:
        raise ValueError(f"{spec.kind}: data {spec.data!r} is not one of {DATA_KINDS}")
    ALGORITHMS[spec.kind] = spec


def spec_of(kind: str) -> AlgorithmSpec:
    """The spec of a run kind; an unknown kind is a StudioError naming the known ones."""
    try:
        return ALGORITHMS[kind]
    except KeyError:
        raise UnknownAlgorithm(
            f"'{kind}' is not an algorithm this version knows (known: {', '.join(ALGORITHMS)}); "
            "a checkpoint or run of it needs the version that wrote it."
        ) from None


def on_policy() -> dict[str, AlgorithmSpec]:
    return {kind: spec for kind, spec in ALGORITHMS.items() if spec.on_policy}


def offline() -> dict[str, AlgorithmSpec]:
    """The trainers from stored feedback."""
    return {kind: spec for kind, spec in ALGORITHMS.items() if not spec.on_policy}


def exportable_kinds() -> tuple[str, ...]:
    return tuple(kind for kind, spec in ALGORITHMS.items() if spec.exportable)


def kind_of_checkpoint(checkpoint: Path) -> str:
    """The kind that wrote a checkpoint (a step folder, or a run folder: its latest step),
    as its meta.json names it; checkpoints from before that field are PPO's, the only
    trainer then. An unknown kind raises UnknownAlgorithm."""
    from core.train.checkpoints import read_meta, resolve_checkpoint
    from core.train.launch import algorithm_of

    return spec_of(algorithm_of(read_meta(resolve_checkpoint(checkpoint))) or "ppo").kind


# ------------------------------------------------------------------ the algorithms

_ON_POLICY_DESCRIPTION = (
    "Defaults: the demo model, its built-in prompts and the sentiment reward. "
    "Checkpoints go to <workspace>/checkpoints/run-<id>/step-<N>/."
)
_GROUP_DESCRIPTION = (
    "Defaults: the demo model, its built-in prompts and the sentiment reward. "
    "--batch-size counts completions: a step samples batch-size / group-size prompts. "
    "Checkpoints go to <workspace>/checkpoints/run-<id>/step-<N>/."
)
_PPO_KEYS = ("loss/policy", "loss/value", "val/explained_variance", "objective/kl")
_GROUP_KEYS = ("loss/policy", "loss/kl", "group/zero_std_frac", "group/reward_std")
_PAIR_KEYS = (
    "loss",
    "rewards/chosen",
    "rewards/rejected",
    "rewards/margins",
    "rewards/accuracy",
)

register(
    AlgorithmSpec(
        kind="ppo",
        label="PPO",
        config_class=PPOConfig,
        trainer="core.ppo.trainer:PPOTrainer",
        check="core.ppo.checks:check_config",
        data="prompts",
        summary="A value head learns a per-token baseline; one sample per prompt.",
        help="train the model's LoRA adapter with PPO against one or more rewards",
        description="LoRA PPO. " + _ON_POLICY_DESCRIPTION,
        exportable=True,
        plan=PlanProfile(value_head=True),
        metric_keys=_PPO_KEYS,
    )
)
register(
    AlgorithmSpec(
        kind="grpo",
        label="GRPO",
        config_class=GRPOConfig,
        trainer="core.grpo.trainer:GRPOTrainer",
        check="core.grpo.trainer:check_config",
        data="prompts",
        summary="No value head: each prompt gets a group of responses, each judged "
        "against its group's mean (and std).",
        help="train the model's LoRA adapter with GRPO: no value head, "
        "--group-size completions per prompt",
        description="LoRA GRPO (group-relative advantages). " + _GROUP_DESCRIPTION,
        exportable=True,
        plan=PlanProfile(chunked_scoring=True),
        metric_keys=_GROUP_KEYS,
    )
)
register(
    AlgorithmSpec(
        kind="rloo",
        label="RLOO",
        config_class=RLOOConfig,
        trainer="core.grpo.trainer:RLOOTrainer",
        check="core.grpo.trainer:check_config",
        data="prompts",
        summary="No value head: each response is judged against the mean of the other "
        "responses to the same prompt.",
        help="train the model's LoRA adapter with RLOO: no value head, "
        "--group-size completions per prompt",
        description="LoRA RLOO (leave-one-out baseline). " + _GROUP_DESCRIPTION,
        exportable=True,
        plan=PlanProfile(chunked_scoring=True),
        metric_keys=_GROUP_KEYS,
    )
)
register(
    AlgorithmSpec(
        kind="dpo",
        label="DPO / IPO (from pairs)",
        config_class=DPOConfig,
        trainer="core.offline.dpo:DPOTrainer",
        check="core.offline.config:check_config",
        data="pairs",
        summary="Learns your pairwise verdicts directly, no reward model and no sampling: "
        "fast and stable. Loss: sigmoid (DPO) or ipo (IPO, for near-certain labels).",
        help="train the LoRA adapter with DPO/IPO on the stored comparisons",
        description="DPO (or IPO) from the workspace's comparisons: human verdicts as hard "
        "labels, AI verdicts with the judge's probability. Ties are skipped (--ties soft "
        "learns them as equally good), 'both bad' always. The last line printed is the "
        "final adapter folder.",
        plan=PlanProfile(rows_per_example=2),
        metric_keys=(*_PAIR_KEYS, "drift/logratio"),
    )
)
register(
    AlgorithmSpec(
        kind="kto",
        label="KTO (from thumbs)",
        config_class=KTOConfig,
        trainer="core.offline.kto:KTOTrainer",
        check="core.offline.config:check_config",
        data="thumbs",
        summary="Learns from thumbs up/down on single answers (and the pairs split into "
        "their sides); needs no pairs.",
        help="train the LoRA adapter with KTO on thumbs-up/down ratings",
        description="KTO from single answers: ratings >= 0.5 (thumbs up: 1) are desirable, "
        "lower ones (thumbs down: 0) undesirable; comparisons add their preferred side as "
        "desirable and the other as undesirable ('both bad': both undesirable; ties "
        "skipped). The last line printed is the final adapter folder.",
        metric_keys=(*_PAIR_KEYS, "kl/reference_point", "drift/logratio"),
    )
)
register(
    AlgorithmSpec(
        kind="sft",
        label="SFT (from demonstrations)",
        config_class=SFTConfig,
        trainer="core.offline.sft:SFTTrainer",
        check="core.offline.config:check_config",
        data="demonstrations",
        summary="Imitates example answers: the steadiest first step, it teaches a format or style.",
        help="fine-tune the LoRA adapter on demonstrations (a warm start for PPO/GRPO/DPO)",
        description="SFT on prompt/response demonstrations, loss on the response tokens "
        "only: a .jsonl or .csv file with 'prompt' and 'response' fields (--data), or the "
        "preferred sides of the stored comparisons. Continue from its adapter with "
        "--adapter <folder> in ppo, dpo or kto. The last line printed is that folder.",
        metric_keys=("loss", "drift/logratio", "eval/perplexity"),
    )
)
register(
    AlgorithmSpec(
        kind="simpo",
        label="SimPO (from pairs, no reference)",
        config_class=SimPOConfig,
        trainer="core.offline.simpo:SimPOTrainer",
        check="core.offline.config:check_config",
        data="pairs",
        summary="Like DPO without the reference model: the margin of the length-averaged "
        "log-probs must beat gamma. Cheaper, and it does not favour long answers.",
        help="train the LoRA adapter with SimPO (reference-free) on the stored comparisons",
        description="SimPO from the workspace's comparisons, as `dpo` reads them: "
        "-log sigma(beta (mean logp chosen - mean logp rejected) - gamma), no reference "
        "model. The last line printed is the final adapter folder.",
        plan=PlanProfile(rows_per_example=2),
        metric_keys=_PAIR_KEYS,
    )
)
register(
    AlgorithmSpec(
        kind="orpo",
        label="ORPO (from pairs, no reference)",
        config_class=ORPOConfig,
        trainer="core.offline.orpo:ORPOTrainer",
        check="core.offline.config:check_config",
        data="pairs",
        summary="SFT on the preferred answers plus an odds-ratio term that pushes the "
        "rejected ones down: one stage, no reference model.",
        help="train the LoRA adapter with ORPO (SFT + odds ratio) on the stored comparisons",
        description="ORPO from the workspace's comparisons, as `dpo` reads them: the "
        "chosen answers' negative log-likelihood plus lambda times -log sigma(log odds "
        "chosen - log odds rejected), no reference model. The last line printed is the "
        "final adapter folder.",
        plan=PlanProfile(rows_per_example=2),
        metric_keys=(*_PAIR_KEYS, "loss/nll", "loss/odds_ratio", "log_odds_ratio"),
    )
)

DEFAULT_KIND = "ppo"
"""The algorithm a form or a plan starts on when none is named."""
