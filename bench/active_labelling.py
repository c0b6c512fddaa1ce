"""Active labelling against random order: labels a simulated rater must give before a
reward model reaches the same held-out accuracy.

The rater has a known preference: of two demo-corpus reviews, the more positive one (by
VADER compound, the app's `sentiment` reward), chosen with Bradley-Terry noise
P(A) = σ((s_A - s_B) / TEMPERATURE). The reward model is the real one's head on the real
one's features: the demo backbone's pooled hidden state (core.reward_model.features, computed once
per review), a linear Bradley–Terry head refitted on the labels after every round
(core.rating.active.fit_head) — what the app's order option does with a trained reward model.

Every order starts from the same START random labels of a seed and adds BATCH a round up
to BUDGET. *random* takes pool pairs in a random order; the others take the pairs a
bootstrap ensemble of MEMBERS heads rates highest by their rule (core.rating.active: bald,
margin, spread), with the diversity rule. Accuracy is measured on held-out pairs with a
clear preference (sentiment differing by at least CLEAR) against the rater's noiseless
preference.

The target sits below the plateau and is fixed in advance: the accuracy random order's
seed-averaged curve has at TARGET_LABELS labels. labels_to_target is where an averaged
curve first reaches it, linearly interpolated between rounds. The ratio is reported for
the averaged curves, with a 90 % interval from resampling the seeds, and per seed
(that seed's active and random curves, same start labels and votes).

    python -m bench.active_labelling [--seeds 30] [--rules bald,margin,spread]
"""

from __future__ import annotations

import argparse
import os
import random
import time

# The heads are 128 x 128 solves: BLAS threads only fight each other over such small
# matrices (several times slower on a shared 2-core machine). Before numpy loads.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402

from core.rating.active import (  # noqa: E402
    bootstrap_heads,
    fit_head,
    pair_probabilities,
    pick_batch,
    standardise,
    uncertainty,
)

TEMPERATURE = 0.03
START, BATCH, BUDGET = 20, 10, 300
TARGET_LABELS = 200
MEMBERS = 8
REVIEWS = 4000
POOL, HELD_OUT = 1500, 3000
"""Pairs drawn from the reviews: the pool labels are taken from, and the held-out pairs
(many, so that one seed's accuracy is not dominated by which pairs were held out)."""
CLEAR = 0.1
"""Held-out pairs whose sentiment differs by less than this have no clear right answer
(the rater picks either about as often): accuracy is measured on the others."""


def demo_features(texts: list[str]) -> np.ndarray:
    """(N, H) the demo backbone's pooled hidden state for each review (+ end-of-text),
    as an untrained reward model's head on the demo model reads it."""
    import torch

    from core.demo import ensure_demo_model
    from core.reward_model.features import pooled_features
    from core.reward_model.training import load_backbone

    model, tokenizer = load_backbone(str(ensure_demo_model()), torch.device("cpu"), torch.float32)
    inputs = [text + tokenizer.eos_token for text in texts]
    return pooled_features(model.eval(), tokenizer, inputs, max_length=128, batch_size=64).numpy()


def simulate(rule: str, seed: int, diff: np.ndarray, truth: np.ndarray,
             held: np.ndarray, held_truth: np.ndarray) -> np.ndarray:  # fmt: skip
    """Held-out accuracy after each round of `rule` (random | bald | margin | spread; with
    `-plain`, e.g. bald-plain, the batch is the top BATCH without the diversity rule)."""
    rng = np.random.default_rng(seed)
    votes = (rng.random(len(truth)) < 1.0 / (1.0 + np.exp(-truth / TEMPERATURE))).astype(float)
    order = [int(i) for i in rng.permutation(len(truth))]
    labelled, rest = order[:START], order[START:]
    clear = np.abs(held_truth) >= CLEAR
    curve = []
    while True:
        w = fit_head(diff[labelled], votes[labelled])
        curve.append(float(np.mean((held[clear] @ w > 0) == (held_truth[clear] > 0))))
        if len(labelled) >= BUDGET:
            return np.array(curve)
        if rule == "random":
            picked = rest[:BATCH]
        else:
            heads = bootstrap_heads(diff[labelled], votes[labelled], MEMBERS, seed + len(labelled))
            acquisition, _, plain = rule.partition("-")  # "bald-plain": no diversity rule
            scores = uncertainty(pair_probabilities(heads, diff[rest]), acquisition)
            picked = [rest[i] for i in pick_batch(scores, BATCH, None if plain else diff[rest])]
        taken = set(picked)
        labelled, rest = labelled + picked, [i for i in rest if i not in taken]


def labels_to(target: float, curve: np.ndarray, labels: np.ndarray) -> float | None:
    """Labels at which `curve` first reaches `target`, interpolated between rounds (None:
    never within the budget)."""
    above = np.nonzero(curve >= target)[0]
    if not len(above):
        return None
    i = int(above[0])
    if i == 0:
        return float(labels[0])
    a, b = curve[i - 1], curve[i]
    return float(labels[i - 1] + (labels[i] - labels[i - 1]) * (target - a) / (b - a))


def ratio_of(
    curves: dict[str, np.ndarray], rule: str, labels: np.ndarray, at: int = TARGET_LABELS
) -> float | None:
    """active/random labels_to_target for (seeds, rounds) curves, averaged over seeds, the
    target being random order's mean accuracy at `at` labels."""
    mean_random = curves["random"].mean(axis=0)
    target = float(np.interp(at, labels, mean_random))
    active = labels_to(target, curves[rule].mean(axis=0), labels)
    base = labels_to(target, mean_random, labels)
    return None if active is None or base is None else active / base


def report(curves: dict[str, np.ndarray], labels: np.ndarray) -> None:
    """Curves, labels to target, the ratio with its seed-resampled interval, per-seed."""
    mean_random = curves["random"].mean(axis=0)
    target = float(np.interp(TARGET_LABELS, labels, mean_random))
    seeds = len(mean_random) and curves["random"].shape[0]
    print(f"target accuracy {target:.3f} (random order's mean at {TARGET_LABELS} labels; "
          f"{seeds} seeds; final {mean_random[-1]:.3f} at {BUDGET})")  # fmt: skip
    for name, curve in curves.items():
        shown = " ".join(
            f"{n}:{c:.3f}" for n, c in zip(labels[::4], curve.mean(axis=0)[::4], strict=True)
        )
        reached = labels_to(target, curve.mean(axis=0), labels)
        print(f"  {name:7s} {shown}  -> target at {reached and round(reached)} labels")
    draw = np.random.default_rng(0)
    for rule in [name for name in curves if name != "random"]:
        resampled = []
        for _ in range(1000):
            rows = draw.integers(0, seeds, seeds)
            resampled.append(ratio_of({k: v[rows] for k, v in curves.items()}, rule, labels))
        finite = np.array([r for r in resampled if r is not None])
        per_seed = []
        for s in range(seeds):
            active, base = (labels_to(target, curves[k][s], labels) for k in (rule, "random"))
            per_seed.append(np.inf if active is None else active / (base or BUDGET))
        q = np.quantile(per_seed, [0.1, 0.25, 0.5, 0.75, 0.9])
        ratio = ratio_of(curves, rule, labels)
        print(f"{rule}: active/random labels_to_target="
              f"{'n/a' if ratio is None else f'{ratio:.2f}'} (90 % interval over resampled "
              f"seeds {np.quantile(finite, 0.05):.2f}-{np.quantile(finite, 0.95):.2f}; "
              f"{len(resampled) - len(finite)} of 1000 resamples never reach); per seed: "
              f"median {q[2]:.2f}, quartiles {q[1]:.2f}-{q[3]:.2f}, 10-90 % {q[0]:.2f}-{q[4]:.2f}, "
              f"active first in {sum(r < 1 for r in per_seed)} of {seeds}")  # fmt: skip
        others = {at: ratio_of(curves, rule, labels, at) for at in (100, 150, 200, 250, BUDGET)}
        print(f"  {rule}, other targets (random's accuracy at N labels): " + ", ".join(
            f"N={at}: {'n/a' if r is None else f'{r:.2f}'}" for at, r in others.items()))  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument(
        "--rules",
        default="bald,margin,spread",
        help="orders besides random (bald-plain: bald without the diversity rule)",
    )
    args = parser.parse_args(argv)
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from core.demo.corpus import generate_reviews

    started = time.perf_counter()
    texts = generate_reviews(REVIEWS, seed=7)
    vader = SentimentIntensityAnalyzer()
    score = np.array([vader.polarity_scores(t)["compound"] for t in texts])
    phi = standardise(demo_features(texts))
    featured = time.perf_counter() - started
    draw = random.Random(3)
    pairs = [
        (draw.randrange(len(texts)), draw.randrange(len(texts))) for _ in range(POOL + HELD_OUT)
    ]
    a, b = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    diff, truth = phi[a] - phi[b], score[a] - score[b]
    split = (diff[:POOL], truth[:POOL], diff[POOL:], truth[POOL:])
    curves = {
        rule: np.stack([simulate(rule, seed, *split) for seed in range(args.seeds)])
        for rule in ["random", *args.rules.split(",")]
    }
    labels = START + BATCH * np.arange(curves["random"].shape[1])
    report(curves, labels)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"({time.perf_counter() - started:.0f} s, features {featured:.0f} s; load {load})")


if __name__ == "__main__":
    main()
