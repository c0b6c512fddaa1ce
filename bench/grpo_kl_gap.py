"""Our GRPO's per-token KL against TRL's GRPOTrainer at equal reward, over several seeds.

    python bench/grpo_kl_gap.py --seeds 0,1,2,3          # CPU, about 1 minute per run
    python bench/grpo_kl_gap.py --seeds 0,1 --kl-bias-correction

One run of a side gives one trajectory (each side is deterministic per seed), so a
single seed compares two samples of a noisy curve; this script runs each seed on both
sides (the order alternating, one child process per run, as bench/grpo_vs_trl.py does)
and compares means. Both KL figures are per-token k3 and read the same way on both
sides (bench/grpo_sides.py): "rollout" before a step's updates (our
objective/kl_per_token; TRL's `kl` on a generation's first optimiser step) and
"update" averaged over the step's optimiser steps (our loss/kl; TRL's `kl` over the
generation's steps). Every other option is bench/grpo_vs_trl.py's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import grpo_vs_trl  # noqa: E402
from bench.common import SideResult, quiet_libraries  # noqa: E402
from bench.grpo_sides import SIDES, GroupBenchSettings  # noqa: E402

TAIL = 3
"""Steps at the end whose mean is compared: one step's figure is one noisy sample."""
TARGET = 1.1
"""Most ours/TRL per-token KL we accept at equal reward."""


def tail_mean(values: Sequence[float], count: int = TAIL) -> float:
    """The mean of the last `count` values (all of them when there are fewer)."""
    tail = list(values)[-count:]
    return sum(tail) / len(tail)


def run_figures(result: SideResult) -> dict[str, float]:
    """One run's figures: reward, rollout KL and update KL, last step and tail mean."""
    update = result.extra.get("kls_update") or result.kls
    return {
        "reward_last": result.rewards[-1],
        "reward_tail": tail_mean(result.rewards),
        "kl_last": result.kls[-1],
        "kl_tail": tail_mean(result.kls),
        "kl_update_tail": tail_mean(update),
    }


COLUMNS = (
    ("reward_last", "reward last", "{:+.3f}"),
    ("reward_tail", f"reward last {TAIL}", "{:+.3f}"),
    ("kl_last", "KL last", "{:.4f}"),
    ("kl_tail", f"KL last {TAIL}", "{:.4f}"),
    ("kl_update_tail", f"KL upd last {TAIL}", "{:.4f}"),
)


def report(settings: GroupBenchSettings, runs: dict[tuple[str, int], SideResult]) -> list[str]:
    """Per seed and side, then the means over seeds and ours/TRL; last line: the ratios."""
    seeds = sorted({seed for _, seed in runs})
    header = f"{'side':6}{'seed':>6}" + "".join(f"{title:>18}" for _, title, _ in COLUMNS)
    lines = [
        f"== GRPO KL at equal reward: ours vs TRL on {settings.device} "
        f"({next(iter(runs.values())).device_name})",
        f"steps={settings.steps} batch={settings.batch_size} group={settings.group_size} "
        f"mini_batch={settings.mini_batch_size} epochs={settings.epochs} "
        f"max_new_tokens={settings.max_new_tokens} lr={settings.learning_rate} "
        f"beta={settings.beta} loss=bnpo kl=k3 in the loss, "
        f"use_bias_correction_kl={settings.kl_bias_correction}",
        "KL: per-token k3; 'last 3': mean of the last three steps",
        "",
        header,
    ]
    means = {}
    for side in SIDES:
        figures = [run_figures(runs[side, seed]) for seed in seeds]
        for seed, row in zip(seeds, figures, strict=True):
            cells = "".join(f"{style.format(row[key]):>18}" for key, _, style in COLUMNS)
            lines.append(f"{side:6}{seed:>6}{cells}")
        means[side] = {key: statistics.mean(f[key] for f in figures) for key, _, _ in COLUMNS}
        cells = "".join(f"{style.format(means[side][key]):>18}" for key, _, style in COLUMNS)
        lines.append(f"{side:6}{'mean':>6}{cells}")
    ratios = {key: means["ours"][key] / means["trl"][key] for key in ("kl_tail", "kl_update_tail")}
    reward_gap = means["ours"]["reward_tail"] - means["trl"]["reward_tail"]
    lines += [
        "",
        f"ours - trl reward (last {TAIL}): {reward_gap:+.3f}; "
        f"ours/trl KL (last {TAIL}): rollout {ratios['kl_tail']:.2f}, "
        f"update {ratios['kl_update_tail']:.2f} (target <= {TARGET})",
    ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--seeds", default="0,1,2,3", help="comma-separated (default 0,1,2,3)")
    own, rest = parser.parse_known_args(argv)
    args = grpo_vs_trl.parse_args(rest)
    quiet_libraries()
    from core.paths import data_dir

    model_dir = grpo_vs_trl.resolve_model(args.model, args.cache_dir or data_dir() / "bench")
    base = grpo_vs_trl.settings_from_args(args, model_dir, "grpo")
    seeds = [int(s) for s in own.seeds.split(",") if s.strip()]
    runs: dict[tuple[str, int], SideResult] = {}
    for index, seed in enumerate(seeds):
        settings = GroupBenchSettings(**{**base.__dict__, "seed": seed})
        for side in SIDES if index % 2 == 0 else tuple(reversed(SIDES)):
            print(f"[seed {seed}] running {side} ...", file=sys.stderr, flush=True)
            runs[side, seed] = grpo_vs_trl.run_in_subprocess(side, settings)
    lines = report(base, runs)
    if args.json_out:
        payload = {f"{side}/{seed}": r.to_dict() for (side, seed), r in runs.items()}
        args.json_out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
