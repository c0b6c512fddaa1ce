"""The AI Feedback page's background work, as plain Python over core (no Qt here).

Each function runs in a job thread (app/workers.py) and opens its own Store there:
sqlite connections belong to the thread that made them. Judges and reward models (and
torch with them) are imported and loaded inside the job, never on the GUI thread, after
the start-up import warm-up (app/warm_up.py); a judge over the loaded policy shares
its weights and takes `session.lock` for every forward pass, so labelling waits between
PPO steps instead of racing them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.warm_up import wait_for_warm_up
from core.config import GenerationConfig, RMConfig
from core.errors import StudioError
from core.paths import next_reward_model_dir
from core.progress import Progress
from core.rlaif.labelling import LabelReport
from core.store import Store
from core.train.control import RunControl

if TYPE_CHECKING:  # heavy modules (torch): only their types are needed here
    from core.model.session import ModelSession
    from core.rating.agreement import PeopleReport
    from core.reward_model.training import EpochReport, RMResult
    from core.rewards.judge import LLMJudge
    from core.rlaif.agreement import AgreementReport
    from core.rlaif.loop import RoundRecord

POLICY_JUDGE = "policy"
"""The judge choice that means: the loaded model's base weights (adapter off)."""


@dataclass(frozen=True)
class JudgeChoice:
    """Which judge to use and with which rubric (plain data from the form)."""

    model: str
    """POLICY_JUDGE, 'demo', a local folder or a hub id."""
    rubric_text: str
    rubric_source: str
    """Where the rubric came from (a file path or '<editor>'), for messages and the store."""
    device: str = "auto"


@dataclass(frozen=True)
class LabelRequest:
    """One labelling pass."""

    workspace: Path
    judge: JudgeChoice
    n_pairs: int
    tie_margin: float
    sample_new: bool
    """Sample new pairs from the loaded policy when the stored ones are too few."""
    max_new_tokens: int = 32


@dataclass(frozen=True)
class RMRequest:
    """One reward-model training."""

    workspace: Path
    source: str
    """human | ai | all."""
    config: RMConfig
    out: Path
    device: str = "auto"


@dataclass(frozen=True)
class RMSummary:
    """What the page shows after training (plain data)."""

    folder: str
    best_epoch: int
    epochs_run: int
    eval_accuracy: float | None
    eval_accuracy_human: float | None
    n_train: int
    n_eval: int
    stopped: bool
    stopped_early: bool
    seconds: float
    coin_flips_dropped: int = 0
    """AI labels left out as too unsure to train on (the pairs export's confidence filter)."""


def make_judge(
    choice: JudgeChoice, workspace: Path, session: ModelSession | None = None
) -> LLMJudge:
    """An LLMJudge for `choice`, caching verdicts in the workspace (slow: loads a model)."""
    from core.rewards.judge import LLMJudge
    from core.rewards.judge_cache import JudgeCache
    from core.rewards.judge_templates import PAIRWISE, parse_template

    rubric = parse_template(choice.rubric_text, choice.rubric_source, PAIRWISE)
    cache = JudgeCache.for_workspace(workspace)
    if choice.model == POLICY_JUDGE:
        if session is None:
            raise StudioError(
                "The judge is the loaded model's base, but no model is loaded; load one on "
                "the Model page, or choose the demo model or a folder as judge."
            )
        return LLMJudge.from_session(session, pairwise=rubric, cache=cache)
    return LLMJudge.load(choice.model, device=choice.device, pairwise=rubric, cache=cache)


def _release(judge: LLMJudge) -> None:
    judge.unload()  # no-op for a judge sharing the policy
    judge.cache.close()


def run_labelling(
    request: LabelRequest,
    session: ModelSession | None,
    should_stop: Callable[[], bool],
    progress: Progress | None = None,
) -> LabelReport:
    """Judge up to `n_pairs` pairs and store the verdicts as `ai:<judge>` comparisons."""
    wait_for_warm_up(progress)
    from core.rlaif.labelling import label_pairs

    if request.sample_new and session is None:
        raise StudioError(
            "Sampling new pairs needs a loaded model; load one on the Model page, or untick "
            "'Sample new pairs' to label only stored generations."
        )
    judge = make_judge(request.judge, request.workspace, session)
    try:
        with Store.open(request.workspace) as store:
            return label_pairs(
                store,
                judge,
                request.n_pairs,
                policy=session if request.sample_new else None,
                generation=GenerationConfig(max_new_tokens=request.max_new_tokens, seed=None),
                tie_margin=request.tie_margin,
                batch_pairs=8,  # small batches: finer progress, and stop acts sooner
                progress=progress,
                should_stop=should_stop,
            )
    finally:
        _release(judge)


def _summary(result: RMResult, coin_flips_dropped: int = 0) -> RMSummary:
    best = result.best
    return RMSummary(
        coin_flips_dropped=coin_flips_dropped,
        folder=str(result.folder),
        best_epoch=result.best_epoch,
        epochs_run=len(result.epochs),
        eval_accuracy=best.eval_accuracy,
        eval_accuracy_human=best.eval_accuracy_human,
        n_train=result.n_train,
        n_eval=result.n_eval,
        stopped=result.stopped,
        stopped_early=result.stopped_early,
        seconds=result.seconds,
    )


def run_rm_training(
    request: RMRequest,
    should_stop: Callable[[], bool],
    on_epoch: Callable[[EpochReport], None],
    progress: Progress | None = None,
) -> RMSummary:
    """Train a Bradley–Terry reward model on the store's comparisons of `request.source`.

    `on_epoch(EpochReport)` is called in this thread after every epoch (the page relays
    it to the GUI thread as a signal). The training is recorded as a 'reward_model' run.
    """
    wait_for_warm_up(progress)
    from core.data.preference_export import drop_coin_flips, prompt_formats
    from core.reward_model.training import pairs_from_comparisons, train_reward_model

    with Store.open(request.workspace) as store:
        rows, flips = drop_coin_flips(store.comparisons(request.source))
        pairs = pairs_from_comparisons(
            rows, prompt_formats=prompt_formats(store), resolutions=store.resolutions()
        )
        result = train_reward_model(
            pairs,
            request.config,
            request.out,
            device=request.device,
            store=store,
            source=request.source,
            on_epoch=on_epoch,
            should_stop=should_stop,
            progress=progress,
        )
    return _summary(result, flips)


def compute_agreement(workspace: Path, device: str = "auto") -> AgreementReport:
    """The judge-vs-people agreement report (loads the newest reward model to score it)."""
    wait_for_warm_up()
    from core.rlaif.agreement import agreement_report

    with Store.open(workspace) as store:
        return agreement_report(store, device=device)


def compute_people_report(workspace: Path) -> PeopleReport:
    """Agreement between the people who rated, their habits and the pairs they disagree on."""
    from core.rating.agreement import people_report

    with Store.open(workspace) as store:
        return people_report(store)


@dataclass(frozen=True)
class RoundOutcome:
    """One interactive round, as the page reports it."""

    record: RoundRecord
    summary: RMSummary


def run_ai_round(
    workspace: Path,
    run_id: int,
    control: RunControl,
    session: ModelSession | None,
    judge_choice: JudgeChoice,
    config: RMConfig,
    on_epoch: Callable[[EpochReport], None],
    device: str = "auto",
    progress: Progress | None = None,
) -> RoundOutcome:
    """Rate a paused run's latest samples with the judge, retrain the RM, hand it to the run.

    The new reward model fine-tunes the one the previous round of this run installed (if
    any). The run takes it through `control` before its next step and closes it (and the
    one it replaces, if a round installed that) when done with it.
    """
    wait_for_warm_up(progress)
    from core.rewards.classifier import ClassifierReward
    from core.rlaif.labelling import label_pairs
    from core.rlaif.loop import (
        record_round,
        retrain_reward_model,
        rounds_of,
        samples_as_pairs,
    )

    with Store.open(workspace) as store:
        pairs = samples_as_pairs(store, run_id)
        judge = make_judge(judge_choice, workspace, session)
        try:
            label_pairs(store, judge, pairs=pairs)
            rater = judge.rater
        finally:
            _release(judge)
        earlier = rounds_of(store, run_id)
        init_from = earlier[-1].reward_model if earlier else None
        result = retrain_reward_model(
            store, config, next_reward_model_dir(workspace), source="all", init_from=init_from,
            device=device, on_epoch=on_epoch, progress=progress,
        )  # fmt: skip
        record = record_round(store, run_id, pairs, rater, result)
    control.swap_reward(ClassifierReward(result.folder, device=device))
    return RoundOutcome(record, _summary(result, result.coin_flips_dropped))
