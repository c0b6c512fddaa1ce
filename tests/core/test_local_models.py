"""The models on this machine (core.model.local): the hub cache's layout read without
network or torch, only causal LMs listed, links out of a model's folder not followed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from core.model.local import find_local_models, hub_cache_dir, scan_hub_cache


def put_in_hub_cache(cache: Path, repo_id: str, folder: Path, revision: str = "rev1") -> Path:
    """Copy a model folder into `cache` as huggingface_hub lays it out: blobs, snapshot
    links into them, refs/main naming the revision. Returns the snapshot folder."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    for file in folder.iterdir():
        blob = repo / "blobs" / f"{revision}-{file.name}"
        shutil.copyfile(file, blob)
        os.symlink(os.path.relpath(blob, snapshot), snapshot / file.name)
    return snapshot


def test_the_hub_cache_lists_causal_lms_with_size_and_dtype(tmp_path, tiny_model_dirs):
    cache = tmp_path / "hub"
    snapshot = put_in_hub_cache(cache, "org/tiny-gpt2", tiny_model_dirs["gpt2"])
    put_in_hub_cache(cache, "org/tiny-llama", tiny_model_dirs["llama"])
    not_lm = tmp_path / "encoder"
    not_lm.mkdir()
    (not_lm / "config.json").write_text('{"architectures": ["BertForMaskedLM"]}')
    put_in_hub_cache(cache, "org/an-encoder", not_lm)
    models = scan_hub_cache(cache)
    assert [m.name for m in models] == ["org/tiny-gpt2", "org/tiny-llama"]
    gpt2 = models[0]
    assert gpt2.path == snapshot and gpt2.source == "hub cache"
    weights = tiny_model_dirs["gpt2"] / "model.safetensors"
    assert gpt2.size_bytes == weights.stat().st_size  # through the snapshot's link
    assert gpt2.dtype == "float32" and gpt2.architecture == "GPT2LMHeadModel"
    assert gpt2.shape is not None and gpt2.shape.layers >= 1


def test_refs_main_picks_the_revision_and_links_out_are_not_followed(tmp_path, tiny_model_dir):
    cache = tmp_path / "hub"
    put_in_hub_cache(cache, "org/m", tiny_model_dir, revision="old")
    repo = cache / "models--org--m"
    newer = repo / "snapshots" / "new"
    shutil.copytree(repo / "snapshots" / "old", newer, symlinks=True)
    (repo / "refs" / "main").write_text("new")
    outside = tmp_path / "elsewhere.safetensors"
    outside.write_bytes(b"x" * 10_000)
    (newer / "model.safetensors").unlink()
    os.symlink(outside, newer / "model.safetensors")  # leads out of the repo's folder
    [model] = scan_hub_cache(cache)
    assert model.path == newer and model.size_bytes == 0


def test_added_folders_follow_the_cache_and_a_missing_cache_is_empty(tmp_path, tiny_model_dir):
    models = find_local_models(tmp_path / "no-cache", [tiny_model_dir, tmp_path / "nothing"])
    assert [(m.name, m.source) for m in models] == [(tiny_model_dir.name, "added")]


def test_the_cache_folder_follows_huggingface_hubs_variables(tmp_path):
    assert hub_cache_dir({"HF_HUB_CACHE": "/a", "HF_HOME": "/b"}) == Path("/a")
    assert hub_cache_dir({"HF_HOME": "/b"}) == Path("/b/hub")
    assert hub_cache_dir({"XDG_CACHE_HOME": "/c"}) == Path("/c/huggingface/hub")
