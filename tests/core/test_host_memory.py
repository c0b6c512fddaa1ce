"""An update pass's freed tensors leave the process at once on the CPU (core.model.host_memory).
Each case runs in a fresh interpreter: glibc's thresholds are per process."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _is_glibc_linux() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        ctypes.CDLL(None).gnu_get_libc_version  # noqa: B018
    except AttributeError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _is_glibc_linux(), reason="glibc's malloc (Linux) only")

PROBE = """
import json, sys
from pathlib import Path
import torch
from core.model.host_memory import update_memory_returned

def rss():
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS"))
    return int(line.split()[1]) * 1024

def fragment():
    # 40 layer-sized blocks, all freed but the last (the heap's top block, so glibc cannot
    # shrink the heap from the top): what an update pass leaves behind.
    blocks = [torch.ones(2**20) for _ in range(40)]  # 4 MiB each
    last = blocks[-1]
    del blocks
    return last

big = torch.ones(4 * 2**20)
del big  # a 16 MiB free: glibc raises its mmap threshold to 16 MiB here
device = torch.device(sys.argv[1])
# The model only by its weights' size: parameters on the meta device hold no memory.
elements = {"none": None, "small": 2**20, "gpt2-sized": 128 * 2**20, "large": 192 * 2**20}[
    sys.argv[2]
]
model = None if elements is None else torch.nn.Linear(elements, 1, bias=False, device="meta")
before = rss()
with update_memory_returned(device, model):
    inside = fragment()
    retained_inside = rss() - before
del inside
after = rss()
outside = fragment()  # after the block: the heap again, as glibc's own rule had it
print(json.dumps({"inside": retained_inside, "outside": rss() - after}))
"""


def _probe(device: str, model: str = "none", **env: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, device, model],
        cwd=REPO,
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_inside_an_update_freed_tensors_leave_and_after_it_the_heap_is_back():
    result = _probe("cpu")
    assert result["inside"] < 16 * 2**20  # the one block still alive (4 MiB) and noise
    assert result["outside"] > 120 * 2**20  # 160 MiB freed, kept by the heap for reuse


def test_only_a_model_of_768_mib_or_more_holds_the_threshold():
    """A smaller model's pass keeps glibc's heap (its page faults would cost more speed than
    its holes cost memory); a 768 MiB one returns its freed blocks."""
    assert _probe("cpu", "small")["inside"] > 120 * 2**20  # 4 MiB of weights
    assert _probe("cpu", "gpt2-sized")["inside"] > 120 * 2**20  # 512 MiB of weights
    assert _probe("cpu", "large")["inside"] < 16 * 2**20  # 768 MiB of weights


def test_the_weights_size_counts_each_parameter_at_its_stored_width():
    import torch

    from core.model.host_memory import HOLD_FROM_WEIGHT_BYTES, holds_for, weight_bytes

    layer = torch.nn.Linear(1000, 10, device="meta")
    assert weight_bytes(layer) == (1000 * 10 + 10) * 4
    assert weight_bytes(layer.to(torch.bfloat16)) == (1000 * 10 + 10) * 2
    assert not holds_for(layer) and holds_for(None)
    big = torch.nn.Linear(HOLD_FROM_WEIGHT_BYTES // 4, 1, bias=False, device="meta")
    assert holds_for(big)


def test_nothing_changes_for_a_gpu_run_or_under_a_users_own_threshold():
    """The same blocks stay in the heap: the pass leaves glibc as it was."""
    assert _probe("meta")["inside"] > 120 * 2**20  # any device but the CPU
    assert _probe("cpu", MALLOC_MMAP_THRESHOLD_=str(64 * 2**20))["inside"] > 120 * 2**20


def test_every_trainer_runs_its_update_inside_the_block(tiny_model_dir, monkeypatch, tmp_path):
    """PPO (and GRPO/RLOO: the same on-policy update), the offline trainers, the reward
    model (one block per optimiser step)."""
    import contextlib

    from core.config import LoraSpec, ModelSpec, PPOConfig, RMConfig
    from core.model.session import ModelSession
    from core.offline import trainer as offline_trainer
    from core.offline.config import SFTConfig
    from core.offline.data import Example
    from core.offline.sft import SFTTrainer
    from core.onpolicy import trainer as onpolicy
    from core.ppo import PPOTrainer
    from core.reward_model import fit as rm_fit
    from core.reward_model.training import PreferencePair, train_reward_model
    from core.rewards import RewardContext, build_reward

    entered: list[str] = []

    @contextlib.contextmanager
    def recording(device, model=None):
        entered.append(f"{device} {model is not None}")
        yield

    monkeypatch.setattr(onpolicy, "update_memory_returned", recording)
    monkeypatch.setattr(offline_trainer, "update_memory_returned", recording)
    monkeypatch.setattr(rm_fit, "update_memory_returned", recording)
    session = ModelSession.load(ModelSpec(name_or_path=str(tiny_model_dir), device="cpu"))
    config = PPOConfig(steps=1, batch_size=2, mini_batch_size=2, max_new_tokens=4)
    reward = build_reward(["length=20"], RewardContext())
    PPOTrainer(session, reward, ["I loved", "The movie was"], config).step()
    data = [Example(f"Review {i}:", "Wonderful.") for i in range(4)]
    SFTTrainer(session, None, data, SFTConfig(steps=1, batch_size=2, micro_batch_size=2)).step()
    assert entered == ["cpu True", "cpu True"]  # with the model, whose size decides
    pairs = [PreferencePair("Review:", "great fun", "boring plot") for _ in range(5)]
    rm = RMConfig(base=str(tiny_model_dir), epochs=1, batch_size=4, lora=LoraSpec(r=4, alpha=8))
    train_reward_model(pairs, rm, tmp_path / "rm", device="cpu")
    assert entered == ["cpu True"] * 3  # 4 pairs to train on (one held out): one step


@pytest.mark.parametrize(
    ("preset", "dtype", "holds"),
    [
        ("qwen2.5-0.5b", "float32", True),  # the memory target's shape: held as before
        ("qwen2.5-0.5b", "bfloat16", True),
        ("smollm2-360m", "float32", True),
        ("smollm2-360m", "bfloat16", False),  # 691 MiB
        ("gpt2-small", "float32", False),  # 475 MiB: the hold cost DPO a sixth of its step
        ("tiny", "float32", False),
    ],
)
def test_which_bench_shapes_hold(preset, dtype, holds):
    """Built on the meta device (no memory): the qwen2.5-0.5b shape of the memory target keeps
    the hold, so its peaks are those docs/benchmarks.md records; gpt2-small no longer holds."""
    import torch
    from transformers import AutoModelForCausalLM

    from bench.random_models import PRESETS
    from core.model.host_memory import holds_for

    make_config, vocab = PRESETS[preset]
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(make_config(vocab), dtype=getattr(torch, dtype))
    assert holds_for(model) is holds


def test_the_demo_model_does_not_hold(tiny_model_dir):
    from core.config import ModelSpec
    from core.model.host_memory import holds_for
    from core.model.session import ModelSession, resolve_model_path

    for folder in (resolve_model_path("demo"), str(tiny_model_dir)):
        session = ModelSession.load(ModelSpec(name_or_path=folder, device="cpu"))
        assert not holds_for(session.model), folder
