"""What every trainer shares: the run that owns a trainer's record, control and events.

A trainer (core.ppo.PPOTrainer today) is a step-wise object: `step()` returns a
StepResult, `save_checkpoint()` writes a folder. A `TrainingRun` (core.train.run) owns
everything around it: the store's run record (the only writer of its status), the lock
that keeps one process per run, pause/resume/stop (core.train.control), checkpoints on
schedule and at the end, and the events the CLI and the GUI consume (core.train.events).
"""

from core.train.control import RunControl
from core.train.events import (
    RunEnded,
    RunEvent,
    RunPaused,
    RunResumed,
    RunStarted,
    StepDone,
    StepResult,
)
from core.train.run import TrainingRun

__all__ = [
    "RunControl",
    "RunEnded",
    "RunEvent",
    "RunPaused",
    "RunResumed",
    "RunStarted",
    "StepDone",
    "StepResult",
    "TrainingRun",
]
