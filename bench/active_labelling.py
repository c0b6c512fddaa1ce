"""Active labelling against random order: labels a simulated rater must give before a
reward model reaches the same held-out accuracy.

The rater has a known preference: of two demo-corpus reviews, the more positive one (by
VADER compound, the app's `sentiment` reward), chosen with Bradley-Terry noise
P(A) = σ((s_A - s_B) / TEMPERATURE). The reward model is a Bradley-Terry linear head on
fixed features of each answer (hashed word counts: the stand-in for a backbone's hidden
state, which keeps 2 x 5 seeds x 30 rounds of bootstrap refits to seconds on a CPU).

Both strategies start from the same random labels and add BATCH labels a round:
random takes pool pairs in a random order; active takes the pairs a bootstrap ensemble of
MEMBERS models is least sure of (core.rating.active.least_certain). Accuracy is measured on
held-out pairs against the rater's noiseless preference, averaged over SEEDS. The target
is the accuracy random order reaches with the whole BUDGET; labels_to_target is the first
number of labels at which each strategy's mean accuracy reaches it.

    python -m bench.active_labelling
"""

from __future__ import annotations

import random
import time
import zlib

import numpy as np

from core.demo.corpus import generate_reviews
from core.rating.active import bootstrap_indices, least_certain

FEATURES = 1024
TEMPERATURE = 0.03
START, BATCH, BUDGET = 20, 10, 400
MEMBERS, SEEDS = 5, 10
POOL, HELD_OUT = 1500, 500
L2 = 1e-2
CLEAR = 0.1
"""Held-out pairs whose sentiment differs by less than this have no clear right answer
(the rater picks either about as often): accuracy is measured on the others."""


def featurise(texts: list[str]) -> np.ndarray:
    """(N, FEATURES) hashed word counts (crc32: the same in every process)."""
    out = np.zeros((len(texts), FEATURES))
    for row, text in enumerate(texts):
        for word in text.lower().replace(".", " ").replace(",", " ").split():
            out[row, zlib.crc32(word.encode()) % FEATURES] += 1.0
    return out


def fit(x: np.ndarray, y: np.ndarray, steps: int = 150) -> np.ndarray:
    """Bradley-Terry weights w: P(A better) = σ(w · (φ_A - φ_B)); Newton-free gradient
    descent on the mean log loss plus L2."""
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        w -= 0.5 * (x.T @ (p - y) / len(y) + L2 * w)
    return w


def simulate(strategy: str, seed: int, diff: np.ndarray, truth: np.ndarray,
             held: np.ndarray, held_truth: np.ndarray) -> list[float]:  # fmt: skip
    """Held-out accuracy after each round of `strategy` (random | active)."""
    rng = np.random.default_rng(seed)
    votes = rng.random(len(truth)) < 1.0 / (1.0 + np.exp(-truth / TEMPERATURE))
    order = list(rng.permutation(len(truth)))
    labelled = order[:START]
    rest = order[START:]
    curve = []
    while True:
        w = fit(diff[labelled], votes[labelled].astype(float))
        clear = np.abs(held_truth) >= CLEAR
        curve.append(float(np.mean((held[clear] @ w > 0) == (held_truth[clear] > 0))))
        if len(labelled) >= BUDGET:
            return curve
        if strategy == "random":
            labelled, rest = labelled + rest[:BATCH], rest[BATCH:]
            continue
        members = [fit(diff[[labelled[i] for i in sample]], votes[[labelled[i] for i in sample]]
                       .astype(float)) for sample in bootstrap_indices(len(labelled), MEMBERS,
                                                                        seed + len(labelled))]  # fmt: skip
        p = np.stack([1.0 / (1.0 + np.exp(-(diff[rest] @ m))) for m in members])
        picked = [rest[i] for i in least_certain(p, BATCH)]
        labelled = labelled + picked
        rest = [i for i in rest if i not in set(picked)]


def main() -> None:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    started = time.perf_counter()
    texts = generate_reviews(2 * (POOL + HELD_OUT), seed=7)
    vader = SentimentIntensityAnalyzer()
    score = np.array([vader.polarity_scores(t)["compound"] for t in texts])
    phi = featurise(texts)
    draw = random.Random(3)
    pairs = [
        (draw.randrange(len(texts)), draw.randrange(len(texts))) for _ in range(POOL + HELD_OUT)
    ]
    a, b = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    diff, truth = phi[a] - phi[b], score[a] - score[b]
    curves = {
        name: np.mean(
            [
                simulate(name, seed, diff[:POOL], truth[:POOL], diff[POOL:], truth[POOL:])
                for seed in range(SEEDS)
            ],
            axis=0,
        )  # fmt: skip
        for name in ("random", "active")
    }
    labels = [START + BATCH * i for i in range(len(curves["random"]))]
    target = curves["random"][-1]
    needed = {name: next(n for n, acc in zip(labels, curve, strict=True) if acc >= target - 1e-9)
              if (curve >= target - 1e-9).any() else None for name, curve in curves.items()}  # fmt: skip
    for name, curve in curves.items():
        shown = [round(float(c), 3) for c in curve[::5]]
        print(f"{name}: accuracy at {labels[::5]} labels = {shown}")
    print(f"target accuracy {target:.3f} (random order with {BUDGET} labels); labels needed: "
          f"random {needed['random']}, active {needed['active']}")  # fmt: skip
    ratio = None if needed["active"] is None else needed["active"] / needed["random"]
    print(f"active/random labels_to_target={'n/a' if ratio is None else f'{ratio:.2f}'}")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
