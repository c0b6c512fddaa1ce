"""What both sides of the PPO benchmark share: settings, prompts, the model, measurements.

Each side runs in its own process (see ppo_vs_trl.py), so the peak memory a side
reports is its own: on the CPU the process's peak resident set (ru_maxrss), on a GPU
the CUDA allocator's peak (`torch.cuda.max_memory_allocated`). Both include the models,
since holding fewer model copies is half of what is being compared.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import torch

RESULT_PREFIX = "BENCH_RESULT "
"""A child process prints its result as one line: this prefix, then JSON."""


@dataclass(frozen=True)
class BenchSettings:
    """One benchmark configuration, applied identically to both trainers."""

    model_dir: str
    """Policy model folder (a causal LM with its tokenizer); the value model of TRL, too."""
    rm_dir: str
    """Reward model folder (a 1-label sequence classifier with the policy's tokenizer)."""
    device: str = "cpu"
    """cpu | cuda (| auto, resolved by the parent before it starts the sides)."""
    steps: int = 8
    """PPO steps (one rollout batch + ppo_epochs of updates each)."""
    batch_size: int = 16
    """Rollouts per step (TRL: per_device_train_batch_size, one device, no accumulation)."""
    mini_batch_size: int = 8
    """Rollouts per optimiser step (TRL: batch_size / num_mini_batches)."""
    ppo_epochs: int = 4
    """Passes over each rollout batch (TRL: num_ppo_epochs)."""
    max_new_tokens: int = 24
    """Response length limit (TRL: response_length); both stop at EOS."""
    temperature: float = 1.0
    """Rollout sampling temperature."""
    learning_rate: float = 3e-4
    """AdamW learning rate, constant (no schedule) on both sides."""
    kl_coef: float = 0.05
    """Fixed KL coefficient (ours: kl_mode 'fixed'; TRL's is always fixed)."""
    missing_eos_penalty: float | None = None
    """Subtracted from the score of responses without EOS (None = off), both sides."""
    lora_r: int = 16
    """LoRA rank, same target modules on both sides (core.model.lora.lora_targets)."""
    lora_alpha: int = 32
    """LoRA alpha."""
    bf16: bool = False
    """Load policy and value weights in bfloat16 (GPU); otherwise float32."""
    samples_per_step: int = 0
    """Our trainer's extra adapter-off samples per step (the GUI's default is 4; TRL has none)."""
    seed: int = 0
    """Seed of both runs."""
    threads: int | None = None
    """torch CPU threads per side (None: torch's default)."""
    prompts: tuple[str, ...] = field(default_factory=tuple)
    """The prompts both sides draw from (filled by the parent)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        data = dataclasses.asdict(self)
        data["prompts"] = list(self.prompts)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchSettings:
        """Rebuild from `to_dict` output."""
        return cls(**{**data, "prompts": tuple(data.get("prompts", ()))})


@dataclass
class SideResult:
    """What one side measured in one run (one process)."""

    side: str
    device: str
    device_name: str
    train_seconds: float
    """Wall time of the training loop only (models loaded and trainer built before)."""
    cpu_seconds: float
    """Process CPU time (all threads) over the same span."""
    step_end_seconds: list[float]
    """Wall time from the loop's start to the end of each step."""
    peak_mem_bytes: int
    """CPU: the process's peak RSS; GPU: the CUDA allocator's peak."""
    baseline_rss_bytes: int
    """RSS after imports, before any model was loaded."""
    rewards: list[float]
    """Mean score of each step's rollouts (after the EOS penalty, before the KL penalty)."""
    kls: list[float]
    """Mean per-sequence KL(policy || reference) of each step's rollouts, nats."""
    samples: int
    """Rollouts trained on (steps * batch size)."""
    reported_samples_per_s: float | None = None
    """The trainer's own throughput figure (ours: mean perf/samples_per_s; TRL: last `eps`)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def samples_per_s(self) -> float:
        """Rollouts per wall second over the whole loop."""
        return self.samples / self.train_seconds

    @property
    def steady_samples_per_s(self) -> float | None:
        """Rollouts per wall second from the end of step 1 on (skips one-time warm-up)."""
        ends = self.step_end_seconds
        if len(ends) < 2 or ends[-1] <= ends[0]:
            return None
        per_step = self.samples / len(ends)
        return per_step * (len(ends) - 1) / (ends[-1] - ends[0])

    @property
    def samples_per_cpu_s(self) -> float:
        """Rollouts per CPU second: less sensitive than wall time to other load on the machine."""
        return self.samples / self.cpu_seconds if self.cpu_seconds > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["samples_per_s"] = self.samples_per_s
        data["steady_samples_per_s"] = self.steady_samples_per_s
        data["samples_per_cpu_s"] = self.samples_per_cpu_s
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SideResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


def side_result(
    side: str,
    settings: Any,
    meter: Meter,
    rewards: list[float],
    kls: list[float],
    reported: float | None,
    extra: dict[str, Any] | None = None,
) -> SideResult:
    """One side's result from its meter and curves; `settings` needs device, steps and
    batch_size (BenchSettings, or the critic-free benchmark's settings)."""
    return SideResult(
        side=side,
        device=settings.device,
        device_name=device_name(settings.device),
        train_seconds=meter.wall,
        cpu_seconds=meter.cpu,
        step_end_seconds=meter.step_ends,
        peak_mem_bytes=meter.peak_bytes(),
        baseline_rss_bytes=meter.baseline_rss,
        rewards=rewards,
        kls=kls,
        samples=settings.steps * settings.batch_size,
        reported_samples_per_s=reported,
        extra=extra or {},
    )


def pick_bench_device(request: str) -> str:
    """auto -> cuda when there is one, else cpu; cuda without one is an error that says so."""
    if request == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if request == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: PyTorch sees no CUDA GPU here; use --device cpu.")
    return request


REPO = Path(__file__).resolve().parents[1]
TRL_VENVS = {"newest": ".venv-trl", "ppo": ".venv-trl-ppo"}
"""The venvs `make bench-venvs` builds: the newest TRL, and the last with a PPO trainer."""


def side_python(side: str, trl: str = "newest") -> str:
    """The interpreter a side's child runs in: TRL's side in its venv (TRL_VENVS) when it has
    been built, else this one (TRL then has to be importable here); ours always here."""
    venv = REPO / TRL_VENVS[trl]
    if side == "trl" and (venv / ".installed").is_file():  # written once it is complete
        for name in ("bin/python", "Scripts/python.exe"):
            if (venv / name).is_file():
                return str(venv / name)
    return sys.executable


def device_name(device: str) -> str:
    """The GPU's name, or the CPU's model and core count."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"


def load_prompts() -> list[str]:
    """The demo prompt set (review openings), as the app ships it."""
    from resources import resource_path

    lines = resource_path("prompts", "demo.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()]


def torch_dtype(settings: BenchSettings) -> torch.dtype:
    """The policy's weight dtype for these settings (the reward model stays float32)."""
    return torch.bfloat16 if settings.bf16 else torch.float32


def quiet_libraries() -> None:
    """Keep the children's output to what matters (TRL's banner, load reports, progress bars)."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


class Meter:
    """Wall time, CPU time and memory of one side's training loop."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.baseline_rss = psutil.Process().memory_info().rss
        self.step_ends: list[float] = []
        self._wall0 = self._cpu0 = 0.0
        self.wall = self.cpu = 0.0

    def start(self) -> None:
        self._sync()
        self._wall0, self._cpu0 = time.perf_counter(), time.process_time()

    def step_done(self) -> None:
        self._sync()
        self.step_ends.append(time.perf_counter() - self._wall0)

    def stop(self) -> None:
        self._sync()
        self.wall = time.perf_counter() - self._wall0
        self.cpu = time.process_time() - self._cpu0

    def peak_bytes(self) -> int:
        """CUDA allocator peak on a GPU, else the peak RSS of this process."""
        if self.device.startswith("cuda"):
            return int(torch.cuda.max_memory_allocated(torch.device(self.device)))
        try:
            import resource  # POSIX only
        except ImportError:  # Windows: the peak working set
            info = psutil.Process().memory_info()
            return int(getattr(info, "peak_wset", info.rss))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)  # Linux: KiB

    def _sync(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
