"""The screenshot tour's stand-in Hugging Face cache (app/screenshot_models.py): two tiny
models built locally, read by the Model page's scanner with size, dtype and a shape for
the memory planner; HF_HUB_CACHE set back after the tour."""

from __future__ import annotations

import os

from app.screenshot_models import TOUR_MODELS, tour_hub_cache
from core.model.local import hub_cache_dir, scan_hub_cache


def test_tour_cache_lists_both_models_and_sets_the_variable_back(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", "/somewhere/else")
    with tour_hub_cache(tmp_path) as cache:
        assert hub_cache_dir() == cache
        models = scan_hub_cache(cache)
    assert os.environ["HF_HUB_CACHE"] == "/somewhere/else"
    assert [model.name for model in models] == list(TOUR_MODELS)
    by_name = {model.name: model for model in models}
    assert by_name["studio-tour/tiny-gpt2"].dtype == "float32"
    assert by_name["studio-tour/tiny-qwen2"].dtype == "bfloat16"
    for model in models:
        assert model.source == "hub cache" and model.size_bytes > 1_000_000, model
        assert model.shape is not None, model  # the planner can give its memory verdict
