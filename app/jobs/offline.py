"""The job of the trainers from stored feedback (DPO, KTO, SFT, ...): a generator run by
a Qt worker, yielding core's run events, like app/jobs/training.py's on-policy job (no Qt
here).

The worker opens its own Store, reads the data the request names through
core.data_selection (the CLI's selection, resume included) and starts or resumes the
run through core.offline.launch, the CLI's code path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.jobs.feedback import make_judge
from core.algorithms import spec_of
from core.data_selection import DataChoice, dataset_for
from core.errors import StudioError
from core.store import Store
from core.train import RunControl, RunEvent


@dataclass(frozen=True)
class OfflineRequest:
    """Everything an offline run needs besides the model session (plain data)."""

    workspace: Path
    kind: str
    """An offline kind of core.algorithms (an unknown one is refused)."""
    config: Any
    """The kind's config (DPOConfig, KTOConfig, ...)."""
    source: str = "all"
    """Whose feedback: human | ai | all."""
    data_file: Path | None = None
    """Demonstrations: a .jsonl / .csv file (None: the chosen sides of comparisons)."""
    name: str | None = None
    resume_from: Path | None = None
    """A checkpoint to continue (its run goes on with config.steps as its new total)."""
    with_pairs: bool = True
    """Thumbs: the comparisons' sides count too (False: the thumbs only, `--no-pairs`)."""


def load_offline_data(store: Store, request: OfflineRequest) -> tuple[list, Any]:
    """(dataset, DataReport) for the request's algorithm, as the CLI selects it (on
    resume with the checkpoint's own settings); an unknown kind is refused."""
    choice = DataChoice(request.source, request.data_file, request.with_pairs)
    return dataset_for(request.kind, store, choice, request.config, request.resume_from)


def run_offline(session: Any, request: OfflineRequest, control: RunControl) -> Iterator[RunEvent]:
    """Train, yielding the run's events; a refused start leaves no run record."""
    import torch

    from core.offline.launch import resume_offline_run, start_offline_run

    torch.set_grad_enabled(True)  # grad mode is per thread
    spec = spec_of(request.kind)
    if spec.on_policy:
        raise StudioError(f"{spec.label} trains on prompts with a reward, not stored feedback.")
    algorithm = spec.algorithm()
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
    the win-rate is measured on the prompt set's first `eval_count` prompts, by the judge
    and, for the demo judge under a preset rubric, by the rubric's ground truth too."""
    import torch

    from core.offline.loop import ai_dpo_round
    from core.rewards.judge_templates import PAIRWISE, parse_template
    from core.rlaif.truth import truth_referee

    torch.set_grad_enabled(True)
    store = Store.open(workspace)
    judge = make_judge(judge_choice, workspace, session)
    try:
        rows = store.prompts(prompt_set) if prompt_set else store.prompts()
        eval_prompts = [row.text for row in rows[:eval_count]]
        rubric = parse_template(judge_choice.rubric_text, judge_choice.rubric_source, PAIRWISE)
        truth = truth_referee(judge_choice.model, rubric)
        return ai_dpo_round(store, session, judge, config, n_pairs, eval_prompts, prompt_set,
                            truth=truth)  # fmt: skip
    finally:
        judge.unload()  # a no-op for a judge sharing the policy
        if judge.cache is not None:
            judge.cache.close()
        store.close()


# The round rated by a person (app/widgets/person_round_box.py): three jobs, the person
# rates on Compare & Rate between them.


def sample_person_round(
    session: Any, workspace: Path, n_pairs: int, prompt_set: str, seed: int
) -> list[tuple[int, int, int]]:
    """Two answers of the current adapter to each of up to `n_pairs` prompts of the set
    (one pair per prompt: Compare & Rate shows one pair per prompt), stored."""
    from core.offline.loop import sample_round_pairs

    with Store.open(workspace) as store:
        count = min(n_pairs, len(store.prompts(prompt_set)))
        return sample_round_pairs(store, session, count, prompt_set, seed)


def train_person_round(session: Any, workspace: Path, config: Any, pairs: int, rater: str) -> Any:
    """DPO on every comparison so far, from the current adapter; the round is recorded
    (its win-rate comes later, from the person's blind votes). Returns the DPORound."""
    import torch

    from core.offline.loop import record_round, train_round

    torch.set_grad_enabled(True)
    with Store.open(workspace) as store:
        run, last = train_round(store, session, config)
        adapter = str(run.last_checkpoint / "adapter")
        return record_round(store, run.run_id, pairs, rater, None,
                            last.get("eval/rewards/accuracy"), adapter)  # fmt: skip


def blind_person_pairs(
    session: Any, workspace: Path, prompt_set: str, count: int, adapter: str, seed: int
) -> list[tuple[int, int, int]]:
    """The new adapter's and the base's answers to the set's first `count` prompts, stored
    as (prompt id, adapter's generation, base's generation) for a blind vote; `adapter` is
    the round's adapter folder (<checkpoints>/run-<id>/step-<n>/adapter)."""
    from core.offline.loop import store_blind_pairs

    label = "/".join(Path(adapter).parts[-3:-1])  # run-<id>/step-<n>, as samples name it
    with Store.open(workspace) as store:
        prompts = store.prompts(prompt_set)[:count]
        return store_blind_pairs(store, session, prompts, label, seed)
