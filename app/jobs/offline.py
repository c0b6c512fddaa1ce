"""The DPO / KTO / SFT training job: a generator run by a Qt worker, yielding core's run
events, like app/train_job.py's PPO job (no Qt here).

The worker opens its own Store, reads the data the request names (the store's
comparisons or ratings, or a demonstrations file) and starts or resumes the run through
core.offline.launch, the CLI's code path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.jobs.feedback import make_judge
from core.store import Store
from core.train import RunControl, RunEvent


@dataclass(frozen=True)
class OfflineRequest:
    """Everything an offline run needs besides the model session (plain data)."""

    workspace: Path
    kind: str
    """dpo | kto | sft."""
    config: Any
    """A DPOConfig, KTOConfig or SFTConfig."""
    source: str = "all"
    """Whose feedback: human | ai | all."""
    data_file: Path | None = None
    """SFT: a .jsonl / .csv demonstrations file (None: the chosen sides of comparisons)."""
    name: str | None = None
    resume_from: Path | None = None
    """A checkpoint to continue (its run goes on with config.steps as its new total)."""
    with_pairs: bool = True
    """KTO: the comparisons' sides count too (False: the thumbs only, `kto --no-pairs`)."""


def load_offline_data(store: Store, request: OfflineRequest) -> tuple[list, Any]:
    """(dataset, DataReport) for the request's algorithm."""
    from core.offline import data

    if request.kind == "dpo":
        return data.store_pairs(store, request.source, request.config.ties)
    if request.kind == "kto":
        return data.store_thumbs(store, request.source, request.with_pairs)
    if request.data_file is not None:
        return data.read_demonstrations(request.data_file)
    return data.chosen_demonstrations(store.comparisons(request.source))


def run_offline(session: Any, request: OfflineRequest, control: RunControl) -> Iterator[RunEvent]:
    """Train, yielding the run's events; a refused start leaves no run record."""
    import torch

    from core.offline.launch import ALGORITHMS, resume_offline_run, start_offline_run

    torch.set_grad_enabled(True)  # grad mode is per thread
    algorithm = ALGORITHMS[request.kind]
    store = Store.open(request.workspace)
    try:
        data, report = load_offline_data(store, request)
        if request.resume_from is not None:
            run = resume_offline_run(
                store, algorithm, request.resume_from, session, data,
                request.config.steps, control,
            )  # fmt: skip
        else:
            run = start_offline_run(
                store, algorithm, session, data, request.config, report, request.name,
                control, source=str(request.data_file or request.source),
            )  # fmt: skip
        yield from run.events()
    finally:
        store.close()


def run_dpo_round(
    session: Any,
    workspace: Path,
    judge_choice: Any,
    n_pairs: int,
    config: Any,
    prompt_set: str | None,
    eval_count: int = 10,
) -> Any:
    """One round of the DPO loop with the AI judge rating (core.offline.loop.ai_dpo_round):
    the win-rate is measured on the prompt set's first `eval_count` prompts."""
    import torch

    from core.offline.loop import ai_dpo_round

    torch.set_grad_enabled(True)
    store = Store.open(workspace)
    judge = make_judge(judge_choice, workspace, session)
    try:
        rows = store.prompts(prompt_set) if prompt_set else store.prompts()
        eval_prompts = [row.text for row in rows[:eval_count]]
        return ai_dpo_round(store, session, judge, config, n_pairs, eval_prompts, prompt_set)
    finally:
        judge.unload()  # a no-op for a judge sharing the policy
        if judge.cache is not None:
            judge.cache.close()
        store.close()
