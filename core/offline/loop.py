"""The rate -> train -> rate loop for DPO, one round at a time:

1. `sample_round_pairs`: two answers of the current adapter to each of the round's
   prompts, stored as generations (core.rlaif.labelling.generate_pairs).
2. They are rated: by a person on Compare & Rate (the GUI queues them there), or by the
   AI judge (`label_pairs`); `rated_pairs` counts how many are.
3. `train_round`: a DPO run on everything rated so far, starting from the current
   adapter, recorded as a DPO run.
4. `blind_win_rate`: the new adapter against the base (adapter off), one answer each to
   every evaluation prompt, shown to the judge in a random order; ties count a half.
   Rated by a person: `store_blind_pairs` stores the two answers to each prompt for
   Compare & Rate (which shuffles the sides), `human_win_rate` reads the votes back and
   `set_round_win_rate` notes the result on the round.
5. `record_round`: a run of kind 'dpo_round' noting the DPO run, the pairs, who rated,
   the win-rate and the held-out accuracy (the Runs page lists it).

`ai_dpo_round` does all of it with the judge.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.config import GenerationConfig
from core.errors import TrainingError
from core.offline.config import DPOConfig

if TYPE_CHECKING:
    from core.model.session import ModelSession
    from core.rewards.judge import LLMJudge
    from core.rlaif.labelling import PairRef
    from core.store import Store

ROUND_KIND = "dpo_round"


@dataclass(frozen=True)
class DPORound:
    """One round of the loop, as stored."""

    round_run_id: int
    dpo_run_id: int
    round: int
    pairs: int
    labelled_by: str
    win_rate: float | None
    held_out_accuracy: float | None
    adapter: str
    truth_win_rate: float | None = None
    """The same blind comparison refereed by the rubric's ground truth (core.rlaif.truth),
    where the rubric has one and the round was asked to measure it."""
    truth_by: str | None = None
    """Who refereed `truth_win_rate` (a TruthJudge's rater, `truth:<criterion>`)."""


def sample_round_pairs(
    store: Store, session: ModelSession, n_pairs: int, prompt_set: str | None, seed: int = 0
) -> list[PairRef]:
    """Two answers of the current adapter to each of `n_pairs` prompts, stored."""
    from core.rlaif.labelling import generate_pairs

    config = GenerationConfig(max_new_tokens=24, seed=seed, batch_size=64)
    return generate_pairs(store, session, n_pairs, config, prompt_set)


def train_round(store: Store, session: ModelSession, config: DPOConfig, source: str = "all"):
    """A DPO run on every stored comparison by `source`, from the current adapter; returns
    (the finished TrainingRun, its last step's metrics)."""
    from core.offline.data import store_pairs
    from core.offline.launch import DPO, start_offline_run

    pairs, report = store_pairs(store, source, config.ties)
    run = start_offline_run(store, DPO, session, pairs, config, report, source=source)
    last: dict[str, float] = {}
    for step in run:
        last = step.metrics
    if run.status != "finished" or run.last_checkpoint is None:
        raise TrainingError(f"The round's DPO run {run.run_id} ended {run.status}.")
    return run, last


def blind_win_rate(
    session: ModelSession, judge: LLMJudge, prompts: Sequence[str], seed: int = 0
) -> float:
    """Share of `prompts` where the judge prefers the adapter's answer to the base's (ties
    a half); each pair is shown in a random order."""
    return blind_win_rates(session, [judge], prompts, seed)[0]


def blind_win_rates(
    session: ModelSession, referees: Sequence[Any], prompts: Sequence[str], seed: int = 0
) -> list[float]:
    """`blind_win_rate` by each referee, on the same answers shown in the same order."""
    tuned, base = blind_answers(session, prompts, seed)
    return [_blind_score(referee, prompts, tuned, base, seed) for referee in referees]


def _blind_score(
    judge: Any, prompts: Sequence[str], tuned: list[str], base: list[str], seed: int
) -> float:
    order = random.Random(seed)
    tuned_left = [order.random() < 0.5 for _ in prompts]
    lefts = [t if flip else b for t, b, flip in zip(tuned, base, tuned_left, strict=True)]
    rights = [b if flip else t for t, b, flip in zip(tuned, base, tuned_left, strict=True)]
    results = judge.compare(list(prompts), lefts, rights)
    score = 0.0
    for result, flip in zip(results, tuned_left, strict=True):
        verdict = result.verdict()
        if verdict == "tie":
            score += 0.5
        elif (verdict == "left") == flip:
            score += 1.0
    return score / len(prompts)


def blind_answers(
    session: ModelSession, prompts: Sequence[str], seed: int = 0
) -> tuple[list[str], list[str]]:
    """(the adapter's answers, the base's answers) to `prompts`, with the same seed."""
    from core.model.generate import generate

    if not prompts:
        raise TrainingError("The win-rate needs evaluation prompts; choose a prompt set.")
    config = GenerationConfig(max_new_tokens=24, seed=seed, batch_size=64)
    tuned = [c.text for c in generate(session, list(prompts), config)]
    base = [c.text for c in generate(session, list(prompts), config, use_adapter=False)]
    return tuned, base


def store_blind_pairs(
    store: Store, session: ModelSession, prompts: Sequence[Any], adapter: str, seed: int = 0
) -> list[PairRef]:
    """The adapter's and the base's answers to each prompt row, stored as generations for
    a person to compare blind: (prompt id, adapter's generation, base's generation)."""
    from core.model.generate import generation_params

    tuned, base = blind_answers(session, [row.text for row in prompts], seed)
    config = GenerationConfig(max_new_tokens=24, seed=seed, batch_size=64)
    params = generation_params(session, config)
    pairs = []
    for row, tuned_text, base_text in zip(prompts, tuned, base, strict=True):
        tuned_id = store.add_generation(row.id, tuned_text, session.name, adapter, params, seed)
        base_id = store.add_generation(row.id, base_text, session.name, None, params, seed)
        pairs.append((row.id, tuned_id, base_id))
    return pairs


def _verdicts(store: Store, pairs: Sequence[PairRef]) -> dict[frozenset[int], tuple[int, str]]:
    """{the pair's two generation ids: (the preferred generation or 0, verdict)}, the
    latest human vote on each of `pairs`."""
    wanted = {frozenset(pair[1:]) for pair in pairs}
    votes: dict[frozenset[int], tuple[int, str]] = {}
    for row in store.comparisons("human"):
        key = frozenset((row.left_id, row.right_id))
        if key in wanted:
            winner = {"left": row.left_id, "right": row.right_id}.get(row.verdict, 0)
            votes[key] = (winner, row.verdict)
    return votes


def rated_pairs(store: Store, pairs: Sequence[PairRef]) -> int:
    """How many of `pairs` a person has rated (on Compare & Rate)."""
    return len(_verdicts(store, pairs))


def human_win_rate(store: Store, pairs: Sequence[PairRef]) -> tuple[float | None, int]:
    """(share of the rated blind `pairs` (prompt, adapter's, base's) a person preferred the
    adapter's answer in, ties and "both bad" a half; None before any vote, the votes)."""
    votes = _verdicts(store, pairs)
    score = 0.0
    for _prompt, tuned_id, base_id in pairs:
        vote = votes.get(frozenset((tuned_id, base_id)))
        if vote is not None:
            score += 1.0 if vote[0] == tuned_id else 0.0 if vote[0] == base_id else 0.5
    return (score / len(votes) if votes else None), len(votes)


def set_round_win_rate(
    store: Store, round_run_id: int, win_rate: float | None, judged_by: str, votes: int
) -> DPORound:
    """Note a round's blind win-rate measured after it was recorded (a person's votes)."""
    config = dict(store.run(round_run_id).config)
    config.update(win_rate=win_rate, win_rate_by=judged_by, win_rate_votes=votes)
    store.update_run_config(round_run_id, config)
    return next(r for r in rounds(store) if r.round_run_id == round_run_id)


def record_round(
    store: Store,
    dpo_run_id: int,
    pairs: int,
    labelled_by: str,
    win_rate: float | None,
    held_out_accuracy: float | None,
    adapter: str,
    win_rate_by: str | None = None,
    truth_win_rate: float | None = None,
    truth_by: str | None = None,
) -> DPORound:
    """Store one round (a finished run of kind 'dpo_round') and return it; `win_rate_by`
    names who judged the blind win-rate when it is not the rater of the pairs,
    `truth_by` who refereed `truth_win_rate` (the rubric's ground truth)."""
    number = len(store.runs(ROUND_KIND)) + 1
    config = {
        "round": number,
        "dpo_run": dpo_run_id,
        "pairs": pairs,
        "labelled_by": labelled_by,
        "win_rate": win_rate,
        "held_out_accuracy": held_out_accuracy,
        "adapter": adapter,
    }
    if win_rate_by is not None:
        config["win_rate_by"] = win_rate_by
    if truth_by is not None:
        config.update(truth_win_rate=truth_win_rate, truth_by=truth_by)
    run_id = store.create_run(ROUND_KIND, config, name=f"DPO round {number} (run {dpo_run_id})")
    store.set_run_status(run_id, "finished")
    return DPORound(run_id, dpo_run_id, number, pairs, labelled_by, win_rate,
                    held_out_accuracy, adapter, truth_win_rate, truth_by)  # fmt: skip


def rounds(store: Store) -> list[DPORound]:
    """Every recorded round, oldest first."""
    return [
        DPORound(
            row.id,
            row.config["dpo_run"],
            row.config["round"],
            row.config["pairs"],
            row.config["labelled_by"],
            row.config["win_rate"],
            row.config["held_out_accuracy"],
            row.config["adapter"],
            row.config.get("truth_win_rate"),
            row.config.get("truth_by"),
        )
        for row in sorted(store.runs(ROUND_KIND), key=lambda r: r.id)
    ]


def ai_dpo_round(
    store: Store,
    session: ModelSession,
    judge: LLMJudge,
    config: DPOConfig,
    n_pairs: int,
    eval_prompts: Sequence[str],
    prompt_set: str | None = None,
    seed: int = 0,
    referee: Any | None = None,
    truth: Any | None = None,
) -> DPORound:
    """A whole round with the AI judge rating: sample, judge, DPO, win-rate, record.

    `referee` (default: the judge) judges the blind win-rate: another judge, or the
    rubric's ground truth (core.rlaif.truth.TruthJudge), so the judge that labelled the
    pairs is not the one that says whether training on them helped. `truth` (a
    TruthJudge) referees the same blind pairs as well, recorded beside the win-rate."""
    from core.rlaif.labelling import label_pairs

    referee = referee if referee is not None else judge
    pairs = sample_round_pairs(store, session, n_pairs, prompt_set, seed)
    label_pairs(store, judge, pairs=pairs)
    run, last = train_round(store, session, config)
    referees = [referee] if truth is None else [referee, truth]
    win_rate, *by_truth = blind_win_rates(session, referees, eval_prompts, seed)
    adapter = str(run.last_checkpoint / "adapter")
    return record_round(store, run.run_id, len(pairs), judge.rater, win_rate,
                        last.get("eval/rewards/accuracy"), adapter,
                        referee.rater if referee is not judge else None,
                        by_truth[0] if by_truth else None,
                        truth.rater if truth is not None else None)  # fmt: skip
