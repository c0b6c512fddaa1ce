"""Peak memory and samples/s of training runs, each in a fresh process, beside the planner.

    python -m bench.memory                      # PPO at qwen2.5-0.5b shapes, every option
    python -m bench.memory --planner-check      # the planner's error table (docs/memory.md)

Each case runs in its own child process (`--child JSON`), so peaks are independent: the
child records its resident size after importing torch, transformers, peft and the
trainers (the baseline), then loads the model, trains, and reports its peak resident
size (VmHWM) minus that baseline; on a GPU, the CUDA allocator's peak. The options
(gradient checkpointing, chunked log-probs, 8/4-bit loading) are passed only when this
build's config or model spec has the field; a case whose option is missing is reported
as not available, not run. Results: docs/benchmarks.md, docs/memory.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULT_PREFIX = "MEMORY_RESULT "
ROOT = Path(__file__).resolve().parents[1]

OPTION_FIELDS: dict[str, tuple[str, str, Any]] = {
    # option -> (where: config | model, field name, value that turns it on)
    "checkpointing": ("config", "gradient_checkpointing", True),
    "chunked": ("config", "logits_chunk_size", 16),
    "8bit": ("model", "quantize", "8bit"),
    "4bit": ("model", "quantize", "4bit"),
}
"""How each option reaches the trainer, if this build has it."""
GLIBC_HEAP = "glibc-heap"
"""Not an app option: the child leaves glibc's allocator alone (core.model.host_memory's
keep_glibc_default), as the app did before its update passes returned freed memory."""


def default_case(**changes: Any) -> dict[str, Any]:
    """A case: model, algorithm, batch shapes, options; JSON-ready."""
    case = {
        "model": "random:qwen2.5-0.5b",
        "algorithm": "ppo",
        "dtype": "float32",
        "device": "cpu",
        "lora_r": 16,
        "batch_size": 8,
        "mini_batch_size": 8,
        "ppo_epochs": 1,
        "max_new_tokens": 64,
        "steps": 2,
        "options": [],
        "threads": 1,
    }
    case.update(changes)
    return case


# ------------------------------------------------------------------- the parent


def model_folder(name: str) -> str:
    """A folder for `random:<preset>` (built on first use) or the name as given."""
    if name.startswith("random:"):
        from bench.random_models import random_model
        from core.paths import data_dir

        return str(random_model(name, data_dir() / "bench"))
    return name


def measure_here(case: dict[str, Any]) -> dict[str, Any]:
    """Run `case` in this process (the GPU suite's dry run: its peak is not the case's own)."""
    return run_child(dict(case, model_dir=model_folder(case["model"])))


def measure(case: dict[str, Any], timeout: float = 1800) -> dict[str, Any]:
    """Run `case` in a fresh interpreter; its result dict (with 'error' if it failed)."""
    case = dict(case, model_dir=model_folder(case["model"]))
    command = [sys.executable, "-m", "bench.memory", "--child", json.dumps(case)]
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"case": case, "error": f"exit {done.returncode}: {tail[0]}"}


def planned(case: dict[str, Any], prompt_tokens: int) -> Any:
    """The planner's MemoryPlan for a case, given the prompt length the run really had."""
    from core.memory_plan import PlanRequest, plan_memory
    from core.model.shapes import shape_of

    options = set(case["options"])
    quantize = "8bit" if "8bit" in options else "4bit" if "4bit" in options else "none"
    request = PlanRequest(
        algorithm=case["algorithm"],
        dtype=case["dtype"],
        quantize=quantize,
        lora_r=case["lora_r"],
        batch_size=case["batch_size"],
        mini_batch_size=case["mini_batch_size"],
        prompt_tokens=prompt_tokens,
        response_tokens=case["max_new_tokens"],
        gradient_checkpointing="checkpointing" in options,
        logits_chunk_size=16 if "chunked" in options else 0,
        device=case["device"],
    )
    return plan_memory(shape_of(case["model"]), request)


# -------------------------------------------------------------------- the child


def _rss_status() -> dict[str, int]:
    """VmRSS and VmHWM of this process, bytes (Linux); psutil's RSS elsewhere."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        import psutil

        rss = psutil.Process().memory_info().rss
        return {"VmRSS": rss, "VmHWM": rss}
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values


def run_child(case: dict[str, Any]) -> dict[str, Any]:
    """Train `case` in this process and measure it (called in the fresh child)."""
    import torch
    import transformers  # noqa: F401  (part of the baseline)

    import core.grpo.trainer  # noqa: F401
    import core.offline.dpo  # noqa: F401
    import core.offline.sft  # noqa: F401
    import core.ppo.trainer  # noqa: F401
    from core.model.session import ModelSession

    if case.get("threads"):
        torch.set_num_threads(int(case["threads"]))
    cuda = case["device"].startswith("cuda")
    if GLIBC_HEAP in case["options"]:
        from core.model.host_memory import keep_glibc_default

        keep_glibc_default()
    baseline = _rss_status()["VmRSS"]
    spec, missing = _model_spec(case)
    config, missing_config = _train_config(case)
    missing += missing_config
    if missing:
        return {"case": case, "unavailable": missing}
    session = ModelSession.load(spec)
    loaded = _rss_status()["VmHWM"] - baseline
    trainer, samples_per_step, prompt_tokens = _trainer(case, session, config)
    started = time.perf_counter()
    step_ends = []
    for _ in range(case["steps"]):
        trainer.step()
        if cuda:
            torch.cuda.synchronize()
        step_ends.append(time.perf_counter() - started)
    status = _rss_status()
    peak = status["VmHWM"] - baseline
    if cuda:
        peak = int(torch.cuda.max_memory_allocated())
    steady = step_ends[-1] - step_ends[0] if len(step_ends) > 1 else step_ends[0]
    steady_steps = max(len(step_ends) - 1, 1)
    return {
        "case": case,
        "peak_bytes": peak,
        "load_peak_bytes": loaded,
        "baseline_rss_bytes": baseline,
        "prompt_tokens": prompt_tokens,
        "step_seconds": steady / steady_steps,
        "samples_per_s": samples_per_step * steady_steps / steady,
        "torch_threads": torch.get_num_threads(),
    }


def _model_spec(case: dict[str, Any]) -> tuple[Any, list[str]]:
    from core.config import LoraSpec, ModelSpec

    fields = {f.name for f in dataclasses.fields(ModelSpec)}
    values: dict[str, Any] = {}
    missing = []
    for option in _app_options(case):
        where, name, value = OPTION_FIELDS[option]
        if where == "model":
            if name in fields:
                values[name] = value
            else:
                missing.append(f"{option} (no ModelSpec.{name} in this build)")
    spec = ModelSpec(
        name_or_path=case["model_dir"],
        device=case["device"],
        dtype=case["dtype"],
        lora=LoraSpec(r=case["lora_r"], alpha=2 * case["lora_r"]),
        **values,
    )
    return spec, missing


def _app_options(case: dict[str, Any]) -> list[str]:
    return [option for option in case["options"] if option != GLIBC_HEAP]


def _config_class(algorithm: str) -> type:
    from core.config import PPOConfig
    from core.config.critic_free import GRPOConfig, RLOOConfig
    from core.offline.config import DPOConfig, SFTConfig

    classes = {"ppo": PPOConfig, "grpo": GRPOConfig, "rloo": RLOOConfig}
    return classes.get(algorithm) or {"dpo": DPOConfig, "sft": SFTConfig}[algorithm]


def _train_config(case: dict[str, Any]) -> tuple[Any, list[str]]:
    """The algorithm's config for the case, and the options this build lacks."""
    config_class = _config_class(case["algorithm"])
    fields = {f.name for f in dataclasses.fields(config_class)}
    values: dict[str, Any] = {"steps": case["steps"], "batch_size": case["batch_size"]}
    if case["algorithm"] in ("dpo", "sft"):
        values |= {"micro_batch_size": case["mini_batch_size"], "eval_fraction": 0.0}
        values["max_response_tokens"] = case["max_new_tokens"]
    else:
        values |= {"mini_batch_size": case["mini_batch_size"], "ppo_epochs": case["ppo_epochs"]}
        values |= {"max_new_tokens": case["max_new_tokens"], "samples_per_step": 0}
    if case["algorithm"] in ("grpo", "rloo"):
        values["group_size"] = 4
    missing = []
    for option in _app_options(case):
        where, name, value = OPTION_FIELDS[option]
        if where == "config":
            if name in fields:
                values[name] = value
            else:
                missing.append(f"{option} (no {config_class.__name__}.{name} in this build)")
    values = {key: value for key, value in values.items() if key in fields}
    return config_class(**values), missing


def _trainer(case: dict[str, Any], session: Any, config: Any) -> tuple[Any, int, int]:
    """(trainer, samples per step, longest prompt in tokens) for the case's algorithm."""
    from core.demo import DEMO_PROMPTS
    from core.model.generate import encode_prompts
    from core.rewards import RewardContext, build_reward

    prompts = list(DEMO_PROMPTS)
    prompt_tokens = max(len(ids) for ids in encode_prompts(session, prompts, 1))
    reward = build_reward(["length=20"], RewardContext())
    algorithm = case["algorithm"]
    if algorithm in ("dpo", "sft"):
        trainer = _offline_trainer(algorithm, session, config, prompts)
        return trainer, config.batch_size, prompt_tokens
    from core.grpo.trainer import GRPOTrainer, RLOOTrainer
    from core.ppo.trainer import PPOTrainer

    trainer_class = {"ppo": PPOTrainer, "grpo": GRPOTrainer, "rloo": RLOOTrainer}[algorithm]
    return trainer_class(session, reward, prompts, config), config.batch_size, prompt_tokens


def _offline_trainer(algorithm: str, session: Any, config: Any, prompts: list[str]) -> Any:
    """A DPO or SFT trainer on synthetic data whose responses run to the length limit."""
    from core.offline.data import Example
    from core.reward_model.training import PreferencePair

    words = " ".join(["lovely"] * (4 * config.max_response_tokens))
    if algorithm == "sft":
        from core.offline.sft import SFTTrainer

        data = [Example(prompt, words) for prompt in prompts]
        return SFTTrainer(session, None, data, config)
    from core.offline.dpo import DPOTrainer

    data = [PreferencePair(prompt, words, words.upper()) for prompt in prompts]
    return DPOTrainer(session, None, data, config)


# --------------------------------------------------------------------- reports


def error_row(result: dict[str, Any]) -> dict[str, Any]:
    """Measured vs planned for one result: model, batch, both peaks, relative error."""
    case = result["case"]
    plan = planned(case, result.get("prompt_tokens") or 1)
    measured = result["peak_bytes"]
    return {
        "model": case["model"].removeprefix("random:"),
        "algorithm": case["algorithm"],
        "batch": f"{case['batch_size']}/{case['mini_batch_size']}",
        "tokens": f"{result.get('prompt_tokens')}+{case['max_new_tokens']}",
        "measured_mib": measured / 2**20,
        "planned_mib": plan.peak / 2**20,
        "error": plan.peak / measured - 1,
        "phase": plan.peak_phase,
    }


PLANNER_CASES = [
    default_case(model=f"random:{model}", batch_size=batch, mini_batch_size=batch,
                 max_new_tokens=16, steps=1)
    for model in ("gpt2-small", "smollm2-360m")
    for batch in (2, 8)
] + [
    default_case(batch_size=2, mini_batch_size=2, max_new_tokens=16, steps=1),
    default_case(),  # the benchmark's own case: qwen2.5-0.5b, batch 8, 64 new tokens
] + [
    default_case(model="random:gpt2-small", algorithm=algorithm, batch_size=8 // rows,
                 mini_batch_size=8 // rows, max_new_tokens=16, steps=1)
    for algorithm, rows in (("grpo", 1), ("dpo", 2), ("sft", 1))
]  # fmt: skip
"""The planner check (docs/memory.md): three presets at two batch sizes, and one case for
each other kind of trainer (GRPO: group sampling, no value head; DPO: chosen + rejected
in one pass; SFT: no generation)."""

BENCH_OPTIONS = [
    [GLIBC_HEAP], [], ["checkpointing"], ["chunked"], ["8bit"], ["4bit"],
    ["checkpointing", "chunked"], ["checkpointing", "chunked", GLIBC_HEAP],
]  # fmt: skip
"""'glibc-heap' alone is the app's default before core.model.host_memory: the issue's baseline."""


def print_planner_table(results: list[dict[str, Any]]) -> None:
    print("| model | algorithm | batch/mini | prompt+response tokens | measured MiB | planned MiB | error | peak phase |")  # fmt: skip
    print("|---|---|---|---|---:|---:|---:|---|")
    for result in results:
        if "peak_bytes" not in result:
            print(f"| {result['case']['model']} | {result.get('error') or result.get('unavailable')} |")  # fmt: skip
            continue
        row = error_row(result)
        print(
            f"| {row['model']} | {row['algorithm']} | {row['batch']} | {row['tokens']} | "
            f"{row['measured_mib']:.0f} | {row['planned_mib']:.0f} | {row['error']:+.1%} | {row['phase']} |"
        )  # fmt: skip


def print_bench_table(results: list[dict[str, Any]]) -> None:
    """Each row beside the default and beside the default under glibc's own heap."""
    measured = {
        "+".join(r["case"]["options"]) or "default": r for r in results if "peak_bytes" in r
    }
    default, before = measured.get("default"), measured.get(GLIBC_HEAP)
    print("| options | peak MiB | × default | × glibc-heap default | samples/s | step s | × default | planned MiB |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for result in results:
        name = "+".join(result["case"]["options"]) or "default"
        prompt_tokens = result.get("prompt_tokens") or (default or {}).get("prompt_tokens") or 8
        plan = planned(result["case"], prompt_tokens)
        if "peak_bytes" not in result:
            why = result.get("error") or "not in this build"
            print(f"| {name} | {why} | | | | | | {plan.peak / 2**20:.0f} |")
            continue
        print(
            f"| {name} | {result['peak_bytes'] / 2**20:.0f} | {_ratio(result, default, 'peak_bytes')} | "
            f"{_ratio(result, before, 'peak_bytes')} | {result['samples_per_s']:.3f} | "
            f"{result['step_seconds']:.1f} | {_ratio(result, default, 'step_seconds')} | "
            f"{plan.peak / 2**20:.0f} |"
        )


def _ratio(result: dict[str, Any], base: dict[str, Any] | None, key: str) -> str:
    return f"{result[key] / base[key]:.2f}" if base else "n/a"


def _chosen(cases: list[list[str]], only: list[str] | None) -> list[list[str]]:
    """The option sets `--only` names ('default' is the case without options)."""
    if not only:
        return cases
    names = {"+".join(options) or "default": options for options in cases}
    unknown = [name for name in only if name not in names]
    if unknown:
        raise SystemExit(f"--only {unknown[0]}: choose from {', '.join(names)}")
    return [names[name] for name in only]


def main(argv: list[str] | None = None, measure_case=measure) -> int:
    """`measure_case` runs a case (a fresh child; the GPU suite's dry run: in-process)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--planner-check", action="store_true", help="the planner error table")
    parser.add_argument("--model", default="random:qwen2.5-0.5b")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--dtype", default=None, help="default: float32 on cpu, bfloat16 on cuda")
    parser.add_argument("--steps", type=int, default=2, help="the first is warm-up")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per child")
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument(
        "--only",
        action="append",
        default=None,
        metavar="OPTIONS",
        help="run only this case: 'default' or options joined by '+' (checkpointing+chunked); "
        "repeat for several (default: every case)",
    )
    args = parser.parse_args(argv)
    if args.child:
        print(RESULT_PREFIX + json.dumps(run_child(json.loads(args.child))), flush=True)
        return 0
    dtype = args.dtype or ("bfloat16" if args.device == "cuda" else "float32")
    common = {"device": args.device, "dtype": dtype, "threads": args.threads}
    if args.planner_check:
        cases = [dict(case, **common) for case in PLANNER_CASES]
    else:
        cases = [
            default_case(model=args.model, options=options, steps=args.steps, **common)
            for options in _chosen(BENCH_OPTIONS, args.only)
        ]
    results = []
    for case in cases:  # one at a time: the machine's memory is shared
        results.append(measure_case(case))
        print(f"# done: {case['model']} {case['algorithm']} {case['options']}", file=sys.stderr)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1))
    (print_planner_table if args.planner_check else print_bench_table)(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
