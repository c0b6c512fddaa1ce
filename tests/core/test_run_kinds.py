"""What the Runs page shows per run kind (app/run_kinds.py, no Qt): metrics offered in
order, each once; figures from the last step reporting them; configs as rows."""

from __future__ import annotations

from app.run_kinds import flatten_config, kind_figures, metrics_for, row_figures
from core.algorithms import ALGORITHMS


def test_every_registered_kind_offers_metrics_and_figures():
    for kind in ALGORITHMS:
        assert metrics_for([kind], fallback=["x"]) != ["x"], kind
        assert kind_figures(kind) is not None, kind  # no blank Result/Also columns


def test_metrics_of_several_kinds_are_merged_headline_first():
    offered = metrics_for(["dpo", "ppo"], fallback=[])
    assert offered[0] == "loss" and "reward/mean" in offered
    assert len(offered) == len(set(offered))
    assert metrics_for([], fallback=["reward/mean"]) == ["reward/mean"]
    assert metrics_for(["reward_model"], fallback=[])[0] == "eval/accuracy"


def test_figures_read_the_last_step_that_reports_them():
    rows = [
        {"rewards/accuracy": 0.5, "rewards/margins": 0.1},
        {"rewards/accuracy": 0.6, "rewards/margins": -0.2, "eval/rewards/accuracy": 0.8},
        {"rewards/accuracy": 0.7, "rewards/margins": float("nan")},
    ]
    assert row_figures("dpo", rows) == ("accuracy 0.800", "margin -0.200")
    assert row_figures("rlaif_round", rows) == ("", "")


def test_config_rows_name_nested_settings_with_dots():
    config = {"lr": 1e-4, "lora": {"r": 16, "targets": ["q", "v"]}, "adapter": None}
    assert flatten_config(config) == [
        ("lr", "0.0001"), ("lora.r", "16"), ("lora.targets", "q, v"), ("adapter", "—"),
    ]  # fmt: skip
