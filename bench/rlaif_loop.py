"""The offline RLAIF loop on the demo, end to end, measured by the rubric's ground truth.

    python bench/rlaif_loop.py                          # 256 pairs, seeds 0 and 1
    python bench/rlaif_loop.py --pairs 64 --quick-judge # the test's sizes and judge

Per seed, in a fresh temporary workspace (core.rlaif_demo):

1. the demo judge labels `--pairs` pairs that the demo model wrote for the training
   prompts, under the rubric preset `--rubric` (positivity); its labels are checked
   against the ground truth (VADER compound polarity) on the pairs where the truth is
   clear;
2. a reward model is fitted to the AI labels (undecided ones left out), GRPO trains the
   demo model against it, and the truth of its answers to the held-out prompts (never
   labelled or trained on) is measured against the base's, same seeds;
3. from the base again, one DPO round (new pairs sampled and labelled, DPO on every
   decided label) is compared blind with the base on the held-out prompts, the sides at
   random, refereed by the ground truth.

`--control` runs the same loop with the judge's verdicts flipped at random (each pair's
P(left) becomes 1 - P(left) with probability 1/2: labels as confident as the judge's,
with no information): if the loop, not the judge, moved the truth, the control would
move it too.

Printed: per seed and on average, the judge's agreement with the truth, the held-out
truth before and after GRPO, and the DPO round's blind win-rate and truth; with the
machine, its load average and the wall time of each part.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def judge_folder(args: argparse.Namespace, scratch: Path) -> Path:
    """The judge to label with: a given folder, a quick build, or the shipped demo judge."""
    from core.demo import ensure_demo_model
    from core.judge import ensure_demo_judge
    from core.judge.train import build_demo_judge
    from core.rlaif_demo import QUICK_JUDGE

    if args.judge_folder is not None:
        return args.judge_folder
    if args.quick_judge:
        started = time.perf_counter()
        folder = scratch / "quick-judge"
        build_demo_judge(folder, ensure_demo_model(), QUICK_JUDGE)
        print(f"quick judge built in {time.perf_counter() - started:.0f} s", flush=True)
        return folder
    return ensure_demo_judge()


class FlippedJudge:
    """The control: a judge whose every verdict is flipped with probability 1/2."""

    def __init__(self, judge, seed: int) -> None:
        import random

        self.judge, self.rng = judge, random.Random(seed)
        self.pairwise, self.identity = judge.pairwise, f"{judge.identity}-flipped"
        self.rater = judge.rater.replace("ai:", "ai:flipped-", 1)

    def compare(self, prompts, lefts, rights, **kwargs):
        from dataclasses import replace

        flipped = []
        for result in self.judge.compare(prompts, lefts, rights, **kwargs):
            if self.rng.random() < 0.5:
                result = replace(result, p_left=1 - result.p_left,
                                 p_left_first=1 - result.p_left_first,
                                 p_left_swapped=1 - result.p_left_swapped)  # fmt: skip
            flipped.append(result)
        return flipped


def run_seed(folder: Path, config, scratch: Path, control: bool = False) -> dict:
    """One pass of the loop in a fresh workspace; its figures and timings."""
    from core.config import ModelSpec
    from core.demo import DEMO_PROMPTS, ensure_demo_model
    from core.judge import DEMO_JUDGE
    from core.model.session import ModelSession
    from core.rewards.judge import LLMJudge
    from core.rewards.judge_templates import preset_template
    from core.rlaif_demo import (
        dpo_round_vs_base,
        label_demo_pairs,
        reward_model_then_grpo,
        split_prompts,
    )
    from core.store import Store

    train, held_out = split_prompts(DEMO_PROMPTS, config.held_out)
    workspace = scratch / f"seed-{config.seed}"
    workspace.mkdir()
    demo = str(ensure_demo_model())
    judge = LLMJudge.load(str(folder), device="cpu", identity=DEMO_JUDGE,
                          pairwise=preset_template(config.criterion), batch_size=32)  # fmt: skip
    labeller = FlippedJudge(judge, config.seed) if control else judge
    times = {}
    with Store.open(workspace) as store:
        started = time.perf_counter()
        session = ModelSession.load(ModelSpec(name_or_path=demo, device="cpu"))
        report, labels = label_demo_pairs(store, labeller, session, train, config)
        times["label_s"] = time.perf_counter() - started
        started = time.perf_counter()
        grpo = reward_model_then_grpo(store, session, workspace / "rm", train, held_out, config)
        session.unload()
        times["rm_grpo_s"] = time.perf_counter() - started
        started = time.perf_counter()
        session = ModelSession.load(ModelSpec(name_or_path=demo, device="cpu"))
        record, dpo = dpo_round_vs_base(store, session, labeller, train, held_out, config)
        session.unload()
        times["dpo_s"] = time.perf_counter() - started
    judge.unload()
    return {
        "seed": config.seed,
        "labels": report.labelled,
        "undecided": report.undecided,
        "position_bias": report.position_bias_rate,
        "clear_pairs": labels.clear,
        "label_agreement": labels.agreement,
        "rm_accuracy": grpo.rm_accuracy,
        "grpo_rewards": grpo.rewards,
        "base_truth": grpo.truth.base,
        "grpo_truth": grpo.truth.tuned,
        "dpo_win_rate": record.win_rate,
        "dpo_truth": dpo.tuned,
        "held_out_answers": grpo.truth.answers,
    } | {key: round(value, 1) for key, value in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=256, help="pairs the judge labels")
    parser.add_argument("--rubric", default="positivity", help="rubric preset (its truth)")
    parser.add_argument("--held-out", type=int, default=10, help="demo prompts held out")
    parser.add_argument("--eval-samples", type=int, default=8, help="answers per held-out prompt")
    parser.add_argument("--rm-epochs", type=int, default=4)
    parser.add_argument("--grpo-steps", type=int, default=24)
    parser.add_argument("--dpo-steps", type=int, default=50)
    parser.add_argument("--seeds", default="0,1", help="comma-separated seeds")
    parser.add_argument("--quick-judge", action="store_true",
                        help="build the tests' quick judge (~40 s) instead of the demo judge")  # fmt: skip
    parser.add_argument("--judge-folder", type=Path, default=None, help="label with this judge")
    parser.add_argument("--control", action="store_true",
                        help="flip the judge's verdicts at random (a control)")  # fmt: skip
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)
    from dataclasses import replace

    import torch

    from core.quiet_libraries import quiet_libraries
    from core.rlaif.truth import metric_name
    from core.rlaif_demo import LoopConfig

    quiet_libraries()
    torch.set_num_threads(1)  # the demo model is tiny: one thread beats two fighting
    base = LoopConfig(criterion=args.rubric, pairs=args.pairs, held_out=args.held_out,
                      eval_samples=args.eval_samples, rm_epochs=args.rm_epochs,
                      grpo_steps=args.grpo_steps, dpo_steps=args.dpo_steps)  # fmt: skip
    load_before = os.getloadavg()
    result: dict = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "load_before": load_before,
    }
    print(f"{result['date']}  {result['machine']}  load average {_load(load_before)}")
    with tempfile.TemporaryDirectory() as scratch:
        folder = judge_folder(args, Path(scratch))
        seeds = [int(seed) for seed in args.seeds.split(",")]
        runs = [run_seed(folder, replace(base, seed=seed), Path(scratch), args.control)
                for seed in seeds]  # fmt: skip
    result |= {"runs": runs, "load_after": os.getloadavg()}
    _print(runs, metric_name(args.rubric))
    print(f"load average after {_load(result['load_after'])}")
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def _load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{value:.1f}" for value in load)


def _print(runs: list[dict], metric: str) -> None:
    print(f"held-out truth: {metric}")
    header = (f"{'seed':>4} {'labels':>6} {'undec':>5} {'agree':>6} {'rm acc':>6} "
              f"{'base':>6} {'GRPO':>6} {'DPO':>6} {'DPO win':>7} {'s (label/rm+grpo/dpo)':>22}")  # fmt: skip
    print(header)
    for run in runs:
        print(f"{run['seed']:>4} {run['labels']:>6} {run['undecided']:>5} "
              f"{_pct(run['label_agreement']):>6} {_pct(run['rm_accuracy']):>6} "
              f"{run['base_truth']:>+6.2f} {run['grpo_truth']:>+6.2f} {run['dpo_truth']:>+6.2f} "
              f"{_pct(run['dpo_win_rate']):>7} "
              f"{run['label_s']:>6.0f}/{run['rm_grpo_s']:.0f}/{run['dpo_s']:.0f}")  # fmt: skip
    if len(runs) > 1:

        def mean(key):
            values = [run[key] for run in runs if run[key] is not None]
            return statistics.mean(values) if values else None

        print(f"mean: agreement {_pct(mean('label_agreement'))}, held-out truth "
              f"{mean('base_truth'):+.2f} (base) -> {mean('grpo_truth'):+.2f} (GRPO), "
              f"{mean('dpo_truth'):+.2f} (DPO round, blind win-rate "
              f"{_pct(mean('dpo_win_rate'))})")  # fmt: skip


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


if __name__ == "__main__":
    raise SystemExit(main())
