"""DPO, KTO and SFT bound to the shared launch (core.train.launch): each offline trainer
takes its dataset where PPO takes prompts, and no reward. One code path for the CLI and
the GUI."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.offline.data import DataReport
from core.offline.dpo import DPOTrainer
from core.offline.kto import KTOTrainer
from core.offline.sft import SFTTrainer
from core.train import launch
from core.train.launch import Algorithm

if TYPE_CHECKING:
    from core.model.session import ModelSession
    from core.store import Store
    from core.train import RunControl, TrainingRun

DPO = Algorithm.of(DPOTrainer)
KTO = Algorithm.of(KTOTrainer)
SFT = Algorithm.of(SFTTrainer)


def start_offline_run(
    store: Store,
    algorithm: Algorithm,
    session: ModelSession,
    data: Sequence[Any],
    config: Any,
    report: DataReport | None = None,
    name: str | None = None,
    control: RunControl | None = None,
    source: str | None = None,
) -> TrainingRun:
    """Build the trainer (every check), then record a new run with what its data was."""
    run = launch.start_run(store, algorithm, session, None, data, config, (), name, control)
    _note_data(store, run.run_id, report, source)
    return run


def resume_offline_run(
    store: Store,
    algorithm: Algorithm,
    checkpoint: Path,
    session: ModelSession,
    data: Sequence[Any],
    steps: int | None = None,
    control: RunControl | None = None,
) -> TrainingRun:
    """Continue the run saved in `checkpoint` on the same data (see launch.resume_run)."""
    return launch.resume_run(
        store, algorithm, checkpoint, session, None, data, steps, None, control
    )


def _note_data(store: Store, run_id: int, report: DataReport | None, source: str | None) -> None:
    config = dict(store.run(run_id).config)
    config["data"] = {
        "source": source,
        "used": report.used if report else None,
        "skipped": dict(report.skipped) if report else {},
    }
    store.update_run_config(run_id, config)
