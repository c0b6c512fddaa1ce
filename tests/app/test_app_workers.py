"""Background jobs: the work runs on its own thread, and everything it produces reaches the
GUI thread as signals emitted there, in order, `finished` last."""

from __future__ import annotations

import threading

import pytest

from app.app_state import AppState
from app.main import settings_at
from app.workers import ToGui, start_generator_job, start_job
from core.train.control import RunControl


@pytest.fixture
def state(qtbot, workspace, tmp_path):
    app_state = AppState(workspace, settings_at(tmp_path / "settings.ini"))
    yield app_state
    app_state.stop_all_jobs()
    qtbot.waitUntil(lambda: not app_state.jobs(), timeout=30_000)
    app_state.close()


def _recorder():
    """Slots that note what they received and on which thread."""
    seen: list[tuple[str, object, str]] = []

    def note(kind: str):
        return lambda *value: seen.append((kind, value, threading.current_thread().name))

    return seen, note


def test_function_job_runs_off_the_gui_thread_and_reports_on_it(qtbot, state):
    seen, note = _recorder()
    ran_on: list[str] = []

    def work(x: int, progress) -> int:
        ran_on.append(threading.current_thread().name)
        for i in range(50):
            progress(i + 1, 50, f"step {i + 1}")
        return x * 2

    job = start_job(state, work, 21, description="double", context="Doubling",
                    on_done=note("returned"), on_progress=note("progress"))  # fmt: skip
    job.finished.connect(note("finished"))
    assert [j.worker for j in state.jobs()] == [job]
    qtbot.waitUntil(lambda: job.done, timeout=10_000)

    gui = threading.main_thread().name
    assert ran_on and ran_on[0] != gui
    assert {thread for _, _, thread in seen} == {gui}
    kinds = [kind for kind, _, _ in seen]
    assert kinds[-2:] == ["returned", "finished"] and seen[-2][1] == (42,)
    progress = [value for kind, value, _ in seen if kind == "progress"]
    assert progress and progress[-1] == (50, 50, "step 50")  # batches collapse to the newest
    assert not state.jobs()


def test_an_error_reaches_the_reporter_and_the_page_then_finished(qtbot, state, monkeypatch):
    reported: list[tuple[str, str]] = []
    monkeypatch.setattr(
        state.errors, "report", lambda error, context: reported.append((str(error), context))
    )
    seen, note = _recorder()

    def fail() -> None:
        raise RuntimeError("out of memory")

    job = start_job(state, fail, description="fail", context="Failing", on_error=note("error"))
    job.finished.connect(note("finished"))
    qtbot.waitUntil(lambda: job.done, timeout=10_000)
    assert reported == [("out of memory", "Failing")]
    assert [kind for kind, _, _ in seen] == ["error", "finished"]


def test_generator_job_yields_every_item_in_order_and_stops_when_asked(qtbot, state):
    items: list[object] = []
    finished: list[bool] = []
    job = start_generator_job(
        state, lambda: iter([{"step": i} for i in range(200)]), description="steps",
        context="Stepping", control=RunControl(), on_yielded=items.append,
        on_finished=lambda: finished.append(True),
    )  # fmt: skip
    qtbot.waitUntil(lambda: job.done, timeout=10_000)
    assert items == [{"step": i} for i in range(200)] and finished == [True]

    release = threading.Event()
    produced: list[int] = []

    def endless():
        i = 0
        while True:
            release.wait(5)
            produced.append(i)
            yield i
            i += 1

    stopped = start_generator_job(
        state, endless, description="endless", context="Stepping", control=RunControl(),
        on_yielded=lambda _: None, on_finished=lambda: None,
    )  # fmt: skip
    stopped.quit()
    release.set()
    qtbot.waitUntil(lambda: stopped.done, timeout=10_000)
    assert len(produced) == 1  # it stopped after the item in hand, not at the end of time


def test_a_callback_marked_to_gui_runs_on_the_gui_thread_before_the_result(qtbot, state):
    seen, note = _recorder()

    def train(on_epoch) -> str:
        for epoch in range(3):
            on_epoch(epoch, {"loss": 1.0 / (epoch + 1)})
        return "trained"

    job = start_job(state, train, on_epoch=ToGui(note("epoch")), description="rm",
                    context="Training", on_done=note("returned"))  # fmt: skip
    qtbot.waitUntil(lambda: job.done, timeout=10_000)
    assert [(kind, value) for kind, value, _ in seen] == [
        ("epoch", (0, {"loss": 1.0})), ("epoch", (1, {"loss": 0.5})),
        ("epoch", (2, {"loss": 1.0 / 3})), ("returned", ("trained",)),
    ]  # fmt: skip
    assert {thread for _, _, thread in seen} == {threading.main_thread().name}
