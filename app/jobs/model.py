"""Jobs on the loaded model: load, describe, generate pairs, sample, AI-score (no Qt here).

Every function takes and returns plain data (or a ModelSession, the one shared object);
app/workers.py runs each in a thread of its own. Grad mode is thread-local, so each job sets
the mode it needs itself. Anything touching the model holds `session.lock`.

torch and the core modules over it are imported inside the jobs, never at module level:
the GUI imports this module at start-up, before the libraries are (see app/warm_up.py).
"""

from __future__ import annotations

import contextlib
import random
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.warm_up import wait_for_warm_up
from core.config import GenerationConfig, ModelSpec
from core.progress import Progress
from core.rewards import RewardContext, RewardSpec, build_reward

if TYPE_CHECKING:
    from core.model.session import ModelSession


@dataclass(frozen=True)
class LoadedModel:
    """A freshly loaded session and its description for display."""

    session: ModelSession
    info: dict[str, Any]


def load_model(spec: ModelSpec, progress: Progress | None = None, tokenizer=None) -> LoadedModel:
    """Load a model session (demo, local folder or hub id) and describe it; `tokenizer`
    (that of the session being reloaded) is reused rather than read again.

    Not under inference_mode: tensors created there can never take part in training.
    """
    wait_for_warm_up(progress)
    from core.model.session import ModelSession, describe

    session = ModelSession.load(spec, progress=progress, tokenizer=tokenizer)
    return LoadedModel(session, describe(session))


class LoadCancelled(Exception):
    """Raised from the progress callback when the user cancelled the load (or build)."""


def load_model_cancellable(
    spec: ModelSpec, cancel: threading.Event, progress: Progress | None = None
) -> LoadedModel | None:
    """`load_model`, stopped at its next progress report once `cancel` is set: None then.

    The demo build reports every optimiser step, so a cancelled build stops within a step
    and removes its half-built folder (core.demo.cache). A build waiting for another
    process's lock stops once that lock is free."""
    report = progress or (lambda _d, _t, _m: None)

    def checked(done: int, total: int, message: str) -> None:
        if cancel.is_set():
            raise LoadCancelled
        report(done, total, message)

    try:
        return load_model(spec, progress=checked)
    except Exception as error:
        cause: BaseException | None = error
        while cause is not None:  # a loader may wrap it in its own error
            if isinstance(cause, LoadCancelled):
                return None
            cause = cause.__cause__ or cause.__context__
        raise


def describe_session(session: ModelSession) -> dict[str, Any]:
    """The session's description (architecture, parameters, memory) for display.

    Only with a session loaded, so the model libraries are imported already."""
    from core.model.session import describe

    return describe(session)


@dataclass(frozen=True)
class Variant:
    """One side's recipe in Compare & Rate: which weights and which sampling settings."""

    label: str
    """What the side is, e.g. "policy (adapter)", "base", "checkpoint run 3 step 20"."""
    use_adapter: bool = True
    adapter_path: str | None = None
    """A checkpoint (PEFT folder) whose weights this side uses instead of the current ones."""
    generation: GenerationConfig = field(default_factory=GenerationConfig)


@dataclass(frozen=True)
class SideCompletion:
    """One completion produced for a side, with what produced it (for the store)."""

    variant: str
    text: str
    seed: int
    params: dict[str, Any]
    adapter: str | None


def generate_pair(
    session: ModelSession, prompt: str, variants: Sequence[Variant], seed: int
) -> list[SideCompletion]:
    """One completion of `prompt` per variant (in the variants' order).

    Each side gets its own seed drawn from `seed`, so two identical recipes still give
    two different samples. A checkpoint side swaps its adapter weights in for its turn;
    the session's own adapter is restored afterwards.
    """
    from core.model.generate import generate, generation_params

    draw = random.Random(seed)
    results = []
    with session.lock, _restored_adapter(session, variants):
        for variant in variants:
            side_seed = draw.randrange(2**31)
            config = replace(variant.generation, seed=side_seed, n=1)
            if variant.adapter_path:
                session.load_adapter(Path(variant.adapter_path))
            completion = generate(session, [prompt], config, use_adapter=variant.use_adapter)[0]
            results.append(
                SideCompletion(
                    variant=variant.label,
                    text=completion.text,
                    seed=side_seed,
                    params=generation_params(session, config) | {"variant": variant.label},
                    adapter=_adapter_name(session, variant),
                )
            )
    return results


def _adapter_name(session: ModelSession, variant: Variant) -> str | None:
    if not variant.use_adapter or not session.has_adapter:
        return None
    if variant.adapter_path:
        return variant.adapter_path
    return session.spec.adapter_path or "current adapter"


class _restored_adapter:
    """Save the session's adapter before checkpoint sides swap theirs in; restore after."""

    def __init__(self, session: ModelSession, variants: Sequence[Variant]) -> None:
        self._session = session
        self._needed = session.has_adapter and any(v.adapter_path for v in variants)
        self._folder: tempfile.TemporaryDirectory | None = None

    def __enter__(self) -> None:
        if self._needed:
            self._folder = tempfile.TemporaryDirectory(prefix="rlhf-studio-adapter-")
            self._session.save_adapter(Path(self._folder.name))

    def __exit__(self, *exc_info: object) -> None:
        if self._folder is not None:
            try:
                self._session.load_adapter(Path(self._folder.name))
            finally:
                self._folder.cleanup()


def generate_text(session: ModelSession, prompt: str, config: GenerationConfig) -> str:
    """What the current policy writes for `prompt` (used while training is paused)."""
    from core.model.generate import generate

    return generate(session, [prompt], replace(config, n=1), use_adapter=True)[0].text


@dataclass(frozen=True)
class SideScores:
    """AI scores of several responses: per source, raw and weighted, plus their sum."""

    sources: list[str]
    weights: list[float]
    values: list[list[float]]
    """values[i][j]: source i's raw score of response j."""

    def total(self, j: int) -> float:
        return sum(w * column[j] for w, column in zip(self.weights, self.values, strict=True))


class RewardCache:
    """Built reward sources by spec, reused across score jobs (building one can load a
    model). Only score jobs touch it, one at a time."""

    def __init__(self) -> None:
        self._sources: dict[tuple[str, str | None], Any] = {}

    def get(self, spec: RewardSpec, context: RewardContext):
        key = (spec.kind, spec.arg)
        if key not in self._sources:
            self._sources[key] = build_reward([replace(spec, weight=1.0)], context)
        return self._sources[key]

    def clear(self) -> None:
        for source in self._sources.values():
            close = getattr(source, "close", None)
            if close is not None:
                close()
        self._sources.clear()


def score_responses(
    specs: Sequence[RewardSpec],
    prompts: Sequence[str],
    responses: Sequence[str],
    cache: RewardCache,
    session: ModelSession | None = None,
    references: dict[str, str] | None = None,
) -> SideScores:
    """Score each response with every source in `specs` (raw scores and weights)."""
    wait_for_warm_up()
    import torch

    context = RewardContext(references=dict(references or {}), policy_session=session)
    names, weights, values = [], [], []
    # Sources that score with the policy (fluency) must not run during a training step.
    lock = session.lock if session is not None else contextlib.nullcontext()
    with lock, torch.no_grad():
        for spec in specs:
            source = cache.get(spec, context)
            names.append(_spec_label(spec))
            weights.append(spec.weight)
            values.append([float(v) for v in source.score(list(prompts), list(responses))])
    return SideScores(names, weights, values)


def _spec_label(spec: RewardSpec) -> str:
    return spec.kind if spec.arg is None else f"{spec.kind}={spec.arg}"
