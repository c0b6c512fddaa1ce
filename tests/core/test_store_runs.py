"""The store's run records: status, configuration, per-step metrics, samples and
checkpoints, and what resuming a run truncates."""

import math
import time

import pytest

from core.errors import StudioError
from core.store import Store


@pytest.fixture
def store(workspace):
    with Store.open(workspace) as opened:
        yield opened


def test_runs_status_and_listing(store):
    first = store.create_run("ppo", {"lr": 1e-5})
    second = store.create_run("reward_model", {"epochs": 1}, name="rm on human labels")
    run = store.run(first)
    assert (run.kind, run.name, run.config, run.status, run.error) == (
        "ppo",
        f"ppo-{first}",
        {"lr": 1e-5},
        "running",
        None,
    )
    time.sleep(0.002)  # timestamps have millisecond resolution
    store.set_run_status(first, "failed", error="NaN in loss")
    failed = store.run(first)
    assert (failed.status, failed.error) == ("failed", "NaN in loss")
    assert failed.updated > failed.created
    assert [r.id for r in store.runs()] == [first, second]
    assert [r.name for r in store.runs("reward_model")] == ["rm on human labels"]
    assert store.latest_run().id == second and store.latest_run("ppo").id == first
    with pytest.raises(ValueError, match="status"):
        store.set_run_status(first, "exploded")
    with pytest.raises(StudioError, match="no run with id 99"):
        store.run(99)
    store.update_run_config(first, {"lr": 2e-5, "note": "warmer"})
    assert store.run(first).config == {"lr": 2e-5, "note": "warmer"}
    with pytest.raises(StudioError, match="no run with id 99"):
        store.update_run_config(99, {})
    store.delete_run(second)
    assert [r.id for r in store.runs()] == [first]


def test_metrics_replace_a_step_and_come_back_in_step_order(store):
    run_id = store.create_run("ppo", {})
    store.add_metrics(run_id, 2, {"reward/mean": 0.5})
    store.add_metrics(run_id, 1, {"reward/mean": 0.1, "objective/kl": 0.0})
    store.add_metrics(run_id, 2, {"reward/mean": 0.6, "loss/policy": math.nan})
    rows = store.metrics(run_id)
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[0] == {"step": 1, "reward/mean": 0.1, "objective/kl": 0.0}
    assert rows[1]["reward/mean"] == 0.6 and math.isnan(rows[1]["loss/policy"])
    with pytest.raises(ValueError, match="step"):
        store.add_metrics(run_id, 3, {"step": 3})
    with pytest.raises(StudioError, match="no run"):
        store.add_metrics(99, 1, {"x": 1.0})


TRAIN = {"split": "train"}


def test_samples_checkpoints_and_resume_truncation(store):
    run_id = store.create_run("ppo", {})
    for step in (1, 2, 3):
        store.add_metrics(run_id, step, {"reward/mean": float(step)})
        store.add_samples(
            run_id,
            step,
            [
                {"prompt": "p", "response": f"r{step}", "reward": step, "reference": "ref"},
                {"prompt": "q", "response": "s", "reward": None},
            ],
        )
        store.add_checkpoint(run_id, step, f"ckpt/step-{step}")
    store.add_samples(run_id, 2, [{"prompt": "held", "response": "out", "reward": 1}], "eval")
    assert store.samples(run_id, 2) == [
        {"step": 2, "prompt": "p", "response": "r2", "reward": 2.0, "reference": "ref", **TRAIN},
        {"step": 2, "prompt": "q", "response": "s", "reward": None, "reference": None, **TRAIN},
    ]
    assert [s["response"] for s in store.samples(run_id, split="eval")] == ["out"]
    assert len(store.samples(run_id)) == 6 and len(store.samples(run_id, split=None)) == 7
    # Saving step 3 again replaces its record instead of adding a second one.
    again = store.add_checkpoint(run_id, 3, "ckpt/step-3b")
    assert [(c.step, c.path) for c in store.checkpoints(run_id)] == [
        (1, "ckpt/step-1"),
        (2, "ckpt/step-2"),
        (3, "ckpt/step-3b"),
    ]
    assert store.checkpoints(run_id)[-1].id == again

    store.delete_metrics_after(run_id, 1)
    assert [r["step"] for r in store.metrics(run_id)] == [1]
    assert {s["step"] for s in store.samples(run_id)} == {1}
    assert [c.step for c in store.checkpoints(run_id)] == [1]
    with pytest.raises(ValueError, match="response"):
        store.add_samples(run_id, 4, [{"prompt": "p"}])


def test_deleting_a_run_deletes_its_records(store):
    run_id = store.create_run("ppo", {})
    store.add_metrics(run_id, 1, {"x": 1.0})
    store.add_samples(run_id, 1, [{"prompt": "p", "response": "r", "reward": 0.0}])
    store.add_checkpoint(run_id, 1, "ckpt")
    store.delete_run(run_id)
    assert store.metrics(run_id) == [] and store.samples(run_id) == []
    assert store.checkpoints(run_id) == []
