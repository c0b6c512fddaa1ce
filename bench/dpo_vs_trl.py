"""Our LoRA DPO against TRL's DPOTrainer (PEFT, adapter-off reference) on the same
pairs, model and settings: throughput, peak memory, held-out preference accuracy.

    make bench-venvs                  # once: TRL's side runs in .venv-trl (the newest TRL)
    python bench/dpo_vs_trl.py        # CPU, a few minutes
    python bench/dpo_vs_trl.py --device cuda --model random:qwen2.5-0.5b --bf16 --batch-size 64

The pairs are the demo model's own answers to the demo prompts, the more positive one
(VADER) chosen; pairs closer than 0.3 are dropped. They are made once and written to a
JSON file both sides read. Each side runs in its own child process (`--side ours|trl`,
printing one JSON line), alternating order over `--repeats`; the parent prints medians.
Both sides: the same LoRA (r, alpha, targets), AdamW, constant learning rate, beta,
sigmoid loss, dropout off, the same train/held-out split (core.offline.data.split_examples).
TRL computes the reference log-probs every step (its default); ours caches them per pair.
Timing covers the training steps only (not model loading, nor the held-out evaluation:
ours runs it inside its last step, and its time is taken off our clock; TRL's `evaluate()`
runs after the clock stops). The last line printed is

    ours/trl samples_per_s=<ratio> peak_mem=<ratio>
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    Meter,
    device_name,
    pick_bench_device,
    quiet_libraries,
    side_python,
)

RESULT_PREFIX = "DPO_BENCH_RESULT "


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--model", default="demo", help="'demo', a causal-LM folder or random:<preset>")
    add("--bf16", action="store_true", help="weights in bfloat16, both sides (GPU)")
    add("--cache-dir", type=Path, help="where a random model is cached (default: data dir)")
    add("--device", default="auto", choices=("auto", "cpu", "cuda"))
    add("--steps", type=int, default=20)
    add("--batch-size", type=int, default=16)
    add("--lr", type=float, default=5e-4)
    add("--beta", type=float, default=0.1)
    add("--samples", type=int, default=20, help="answers per training prompt (default 20)")
    add("--eval-fraction", type=float, default=0.1)
    add("--lora-r", type=int, default=16)
    add("--lora-alpha", type=int, default=32)
    add("--repeats", type=int, default=3)
    add("--seed", type=int, default=0)
    add("--threads", type=int, default=1, help="torch threads per side (CPU)")
    add("--json-out", type=Path)
    add("--side", choices=("ours", "trl"), help=argparse.SUPPRESS)
    add("--pairs", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def make_pairs(model_dir: str, device: str, samples: int, seed: int) -> list[dict]:
    """The demo model's answers, paired two by two, the more positive (VADER) chosen."""
    from core.config import GenerationConfig, ModelSpec
    from core.demo import DEMO_PROMPTS
    from core.model.generate import generate
    from core.model.session import ModelSession
    from core.rewards.sentiment import SentimentReward

    session = ModelSession.load(ModelSpec(name_or_path=model_dir, device=device, lora=None))
    config = GenerationConfig(max_new_tokens=24, n=samples, seed=seed, batch_size=128)
    answers = generate(session, list(DEMO_PROMPTS), config)
    texts = [a.text for a in answers]
    scores = SentimentReward().score(texts, texts)
    pairs = []
    for i in range(0, len(answers) - 1, 2):
        if abs(scores[i] - scores[i + 1]) >= 0.3:
            good, bad = (i, i + 1) if scores[i] > scores[i + 1] else (i + 1, i)
            pairs.append({"prompt": answers[i].prompt, "chosen": texts[good],
                          "rejected": texts[bad]})  # fmt: skip
    return pairs


def _split(pairs: list[dict], args) -> tuple[list, list]:
    from core.offline.data import split_examples
    from core.reward_model.training import PreferencePair

    return split_examples([PreferencePair(**p) for p in pairs], args.eval_fraction, args.seed)


def run_ours(args, model_dir: str, pairs: list[dict]) -> dict:
    from core.config import LoraSpec, ModelSpec
    from core.model.session import ModelSession
    from core.offline.config import DPOConfig
    from core.offline.dpo import DPOTrainer
    from core.reward_model.training import PreferencePair

    meter = Meter(args.device)
    lora = LoraSpec(r=args.lora_r, alpha=args.lora_alpha, seed=args.seed)
    dtype = "bfloat16" if args.bf16 else "float32"
    spec = ModelSpec(name_or_path=model_dir, device=args.device, dtype=dtype, lora=lora)
    session = ModelSession.load(spec)
    config = DPOConfig(
        steps=args.steps, batch_size=args.batch_size, micro_batch_size=args.batch_size,
        learning_rate=args.lr, beta=args.beta, eval_fraction=args.eval_fraction,
        eval_every=args.steps, seed=args.seed, max_grad_norm=1.0,
    )  # fmt: skip
    trainer = DPOTrainer(session, None, [PreferencePair(**p) for p in pairs], config)
    evaluation = _timed_evaluation(trainer)
    meter.start()
    for result in trainer:
        meter.step_done()
        last = result.metrics
    meter.stop()
    meter.wall, meter.cpu = meter.wall - evaluation[0], meter.cpu - evaluation[1]
    return _result("ours", args, meter, last["eval/rewards/accuracy"], last["eval/rewards/margins"])


def _timed_evaluation(trainer) -> list[float]:
    """[wall, CPU] seconds the trainer's held-out evaluations take, filled as they run: the
    clock leaves them out, as TRL's evaluate() after its loop is left out of TRL's."""
    spent = [0.0, 0.0]
    evaluate = trainer._evaluate

    def timed():
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return evaluate()
        finally:
            spent[0] += time.perf_counter() - wall
            spent[1] += time.process_time() - cpu

    trainer._evaluate = timed
    return spent


def run_trl(args, model_dir: str, pairs: list[dict]) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import DPOConfig, DPOTrainer

    from core.config import LoraSpec
    from core.model.lora import lora_config

    meter = Meter(args.device)
    set_seed(args.seed)
    train, held_out = _split(pairs, args)

    def dataset(rows):
        return Dataset.from_dict({"prompt": [p.prompt for p in rows],
                                  "chosen": [p.chosen for p in rows],
                                  "rejected": [p.rejected for p in rows]})  # fmt: skip

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    peft = lora_config(model, LoraSpec(r=args.lora_r, alpha=args.lora_alpha))
    with tempfile.TemporaryDirectory(prefix="bench-trl-dpo-") as output_dir:
        config = DPOConfig(
            output_dir=output_dir, per_device_train_batch_size=args.batch_size,
            per_device_eval_batch_size=args.batch_size, max_steps=args.steps,
            learning_rate=args.lr, lr_scheduler_type="constant", warmup_steps=0,
            beta=args.beta, loss_type=["sigmoid"], max_grad_norm=1.0, weight_decay=0.0,
            seed=args.seed, use_cpu=args.device == "cpu", bf16=False, fp16=False,
            report_to=[], save_strategy="no", logging_strategy="no", disable_tqdm=True,
            dataloader_num_workers=0, gradient_checkpointing=False,
        )  # fmt: skip
        trainer = DPOTrainer(
            model=model, args=config, train_dataset=dataset(train),
            eval_dataset=dataset(held_out), processing_class=tokenizer, peft_config=peft,
        )  # fmt: skip
        meter.start()
        trainer.train()
        meter.stop()
        trainer.evaluate()
        figures = trainer.state.log_history[-1]  # TRL's DPO adds its figures to the log
    return _result(
        "trl", args, meter, figures["eval_rewards/accuracies"], figures["eval_rewards/margins"]
    )


def _result(side: str, args, meter: Meter, accuracy: float, margin: float) -> dict:
    samples = args.steps * args.batch_size
    return {
        "side": side,
        "samples_per_s": samples / meter.wall,
        "samples_per_cpu_s": samples / meter.cpu,
        "peak_mem_bytes": meter.peak_bytes(),
        "eval_accuracy": float(accuracy),
        "eval_margin": float(margin),
        "train_seconds": meter.wall,
        "cpu_seconds": meter.cpu,
    }


def child(args) -> int:
    import torch

    quiet_libraries()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(RESULT_PREFIX + json.dumps(side_run(args)), flush=True)
    return 0


def side_run(args) -> dict:
    """One side's run in this process (the model is the folder the parent resolved)."""
    pairs = json.loads(args.pairs.read_text())
    return (run_ours if args.side == "ours" else run_trl)(args, args.model, pairs)


def run_in_process(side: str, argv: list[str], pairs_file: Path) -> dict:
    """One side here (the GPU suite's dry run): fast, but both sides share the peak memory."""
    return side_run(parse_args([*argv, "--side", side, "--pairs", str(pairs_file)]))


def run_side(side: str, argv: list[str], pairs_file: Path) -> dict:
    command = [side_python(side), __file__, *argv, "--side", side, "--pairs", str(pairs_file)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    raise SystemExit(f"side {side} failed:\n{done.stderr[-3000:]}")


def _with_model(argv: list[str], model_dir: str) -> list[str]:
    """The children's command line: the model as the folder the parent resolved."""
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
            continue
        if item == "--model":
            skip = True
            continue
        if not item.startswith("--model="):
            out.append(item)
    return [*out, "--model", model_dir]


def main(argv=None, runner=run_side) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    args.device = pick_bench_device(args.device)
    if args.side:
        return child(args)
    quiet_libraries()
    from bench.ppo_vs_trl import resolve_model
    from core.model.session import resolve_model_path
    from core.paths import data_dir

    # The pairs are the demo model's answers whatever model trains on them: a random
    # model's answers would score alike and pair up rarely.
    pairs = make_pairs(resolve_model_path("demo"), args.device, args.samples, args.seed)
    model_dir = resolve_model(args.model, args.cache_dir or data_dir() / "bench")
    argv = _with_model(argv, model_dir)
    with tempfile.TemporaryDirectory(prefix="bench-dpo-") as folder:
        pairs_file = Path(folder) / "pairs.json"
        pairs_file.write_text(json.dumps(pairs))
        results = []
        for repeat in range(args.repeats):
            for side in ("ours", "trl") if repeat % 2 == 0 else ("trl", "ours"):
                results.append(runner(side, argv, pairs_file))
                print(json.dumps(results[-1]), flush=True)
    summary = {
        side: {key: statistics.median(r[key] for r in results if r["side"] == side)
               for key in ("samples_per_s", "samples_per_cpu_s", "peak_mem_bytes",
                           "eval_accuracy", "eval_margin")}
        for side in ("ours", "trl")
    }  # fmt: skip
    print(f"device: {device_name(args.device)}; {len(pairs)} pairs, {args.steps} steps of "
          f"{args.batch_size}, medians of {args.repeats}")  # fmt: skip
    print("| side | samples/s | peak memory (MiB) | held-out accuracy | held-out margin |")
    print("| --- | --- | --- | --- | --- |")
    for side, row in summary.items():
        print(f"| {side} | {row['samples_per_s']:.1f} | {row['peak_mem_bytes'] / 2**20:.0f} | "
              f"{row['eval_accuracy']:.3f} | {row['eval_margin']:.3f} |")  # fmt: skip
    if args.json_out:
        args.json_out.write_text(json.dumps({"results": results, "summary": summary}, indent=2))
    per_cpu = summary["ours"]["samples_per_cpu_s"] / summary["trl"]["samples_per_cpu_s"]
    print(f"samples/CPU-s: ours {summary['ours']['samples_per_cpu_s']:.2f}, TRL "
          f"{summary['trl']['samples_per_cpu_s']:.2f}, ours/TRL {per_cpu:.2f} (steadier than "
          "the wall clock on a loaded machine)")  # fmt: skip
    speed = summary["ours"]["samples_per_s"] / summary["trl"]["samples_per_s"]
    memory = summary["ours"]["peak_mem_bytes"] / summary["trl"]["peak_mem_bytes"]
    print(f"ours/trl samples_per_s={speed:.2f} peak_mem={memory:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
