"""Replacing or unloading the model never makes the GUI thread walk or free the old one:
parameter counts are counted once per model, and a replaced model is freed on a thread of
its own, one module at a time (bench/gui_stall.py measures what that spares the GUI)."""

from __future__ import annotations

import gc
import threading
import time
import weakref

from core.config import LoraSpec, ModelSpec
from core.model.session import ModelSession, ParamCounts


def load(path, **overrides) -> ModelSession:
    return ModelSession.load(ModelSpec(name_or_path=str(path), device="cpu", **overrides))


def test_parameter_counts_are_counted_once_and_again_after_a_new_adapter(
    tiny_model_dir, tmp_path, monkeypatch
):
    small = load(tiny_model_dir, lora=LoraSpec(r=2))
    small.save_adapter(tmp_path / "r2")
    session = load(tiny_model_dir, lora=LoraSpec(r=8))
    before = session.param_counts()
    walks = []
    original = type(session.model).parameters
    monkeypatch.setattr(
        type(session.model),
        "parameters",
        lambda self, *a, **k: walks.append(1) or original(self, *a, **k),
    )
    assert session.param_counts() == before and walks == []  # cached: no second walk

    session.load_adapter(tmp_path / "r2")
    after = session.param_counts()
    assert walks  # the adapter changed: counted again
    assert after == small.param_counts() and after.trainable < before.trainable


def test_unload_empties_every_module_and_frees_the_model(tiny_model_dir):
    session = load(tiny_model_dir)
    leaf = next(m for m in session.model.modules() if m._parameters)
    weight = weakref.ref(next(iter(leaf._parameters.values())))
    model_ref = weakref.ref(session.model)
    session.unload()
    assert session.model is None and not leaf._parameters
    assert weight() is None  # the tensors are freed at once, cycles or not
    assert session.param_counts() == ParamCounts(total=0, trainable=0)
    del leaf
    gc.collect()
    assert model_ref() is None


def test_a_replaced_model_is_freed_off_the_calling_thread(tiny_model_dir, workspace, tmp_path):
    from PySide6.QtCore import QSettings

    from app.app_state import AppState

    state = AppState(workspace, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    first, second = load(tiny_model_dir), load(tiny_model_dir)
    state.set_session(first)
    unloaded_on = []
    unload = first.unload
    first.unload = lambda: (unloaded_on.append(threading.current_thread().name), unload())
    state.set_session(second)
    deadline = time.monotonic() + 30
    while first.model is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert unloaded_on == ["model-unload"] and first.model is None
    # One long-lived thread frees every replaced model: none is started per replacement.
    assert [t.name for t in threading.enumerate()].count("model-unload") == 1
    assert state.session is second and second.model is not None

    state.set_session(None)  # Unload: freed before it returns
    assert second.model is None


def test_a_reload_reuses_the_tokenizer_it_is_given(tiny_model_dir, monkeypatch):
    import core.model.session

    first = load(tiny_model_dir)
    monkeypatch.setattr(core.model.session, "load_tokenizer", lambda *a: 1 / 0)  # never read again
    again = ModelSession.load(
        ModelSpec(name_or_path=str(tiny_model_dir), device="cpu"), tokenizer=first.tokenizer
    )
    assert again.tokenizer is first.tokenizer and again.model is not first.model
