"""How well the demo judge follows its rubric, on pairs the demo model wrote.

The demo model samples two completions for each of `--pairs` prompts (a seed the judge's
training never used: its tasks come from the review generator, not from the model). The
demo judge compares every pair under each rubric preset and under a free-text rubric
worded differently from the preset (same deciding clause, another preamble and layout),
with the usual swap averaging. The ground truth is computed from the texts alone (VADER
for positivity, word counts for concision, both for positive-concise; core.judge.rubrics),
and a pair
counts where that truth is clear (|margin| >= CLEAR_MARGIN).

Printed per rubric: agreement with the truth on clear pairs, position bias (share of pairs
where the same position won in both orders: all pairs, and clear ones), mean confidence.
`--build` builds a fresh judge into a temporary folder first and prints its build time and
the machine's load average, since the build time depends on what else runs.

    python -m bench.judge_quality --pairs 200 [--build [--recipe NAME]] [--json-out FILE]

`--recipe` picks a named build recipe (core.judge.train.RECIPES; "default" unless given).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from core.judge.rubrics import (
    CLEAR_MARGIN,
    CRITERIA,
    FILLERS,
    PRESETS,
    truth_margin,
)
from core.rewards.judge_templates import PAIRWISE, parse_template, preset_template

RECIPE_NAMES = ("default", "verdict-alone", "probe-then-verdict", "probe-then-verdict+asides")
"""core.judge.train.RECIPES' keys (named here so `--help` needs no torch import)."""

FREE_TEXT_LAYOUT = (
    "You judge short reviews. {clause} {filler}\nPrompt: {{prompt}}\n"
    "Response A: {{response_a}}\nResponse B: {{response_b}}\nA or B?\nAnswer:"
)


def free_text_rubric(criterion: str):
    """A rubric in other words than the preset: the second wording of its clause."""
    text = FREE_TEXT_LAYOUT.format(clause=CRITERIA[criterion].clauses[1], filler=FILLERS[-1])
    return parse_template(text, source=f"free-text {criterion}", kind=PAIRWISE)


def demo_pairs(n_pairs: int, seed: int) -> list[tuple[str, str, str]]:
    """(prompt, left, right): two sampled completions of the demo model per prompt."""
    from core.config import GenerationConfig, ModelSpec
    from core.demo import DEMO_PROMPTS
    from core.model.generate import generate
    from core.model.session import ModelSession

    session = ModelSession.load(ModelSpec(name_or_path="demo", device="cpu", lora=None))
    prompts = [DEMO_PROMPTS[i % len(DEMO_PROMPTS)] for i in range(n_pairs)]
    config = GenerationConfig(n=2, temperature=1.0, seed=seed, batch_size=64)
    completions = generate(session, prompts, config)
    session.unload()
    return [
        (prompt, completions[2 * i].text, completions[2 * i + 1].text)
        for i, prompt in enumerate(prompts)
    ]


def measure(folder: Path, pairs, rubric, criterion: str) -> dict:
    """Agreement with the truth on clear pairs, position bias, mean confidence."""
    from core.rewards.judge import LLMJudge

    judge = LLMJudge.load(str(folder), device="cpu", pairwise=rubric, batch_size=32)
    try:
        results = judge.compare(*map(list, zip(*pairs, strict=True)))
    finally:
        judge.unload()
    margins = [truth_margin(criterion, left, right) for _, left, right in pairs]
    clear = [i for i, m in enumerate(margins) if abs(m) >= CLEAR_MARGIN]
    hits = [(results[i].p_left > 0.5) == (margins[i] > 0) for i in clear]
    biased = [r.same_side_both_orders for r in results]
    return {
        "rubric": rubric.source,
        "clear_pairs": len(clear),
        "agreement_clear": sum(hits) / len(hits) if hits else None,
        "position_bias_all": sum(biased) / len(biased),
        "position_bias_clear": sum(biased[i] for i in clear) / len(clear) if clear else None,
        "mean_confidence": sum(abs(2 * r.p_left - 1) for r in results) / len(results),
    }


def build_fresh(out: Path, recipe: str = "default", seed: int | None = None,
                threads: int | None = None) -> dict:  # fmt: skip
    """Build a judge of `recipe` into `out` from the cached demo model; its report plus the
    load.

    On a shared machine the wall time says little: the process CPU time (user + sys, all
    threads) is reported too; on two idle cores the build takes about half of it.
    """
    from core.demo import ensure_demo_model
    from core.judge.train import RECIPES, build_demo_judge

    demo = ensure_demo_model()
    load_before = os.getloadavg()
    cpu_before = _cpu_seconds()
    config = RECIPES[recipe]
    if seed is not None:
        config = replace(config, seed=seed)
    if threads is not None:
        config = replace(config, num_threads=threads)
    info = build_demo_judge(out, demo, config)
    return info | {
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "cpu_seconds": round(_cpu_seconds() - cpu_before, 1),
    }


def _cpu_seconds() -> float:
    return time.process_time()  # user + system time of this process, all its threads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=200, help="demo-model pairs to judge")
    parser.add_argument("--seed", type=int, default=12345, help="sampling seed of the pairs")
    parser.add_argument("--build", action="store_true", help="build a fresh judge and time it")
    parser.add_argument("--recipe", default="default", choices=RECIPE_NAMES,
                        help="with --build: the build recipe (core.judge.train.RECIPES)")  # fmt: skip
    parser.add_argument("--build-seed", type=int, default=None,
                        help="with --build: the recipe's seed instead of its own")  # fmt: skip
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="with --build: torch threads (default: the recipe's choice)",
    )
    parser.add_argument("--judge-folder", type=Path, default=None,
                        help="measure this judge; with --build: build it here and keep it")  # fmt: skip
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)
    from core.quiet_libraries import quiet_libraries

    quiet_libraries()
    result: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "pairs": args.pairs}
    with tempfile.TemporaryDirectory() as scratch:
        if args.build:
            folder = args.judge_folder or Path(scratch) / "judge"
            build = build_fresh(folder, args.recipe, args.build_seed, args.threads)
            result["recipe"] = args.recipe
            result["build_seed"], result["threads"] = args.build_seed, args.threads
            keys = ("build_seconds", "cpu_seconds", "load_before", "load_after",
                    "synthetic_accuracy")  # fmt: skip
            result["build"] = {k: build[k] for k in keys}
            print(f"built in {build['build_seconds']:.0f} s wall, {build['cpu_seconds']:.0f} s "
                  f"CPU (load average before {build['load_before'][0]:.1f}, after "
                  f"{build['load_after'][0]:.1f}); synthetic {build['synthetic_accuracy']}")  # fmt: skip
        elif args.judge_folder is not None:
            folder = args.judge_folder
        else:
            from core.judge import ensure_demo_judge

            folder = ensure_demo_judge()
        started = time.perf_counter()
        pairs = demo_pairs(args.pairs, args.seed)
        rows = []
        for criterion in PRESETS:
            for rubric in (preset_template(criterion), free_text_rubric(criterion)):
                rows.append({"criterion": criterion} | measure(folder, pairs, rubric, criterion))
        result["rubrics"] = rows
        result["seconds"] = round(time.perf_counter() - started, 1)
    _print(rows)
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def _print(rows: list[dict]) -> None:
    def pct(value):
        return "n/a" if value is None else f"{100 * value:.1f} %"

    print(f"{'rubric':28} {'clear':>5} {'agree':>8} {'bias all':>9} {'bias clear':>10} {'conf':>5}")
    for row in rows:
        print(f"{row['rubric']:28} {row['clear_pairs']:5d} {pct(row['agreement_clear']):>8} "
              f"{pct(row['position_bias_all']):>9} {pct(row['position_bias_clear']):>10} "
              f"{row['mean_confidence']:5.2f}")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
