"""A training run in a workspace: the one owner of a trainer's record, control and events.

`TrainingRun.events()` drives a step-wise trainer until its last step or a stop:

    RunStarted -> (StepDone | RunPaused -> RunResumed)* -> RunEnded

and is the only writer of the run's status in the store. Every way out is recorded:
finished or stopped (with a final checkpoint), failed (a step raised: the message says
which checkpoint to resume from), interrupted (Ctrl-C or SIGTERM mid-step). A process
that dies without a word (kill -9) leaves its run `running` but unlocked, and the next
Store.open marks it interrupted (core.store.runs). Each step's metrics also go to the
run's `reporters` (core.train.reporting: TensorBoard...), closed when the run ends.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from core.config import to_dict
from core.errors import StudioError
from core.train.control import NamedReward, RunControl
from core.train.distributed import SAVE_CHECKPOINT, current_world
from core.train.events import (
    GuardFired,
    RunEnded,
    RunEvent,
    RunPaused,
    RunResumed,
    RunStarted,
    StepDone,
    StepResult,
)

if TYPE_CHECKING:
    from core.model.session import ModelSession
    from core.store import Store
    from core.train.guardrails import Guardrails
    from core.train.reporting import Reporter

log = logging.getLogger("rlhf_studio.train")

FINAL_STATUSES = ("stopped", "finished", "failed", "interrupted")


class StepwiseTrainer(Protocol):
    """What a run needs from a trainer (every trainer of core.algorithms)."""

    kind: ClassVar[str]
    session: ModelSession
    config: Any  # the trainer's own config class (each has .steps and .checkpoint_every)
    reward: NamedReward | None  # None for the offline trainers
    checkpoint_dir: Path | None
    last_checkpoint: Path | None

    @property
    def step_count(self) -> int: ...
    def step(self) -> StepResult: ...
    def save_checkpoint(self, meta: Mapping[str, Any] | None = None) -> Path | None: ...


class TrainingRun:
    """One run of `trainer`, recorded as run `run_id` of `store` (which holds its lock)."""

    def __init__(
        self,
        trainer: StepwiseTrainer,
        store: Store,
        run_id: int,
        control: RunControl | None = None,
        resumed: bool = False,
        resumed_from: dict[str, Any] | None = None,
        reporters: Sequence[Reporter] = (),
    ) -> None:
        self.trainer, self.store, self.run_id = trainer, store, run_id
        self.reporters = list(reporters)
        """core.train.reporting trackers of each step's metrics (a caller may set them
        until the run starts); closed when the run ends."""
        self.control = control if control is not None else RunControl()
        self.guardrails: Guardrails | None = None
        """Rules that pause the run when it goes wrong (core.train.guardrails); a caller
        may set them until the run starts."""
        self.stop_on_guard = False
        """A guardrail that fires stops the run (with a checkpoint) instead of pausing it:
        the CLI's way, where nobody is there to resume."""
        self._resumed, self._resumed_from = resumed, resumed_from
        self._status = store.run(run_id).status
        self._swapped_in: list[NamedReward] = []  # rewards this run was handed (it closes them)
        # The step of the newest checkpoint (a resumed run starts at its checkpoint's).
        self._saved_step = trainer.step_count if trainer.last_checkpoint is not None else None

    # ----------------------------------------------------------------- facade

    @property
    def status(self) -> str:
        """running | paused | stopped | finished | failed | interrupted."""
        return self._status

    @property
    def config(self) -> Any:
        return self.trainer.config

    @property
    def step_count(self) -> int:
        return self.trainer.step_count

    @property
    def last_checkpoint(self) -> Path | None:
        return self.trainer.last_checkpoint

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def stop(self) -> None:
        self.control.stop()

    def swap_reward(self, reward: NamedReward) -> None:
        """Train against `reward` from the next step on (see RunControl.swap_reward)."""
        self.control.swap_reward(reward)

    def __iter__(self) -> Iterator[StepDone]:
        """The steps only (StepDone has a StepResult's step, metrics, samples, held_out)."""
        for event in self.events():
            if isinstance(event, StepDone):
                yield event

    # ------------------------------------------------------------------- loop

    def events(self) -> Generator[RunEvent, None, None]:
        """Train until the last step or a stop, yielding events; record every way out."""
        between_steps = True  # False while a step runs: an exception then leaves no checkpoint
        try:
            yield self._started()
            while self._next_step_runs():
                self._take_new_reward()
                between_steps = False
                result = self._step()
                between_steps = True
                yield _step_done(result, self.config.steps)
                fired = self._guard(result)
                if fired is not None:
                    yield fired
                # A pause takes effect after a step (never before the first: nothing to see).
                if self.control.paused and self.step_count < self.config.steps:
                    yield from self._pause()
            self._end("finished" if self.step_count >= self.config.steps else "stopped")
        except BaseException as error:
            if self._status not in FINAL_STATUSES:
                if between_steps and isinstance(error, GeneratorExit):
                    self._checkpoint_before_followers_stop()
                    current_world().agree(False)  # the other processes stop with this one
                    self._end("stopped")  # the consumer left between steps: a clean stop
                else:
                    self._interrupted(error)
            raise
        finally:
            self._close_swapped_rewards()
            for reporter in self.reporters:
                reporter.close()
        yield RunEnded(self.run_id, self._status, _path_or_none(self.last_checkpoint))

    def _next_step_runs(self) -> bool:
        """Whether another step runs; over several processes this process (rank 0) tells
        the others (core.train.distributed.follow), so they stop with it."""
        go_on = self.step_count < self.config.steps and not self.control.stop_requested
        if not go_on:
            self._checkpoint_before_followers_stop()
        return current_world().agree(go_on)

    def _checkpoint_before_followers_stop(self) -> None:
        """Sharded (FSDP), the other processes hold parts of the final checkpoint: it is
        gathered while they still follow."""
        if getattr(self.trainer, "sharded", False):
            self._end_checkpoint()

    def _started(self) -> RunStarted:
        history = self.store.metrics(self.run_id) if self._resumed else []
        if self.guardrails is not None:
            self.guardrails.seed(history)  # "the start" is the run's, not this session's
        return RunStarted(
            self.run_id,
            self.store.run(self.run_id).name,
            to_dict(self.config),
            history,
            self._resumed_from,
        )

    def _guard(self, result: StepResult) -> GuardFired | None:
        """Check the step against the guardrails; one that fires pauses (or stops) the run
        after this step, and is logged."""
        if self.guardrails is None:
            return None
        fired = self.guardrails.check(result.metrics)
        if fired is None:
            return None
        log.warning("run %s: guardrail %s fired at step %s", self.run_id, fired.rule, fired.step)
        if self.stop_on_guard:
            self.control.stop()
        else:
            self.control.pause()
        return fired

    def _pause(self) -> Iterator[RunEvent]:
        # Between steps the model lock is free: the GUI may sample the policy now.
        self._set_status("paused")
        yield RunPaused(self.step_count)
        self.control.wait_while_paused()
        if not self.control.stop_requested:
            self._set_status("running")
            yield RunResumed(self.step_count)

    def _step(self) -> StepResult:
        """One step, recorded, with its scheduled checkpoint; a failure marks the run failed."""
        try:
            result = self.trainer.step()
            self._record(result)
            every = self.config.checkpoint_every
            if every and self.step_count % every == 0:
                self._save_checkpoint()
        except StudioError as error:
            self._fail(str(error))
            raise
        except Exception as error:  # a bug: record it, keep the traceback
            self._fail(f"{type(error).__name__}: {error}")
            raise
        return result

    def _record(self, result: StepResult) -> None:
        metrics = {key: value for key, value in result.metrics.items() if key != "step"}
        self.store.add_metrics(self.run_id, result.step, metrics)
        for reporter in self.reporters:
            reporter.log(result.step, metrics)
        if result.samples:
            self.store.add_samples(self.run_id, result.step, result.samples)
        if result.held_out:
            self.store.add_samples(self.run_id, result.step, result.held_out, split="eval")

    def _save_checkpoint(self) -> Path:
        meta = {"run_id": self.run_id, "workspace_id": self.store.workspace_id}
        if getattr(self.trainer, "sharded", False):
            current_world().agree(SAVE_CHECKPOINT)  # the followers gather their shards too
        path = self.trainer.save_checkpoint(meta)
        if path is None:  # only a follower rank without a folder returns none; runs are rank 0's
            raise StudioError("The run's trainer saved no checkpoint: it has no checkpoint folder.")
        self._saved_step = self.step_count
        self.store.add_checkpoint(self.run_id, self.step_count, str(path))
        return path

    def _take_new_reward(self) -> None:
        reward = self.control.take_reward()
        if reward is None:
            return
        old, self.trainer.reward = self.trainer.reward, reward
        if any(old is mine for mine in self._swapped_in):
            self._swapped_in = [mine for mine in self._swapped_in if mine is not old]
            _close(old)
        self._swapped_in.append(reward)

    def _close_swapped_rewards(self) -> None:
        pending = self.control.take_reward()  # asked for, but the run ended first
        for reward in [*self._swapped_in, *([pending] if pending is not None else [])]:
            _close(reward)
        self._swapped_in = []

    # ----------------------------------------------------------------- status

    def _set_status(self, status: str, error: str | None = None) -> None:
        self._status = status
        self.store.set_run_status(self.run_id, status, error)

    def _end(self, status: str) -> None:
        """Finished or stopped: a final checkpoint (unless this step has one), the status."""
        self._end_checkpoint()
        self._set_status(status)
        self._back_up_store()

    def _end_checkpoint(self) -> None:
        """The final checkpoint, unless this step has one; a failure to write it fails the run."""
        if self.step_count > 0 and self._saved_step != self.step_count:
            try:
                self._save_checkpoint()
            except StudioError as error:
                self._fail(str(error))
                raise

    def _fail(self, reason: str) -> None:
        self._record_final("failed", reason)

    def _interrupted(self, error: BaseException) -> None:
        what = type(error).__name__
        self._record_final(
            "interrupted",
            f"Interrupted mid-step ({what}); resume it from its last checkpoint.",
        )

    def _record_final(self, status: str, reason: str) -> None:
        """Record a final status; if even that write fails (a full disk), drop the lock so
        the next open of the store marks the run interrupted, and let the first error show."""
        self._status = status
        try:
            self.store.set_run_status(self.run_id, status, reason)
        except Exception:
            self.store.release_run(self.run_id)
            return
        self._back_up_store()

    def _back_up_store(self) -> None:
        """A rolling backup of the store at each run's end (core.store.backup); a backup
        that cannot be written (a full disk) is logged, never a reason to fail the run."""
        try:
            self.store.backup()
        except StudioError as error:
            log.warning(
                "No backup of %s at the end of run %s: %s", self.store.path, self.run_id, error
            )


def _step_done(result: StepResult, total: int) -> StepDone:
    return StepDone(
        result.step,
        total,
        dict(result.metrics),
        [dict(sample) for sample in result.samples],
        [dict(answer) for answer in result.held_out],
    )


def _path_or_none(path: Path | None) -> str | None:
    return str(path) if path is not None else None


def _close(reward: object) -> None:
    close = getattr(reward, "close", None)
    if close is not None:
        close()
