"""The built-in demo model: corpus, packing, build-once cache, the built model, the CLI."""

import re
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

import core.demo.cache as demo_cache
import core.demo.train as demo_train
from core.cli import main
from core.demo import (
    DEMO_PROMPTS,
    DemoBuildConfig,
    demo_model_info,
    ensure_demo_model,
    is_demo_model_built,
)
from core.demo.corpus import generate_labelled_reviews, generate_reviews, plural
from core.demo.threads import ThreadGovernor
from core.demo.train import IGNORE_INDEX, pack_documents
from core.progress import no_progress
from resources import resource_path

# Small enough to build in a few seconds: for the cache tests, not for its samples.
TINY_BUILD = DemoBuildConfig(
    n_reviews=200, n_eval_reviews=20, vocab_size=300, n_layer=1, n_embd=32, n_head=2, steps=3
)

# The real model is built into .pytest_home before the first test (tests/conftest.py:
# pytest_collection_finish), outside every test's timeout.

_vader = SentimentIntensityAnalyzer()


def vader(text: str) -> float:
    return _vader.polarity_scores(text)["compound"]


# --- corpus ------------------------------------------------------------------


def test_generate_reviews_is_deterministic_per_seed():
    assert generate_reviews(300, seed=3) == generate_reviews(300, seed=3)
    assert generate_reviews(300, seed=3) != generate_reviews(300, seed=4)


def test_corpus_is_varied_ascii_and_covers_every_domain():
    reviews = generate_labelled_reviews(2000, seed=0)
    texts = [review.text for review in reviews]
    assert len(set(texts)) / len(texts) > 0.97
    assert all(text.isascii() and "{" not in text and "  " not in text for text in texts)
    assert {review.domain for review in reviews} >= {"movie", "book", "restaurant", "hotel"}
    assert len(Counter(review.domain for review in reviews)) == 7
    lengths = [len(text.split()) for text in texts]
    assert min(lengths) >= 5 and max(lengths) <= 60


def test_corpus_sentiment_is_clear_for_vader():
    reviews = generate_labelled_reviews(1500, seed=1)
    scores = {
        label: [vader(r.text) for r in reviews if r.sentiment == label]
        for label in ("positive", "negative", "mixed")
    }
    for label, sign in (("positive", 1), ("negative", -1)):
        assert len(scores[label]) > 400
        clear = [score for score in scores[label] if sign * score > 0.3]
        assert len(clear) / len(scores[label]) > 0.95, label
    assert len(scores["mixed"]) > 150


def test_every_demo_prompt_continues_both_ways_in_the_corpus():
    """PPO on a sentiment reward needs openings the base model can finish either way."""
    assert 30 <= len(DEMO_PROMPTS) <= 60
    assert len(set(DEMO_PROMPTS)) == len(DEMO_PROMPTS)
    lines = resource_path("prompts", "demo.txt").read_text(encoding="utf-8").splitlines()
    assert [line for line in lines if line.strip()] == DEMO_PROMPTS
    texts = generate_reviews(DemoBuildConfig().n_reviews, seed=DemoBuildConfig().corpus_seed)
    signs: dict[str, set[str]] = {prompt: set() for prompt in DEMO_PROMPTS}
    for text in texts:
        for prompt, seen in signs.items():
            if len(seen) < 2 and text.startswith(prompt + " "):
                score = vader(text)
                seen.update({"+"} if score > 0.3 else {"-"} if score < -0.3 else set())
    assert [prompt for prompt, seen in signs.items() if len(seen) < 2] == []


def test_plural_of_subjects():
    assert [plural(w) for w in ("movie", "comedy", "coffee maker", "sushi bar")] == [
        "movies",
        "comedies",
        "coffee makers",
        "sushi bars",
    ]


# --- packing -----------------------------------------------------------------


def test_pack_documents_keeps_documents_whole_and_masks_padding():
    docs = [[5, 6, 0], [7, 8, 9, 0], [10, 0], [11, 12, 13, 14, 0]]
    input_ids, labels = pack_documents(docs, length=6, fill_id=1)
    assert input_ids.tolist() == [
        [5, 6, 0, 1, 1, 1],
        [7, 8, 9, 0, 10, 0],
        [11, 12, 13, 14, 0, 1],
    ]
    assert (labels == IGNORE_INDEX).tolist() == (input_ids == 1).tolist()


# --- threads -------------------------------------------------------------------


def run_governor(governor: ThreadGovernor, seconds_per_thread_count: dict[int, float], steps=40):
    for step in range(steps):
        governor.record(seconds_per_thread_count[governor.threads_for(step)])
    return governor.schedule


def test_governor_keeps_all_cores_while_they_are_faster():
    schedule = run_governor(ThreadGovernor(2, window=8), {1: 0.4, 2: 0.25})
    assert schedule == [(0, 1), (8, 2)]


def test_governor_falls_back_to_one_thread_when_cores_are_busy():
    """Another busy process makes 2 OpenMP threads far slower than 1 (measured 5x)."""
    schedule = run_governor(ThreadGovernor(2, window=8), {1: 0.4, 2: 2.0})
    assert schedule == [(0, 1), (8, 2), (16, 1)]


def test_governor_fixed_and_single_core():
    assert run_governor(ThreadGovernor.fixed(3), {3: 1.0}) == [(0, 3)]
    assert run_governor(ThreadGovernor(1), {1: 1.0}) == [(0, 1)]


# --- cache -------------------------------------------------------------------


@pytest.fixture
def tmp_home(tmp_path, monkeypatch) -> Path:
    """A fresh, empty data folder, and a counter of real builds."""
    monkeypatch.setenv("RLHF_STUDIO_HOME", str(tmp_path / "home"))
    calls = []
    real_build = demo_train.build_demo_model

    def counting_build(folder, config=None, progress=None):
        calls.append(folder)
        return real_build(folder, config, progress)

    monkeypatch.setattr(demo_train, "build_demo_model", counting_build)
    return calls


def test_ensure_demo_model_builds_once_then_reuses(tmp_home):
    calls = tmp_home
    events = []
    folder = ensure_demo_model(lambda *event: events.append(event), config=TINY_BUILD)
    assert len(calls) == 1 and is_demo_model_built(folder)
    assert folder.name == f"v{demo_cache.DEMO_VERSION}"
    assert events[-1][0] == events[-1][1]  # progress reached its total
    assert [e[0] for e in events] == sorted(e[0] for e in events)
    weights_mtime = (folder / "model.safetensors").stat().st_mtime_ns

    assert ensure_demo_model(config=TINY_BUILD) == folder
    assert len(calls) == 1
    assert (folder / "model.safetensors").stat().st_mtime_ns == weights_mtime
    assert [p.name for p in folder.parent.iterdir() if p.is_dir()] == [folder.name]

    ensure_demo_model(rebuild=True, config=TINY_BUILD)
    assert len(calls) == 2 and is_demo_model_built(folder)
    assert [p.name for p in folder.parent.iterdir() if p.is_dir()] == [folder.name]


def test_killed_build_leaves_nothing_that_looks_built(tmp_home, monkeypatch):
    counting_build = demo_train.build_demo_model

    def crashing_build(folder, config=None, progress=None):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
        raise KeyboardInterrupt  # the user closed the app mid-build

    monkeypatch.setattr(demo_train, "build_demo_model", crashing_build)
    with pytest.raises(KeyboardInterrupt):
        ensure_demo_model(config=TINY_BUILD)
    folder = demo_cache.demo_model_folder()
    assert not folder.exists() and not is_demo_model_built()
    # A staging folder left by a harder kill (no cleanup ran) is swept by the next build.
    (folder.parent / f".{folder.name}.building-99999").mkdir()
    monkeypatch.setattr(demo_train, "build_demo_model", counting_build)
    assert ensure_demo_model(config=TINY_BUILD) == folder
    assert [p.name for p in folder.parent.iterdir() if p.is_dir()] == [folder.name]


def test_a_second_process_waits_for_the_first_build(tmp_home):
    """While another holder has the build lock, ensure_demo_model waits, then reuses."""
    folder = demo_cache.demo_model_folder()
    messages: list[str] = []
    results: list[Path] = []
    lock = folder.parent / f"{folder.name}.lock"
    with demo_cache._exclusive_lock(lock, no_progress):
        waiter = threading.Thread(
            target=lambda: results.append(
                ensure_demo_model(lambda d, t, m: messages.append(m), config=TINY_BUILD)
            )
        )
        waiter.start()
        deadline = time.monotonic() + 30
        while not messages and time.monotonic() < deadline:
            time.sleep(0.05)
        assert messages and "waiting" in messages[0]
        assert not is_demo_model_built() and not results
    waiter.join(timeout=120)
    assert results == [folder] and is_demo_model_built()


# --- the real demo model -------------------------------------------------------


@pytest.mark.slow
def test_demo_model_folder_is_a_standard_hf_folder(demo_model_dir):
    names = {path.name for path in demo_model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert {"generation_config.json", "demo_model.json"} <= names
    info = demo_model_info(demo_model_dir)
    assert info["corpus_size"] >= 10_000 and info["final_train_loss"] < 2.0
    assert info["build_seconds"] > 0
    model = AutoModelForCausalLM.from_pretrained(demo_model_dir, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir, local_files_only=True)
    assert model.config.model_type == "gpt2"
    assert tokenizer.eos_token_id == model.generation_config.eos_token_id
    assert tokenizer.pad_token_id == model.generation_config.pad_token_id
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert len(tokenizer) <= model.config.vocab_size


@pytest.mark.slow
def test_demo_model_writes_review_like_text_that_stops(demo_model_dir):
    model = AutoModelForCausalLM.from_pretrained(demo_model_dir, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir, local_files_only=True)
    prompts = DEMO_PROMPTS[::4]  # 10 openings across domains
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    torch.manual_seed(0)
    with torch.no_grad():
        output = model.generate(
            **batch,
            do_sample=True,
            temperature=0.9,
            top_k=0,
            max_new_tokens=48,
            num_return_sequences=3,
        )  # (B * 3, T + new)
    responses = output[:, batch["input_ids"].shape[1] :]
    finished = [tokenizer.eos_token_id in row.tolist() for row in responses]
    assert sum(finished) / len(finished) >= 0.8
    texts = tokenizer.batch_decode(responses, skip_special_tokens=True)
    words = [word for text in texts for word in text.split()]
    plain = [w for w in words if re.fullmatch(r"[A-Za-z][a-z-]*[.,!?:]?", w)]
    assert len(plain) / len(words) > 0.95
    scores = [vader(text) for text in texts]
    assert any(s > 0.3 for s in scores) and any(s < -0.3 for s in scores)


@pytest.mark.slow
def test_greedy_batch_matches_single_prompt(demo_model_dir):
    """Left padding must not change a continuation (positions follow the attention mask)."""
    model = AutoModelForCausalLM.from_pretrained(demo_model_dir, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir, local_files_only=True)
    prompts = ["The movie was", "I bought this blender and"]
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    with torch.no_grad():
        together = model.generate(**batch, do_sample=False, max_new_tokens=20)
        single = tokenizer(prompts[:1], return_tensors="pt")
        alone = model.generate(**single, do_sample=False, max_new_tokens=20)
    first = together[0, batch["input_ids"].shape[1] :]
    assert tokenizer.decode(first, skip_special_tokens=True) == tokenizer.decode(
        alone[0, single["input_ids"].shape[1] :], skip_special_tokens=True
    )


# --- CLI -----------------------------------------------------------------------


@pytest.mark.slow
def test_cli_demo_model_prints_the_folder_last(demo_model_dir, capsys):
    assert main(["demo-model"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == str(demo_model_dir)
    assert "demo model" in lines[0]
