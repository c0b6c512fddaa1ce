"""Which examples a trainer from stored feedback learns from: one selection for the CLI
and the GUI, for new runs and resumed ones, keyed by the data its spec reads
(core.algorithms: pairs | thumbs | demonstrations).

A resumed run must see exactly the data it was trained on (its checkpoint keeps a
fingerprint), so every setting that shapes the data (DPO's `ties`) comes from the
checkpoint's saved config on resume, never from the form or the flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.algorithms import AlgorithmSpec, spec_of
from core.errors import StudioError

if TYPE_CHECKING:
    from core.config.io import Dataclass
    from core.offline.data import DataReport
    from core.store import Store

EXAMPLE_NOUNS = {"pairs": "pairs", "thumbs": "answers", "demonstrations": "demonstrations"}
"""What the examples of each data kind are called in messages."""


@dataclass(frozen=True)
class DataChoice:
    """Where the examples come from: the CLI's --from / --data / --no-pairs, the Train
    page's data box."""

    source: str = "all"
    """Whose feedback: human | ai | all."""
    data_file: Path | None = None
    """Demonstrations: a .jsonl / .csv file (None: the chosen sides of the comparisons)."""
    with_pairs: bool = True
    """Thumbs: the comparisons' sides count too (False: the ratings only)."""
    min_confidence: float | None = None
    """AI labels less sure than this (|2p - 1|) never train (None: the pairs export's
    default, core.data.preference_export.DEFAULT_MIN_CONFIDENCE; 0 keeps coin flips)."""


def dataset_for(
    kind: str,
    store: Store,
    choice: DataChoice,
    config: Dataclass | None = None,
    resume_from: Path | None = None,
) -> tuple[list, DataReport]:
    """(examples, report of what was used and skipped) for a run of `kind`. `config` is
    the new run's settings; with `resume_from` the checkpoint's own settings count."""
    from core.data.preference_export import DEFAULT_MIN_CONFIDENCE
    from core.offline import data

    spec = spec_of(kind)
    if resume_from is not None:
        config = saved_config(spec, resume_from)
    confidence = DEFAULT_MIN_CONFIDENCE if choice.min_confidence is None else choice.min_confidence
    if spec.data == "pairs":
        ties = getattr(config, "ties", "skip")
        return data.store_pairs(store, choice.source, ties, confidence)
    if spec.data == "thumbs":
        return data.store_thumbs(store, choice.source, choice.with_pairs, confidence)
    if spec.data == "demonstrations":
        if choice.data_file is not None:
            return data.read_demonstrations(choice.data_file)
        return data.chosen_demonstrations(store.comparisons(choice.source), store.resolutions())
    raise StudioError(
        f"{spec.label} learns from {spec.data}, not from stored feedback; start it with "
        "a prompt set and a reward."
    )


def saved_config(spec: AlgorithmSpec, checkpoint: Path) -> Dataclass:
    """The config a checkpoint of `spec`'s algorithm was saved with."""
    from core.config.io import load_json
    from core.train.checkpoints import resolve_checkpoint
    from core.train.launch import check_checkpoint_algorithm

    folder = resolve_checkpoint(Path(checkpoint))
    check_checkpoint_algorithm(folder, spec)  # another algorithm's checkpoint: one line
    return load_json(spec.config_class, folder / f"{spec.kind}_config.json")


def noun_of(kind: str) -> str:
    """What `kind`'s examples are called ('pairs', 'answers', 'demonstrations')."""
    return EXAMPLE_NOUNS.get(spec_of(kind).data, "examples")
