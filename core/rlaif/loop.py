"""The interactive loop: pause PPO, rate its latest samples, retrain the reward, resume.

One round, from a paused run:

1. `samples_as_pairs`: the latest samples of the run become comparable pairs — each
   policy response against the reference response (adapter off) that PPO stored beside
   it — recorded as generations of the prompt (set `run-<id>`).
2. People rate them on the compare page, or `label_pairs(store, judge, pairs=...)` lets
   an AI judge do it.
3. `retrain_reward_model` trains a reward model on the grown set of comparisons, from
   the backbone or fine-tuning the previous reward model.
4. `TrainingRun.swap_reward` (or its RunControl) hands the run the new reward, which it
   takes before its next step; resuming continues PPO with it.

Each round is recorded as a run of kind 'rlaif_round' whose config names the PPO run,
its step, the pairs and the new reward model, so the run's history shows when and why
its reward changed (`rounds_of(store, run_id)`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.config import RMConfig
from core.data.preference_export import DEFAULT_MIN_CONFIDENCE
from core.errors import StudioError
from core.rlaif.labelling import PairRef
from core.train.reward_history import record_reward_change

if TYPE_CHECKING:
    from core.progress import Progress
    from core.reward_model.training import EpochReport, RMResult
    from core.rewards.classifier import ClassifierReward
    from core.rewards.judge import LLMJudge
    from core.store import Store

ROUND_KIND = "rlaif_round"


def samples_as_pairs(store: Store, run_id: int, steps: int = 1) -> list[PairRef]:
    """Pairs (policy response, reference response) from the last `steps` steps with samples.

    Samples without a reference, or whose two responses are identical, give no pair.
    Asking again reuses the stored prompts and generations, so a person and the judge
    rating the same samples rate the same pairs (their agreement can then be measured).
    """
    samples = store.samples(run_id)
    recorded = sorted({sample["step"] for sample in samples})
    if not recorded:
        raise StudioError(
            f"Run {run_id} has no samples yet; let it train a step or more, then pause it."
        )
    wanted = set(recorded[-steps:])
    run = store.run(run_id)
    model = str(run.config.get("model", "policy"))
    trainer_config = run.config.get(run.config.get("algorithm", run.kind), {})
    temperature = trainer_config.get("temperature")
    # The policy saw its prompts in the run's format: exports write chat rows for "chat".
    prompt_format = run.config.get("model_spec", {}).get("prompt_format", "plain")
    set_name = f"run-{run_id}"
    known = {row.text: row.id for row in store.prompts(set_name)}
    pairs = []
    for sample in samples:
        reference = sample.get("reference")
        if sample["step"] not in wanted or not reference or reference == sample["response"]:
            continue
        prompt_id = known.get(sample["prompt"])
        if prompt_id is None:
            [prompt_id] = store.add_prompts([sample["prompt"]], set_name=set_name)
            known[sample["prompt"]] = prompt_id
        params = {"run_id": run_id, "step": sample["step"], "temperature": temperature,
                  "prompt_format": prompt_format}  # fmt: skip
        adapter = f"run-{run_id}/step-{sample['step']}"
        stored = {(row.text, row.adapter): row.id for row in store.generations(prompt_id)}
        policy = stored.get((sample["response"], adapter))
        if policy is None:
            policy = store.add_generation(prompt_id, sample["response"], model, adapter, params)
        base = stored.get((reference, None))
        if base is None:
            base = store.add_generation(prompt_id, reference, model, None, params)
        pairs.append((prompt_id, policy, base))
    return pairs


def retrain_reward_model(
    store: Store,
    config: RMConfig,
    out: str | Path,
    *,
    source: str = "all",
    init_from: str | Path | None = None,
    device: str = "auto",
    on_epoch: Callable[[EpochReport], None] | None = None,
    progress: Progress | None = None,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
) -> RMResult:
    """Train a reward model on the store's comparisons; `init_from` fine-tunes an earlier one.

    AI labels less sure than `min_confidence` are left out (counted in the result's
    coin_flips_dropped), as the pairs export leaves them out.

    Fine-tuning starts from the earlier model's merged weights and head, so a few new
    comparisons adjust it instead of learning from scratch. Returns the RMResult.
    """
    from dataclasses import replace

    from core.data.preference_export import drop_coin_flips, prompt_formats
    from core.reward_model.training import pairs_from_comparisons, train_reward_model

    if init_from is not None:
        config = replace(config, base=str(init_from))
    rows, flips = drop_coin_flips(store.comparisons(source), min_confidence)
    pairs = pairs_from_comparisons(
        rows, prompt_formats=prompt_formats(store), resolutions=store.resolutions()
    )
    result = train_reward_model(
        pairs, config, out, device=device, store=store, source=source,
        on_epoch=on_epoch, progress=progress,
    )  # fmt: skip
    result.coin_flips_dropped = flips
    return result


@dataclass(frozen=True)
class RoundRecord:
    """One round of the loop, as stored."""

    round_run_id: int
    ppo_run_id: int
    step: int
    pairs: int
    labelled_by: str
    reward_model: str
    held_out_accuracy: float | None


def record_round(
    store: Store,
    ppo_run_id: int,
    pairs: Sequence[PairRef],
    labelled_by: str,
    result: RMResult,
    step: int | None = None,
) -> RoundRecord:
    """Store one round (a finished run of kind 'rlaif_round') and return it."""
    if step is None:
        metrics = store.metrics(ppo_run_id)
        step = int(metrics[-1]["step"]) if metrics else 0
    accuracy = result.best.eval_accuracy
    reward_spec = f"rm={result.folder}"
    config = {
        "ppo_run": ppo_run_id,
        "step": step,
        "pairs": len(pairs),
        "labelled_by": labelled_by,
        "reward_model": str(result.folder),
        "reward_model_run": result.run_id,
        "held_out_accuracy": accuracy,
        "reward_spec": reward_spec,
    }
    round_id = store.create_run(
        ROUND_KIND, config, name=f"round at step {step} of run {ppo_run_id}"
    )
    store.set_run_status(round_id, "finished")
    record_reward_change(store, ppo_run_id, step, [reward_spec])
    return RoundRecord(
        round_id, ppo_run_id, step, len(pairs), labelled_by, str(result.folder), accuracy
    )


def rounds_of(store: Store, ppo_run_id: int) -> list[RoundRecord]:
    """The rounds recorded for a PPO run, oldest first."""
    rows = [r for r in store.runs(ROUND_KIND) if r.config.get("ppo_run") == ppo_run_id]
    return [
        RoundRecord(
            row.id,
            ppo_run_id,
            int(row.config["step"]),
            int(row.config["pairs"]),
            str(row.config["labelled_by"]),
            str(row.config["reward_model"]),
            row.config.get("held_out_accuracy"),
        )
        for row in sorted(rows, key=lambda r: r.id)
    ]


def ai_round(
    store: Store,
    ppo_run_id: int,
    judge: LLMJudge,
    config: RMConfig,
    out: str | Path,
    *,
    steps: int = 1,
    init_from: str | Path | None = None,
    device: str = "auto",
) -> tuple[RoundRecord, ClassifierReward]:
    """A whole round with an AI rater: pairs from samples, judge them, retrain, record.

    Returns the record and the new reward source (`rm=<out>`) for `TrainingRun.swap_reward`.
    """
    from core.rewards.classifier import ClassifierReward
    from core.rlaif.labelling import label_pairs

    pairs = samples_as_pairs(store, ppo_run_id, steps)
    label_pairs(store, judge, pairs=pairs)
    result = retrain_reward_model(store, config, out, init_from=init_from, device=device)
    record = record_round(store, ppo_run_id, pairs, judge.rater, result)
    return record, ClassifierReward(result.folder, device=device)
