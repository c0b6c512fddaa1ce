"""Build the demo judge: the demo model, fine-tuned to answer judge queries.

The judge is a standard GPT-2 folder, so the ordinary LLMJudge reads it like any judge:
P(" A") against P(" B") after a pairwise query, the number tokens after a pointwise one.
It starts from the demo model's weights (its tokenizer and its knowledge of the review
vocabulary) with the context stretched to fit a rubric and two answers, and is trained
at the answer positions (a classifier head over the verdict token, in effect) on
synthetic tasks from core.judge.tasks, with soft targets from the ground truth. Beside
the verdict, a linear probe on the last hidden states can learn auxiliary targets at every
token (word counts, and both pair margins at the answer; `aux_targets`): the dense
signal that taught the judge to compare lengths (`aux_weight`, for the steps between
`aux_from` and `aux_until`). The probe is dropped on saving; the verdict is the model's
own next-token distribution.
"""

from __future__ import annotations

import bisect
import json
import math
import platform
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from core.demo.threads import ThreadGovernor, available_cores
from core.judge.cache import INFO_FILE  # written last: its presence marks a complete folder
from core.judge.rubrics import CRITERIA, PRESETS
from core.judge.tasks import PairTask, PointTask, TaskMix, pair_tasks, point_tasks
from core.progress import Progress, no_progress


@dataclass(frozen=True)
class JudgeBuildConfig:
    """Everything that decides the demo judge's weights."""

    n_pairs: int = 6000
    """Random pairs; each is trained in both orders."""
    n_points: int = 2000
    """Pointwise tasks (single answers scored 1..10)."""
    n_layer: int = 4
    """Transformer blocks kept from the demo model (the first ones)."""
    n_positions: int = 256
    """Context length: a rubric, a prompt and two answers of about 40 tokens fit."""
    steps: int = 800
    """Optimiser steps."""
    batch_size: int = 32
    """Tasks per step."""
    learning_rate: float = 1e-3
    """Peak learning rate (cosine decay after a short warmup)."""
    warmup_steps: int = 20
    """Linear warmup steps."""
    score_sigma: float = 0.8
    """Width of the soft pointwise target around the true score (score units)."""
    aux_weight: float = 0.0
    """Weight of the auxiliary length targets (word counts, pair margins; `aux_targets`).
    0, the default, trains the verdict alone: the recipe whose figures docs/benchmarks.md
    gives first. 2 taught lengths (concision 82 % from 58 %) but cost positivity (82.5 %
    from 89.5 %) and let sentiment leak into concision verdicts; 2 for the first 70 % of
    the steps then the verdict alone (`PROBE_THEN_VERDICT`) kept both, nearly."""
    aux_from: float = 0.0
    """Fraction of the steps after which the probe's loss counts (a curriculum: the
    verdict alone first)."""
    aux_until: float = 1.0
    """Fraction of the steps after which the probe's loss stops counting (the verdict alone
    last)."""
    mix: TaskMix = TaskMix()
    """How the synthetic answers and pairs are drawn (core.judge.tasks.TaskMix)."""
    criteria: tuple[str, ...] = PRESETS
    """The criteria trained (tests train fewer)."""
    seed: int = 0
    """Seed of the tasks, new weights and batch order."""
    num_threads: int | None = None
    """Torch CPU threads; None = all cores while they beat one thread."""


PROBE_THEN_VERDICT = JudgeBuildConfig(
    steps=1200, aux_weight=2.0, aux_until=0.7, mix=TaskMix(short=0.15, balance=0.5, max_words=30)
)
"""A candidate recipe (docs/benchmarks.md): the length probe for the first 70 % of 1,200
steps, then the verdict alone, on tasks with more 3-6-word answers, length/sentiment
balanced pairs and answers capped at 30 words. Concision rose to 90-98 % (58 % under the
default), positivity stayed at 86-93 %; not the default yet: one of its two builds missed
the free-text concision rubric (82 %), and both miss the position-bias target under the
free-text positive-concise rubric (16-17 %)."""
PROBE_THEN_VERDICT_ASIDES = replace(
    PROBE_THEN_VERDICT, steps=1400, mix=replace(PROBE_THEN_VERDICT.mix, asides=0.8)
)
"""PROBE_THEN_VERDICT with a preamble and a closing sentence in 80 % of the rubrics each
(`TaskMix.asides`: the combination the free-text position bias came from) and 1,400 steps.
One of its first two builds met every target, the other missed positive-concise's
position bias (docs/benchmarks.md); at asides 0.5 and 1,200 steps neither did."""
SHIPPED = replace(PROBE_THEN_VERDICT_ASIDES, seed=1, num_threads=2)
"""The demo judge every user builds (JUDGE_VERSION 2): PROBE_THEN_VERDICT_ASIDES with seed
1, on exactly two threads. The thread count is pinned because it changes how the matrix
products sum, and so the weights: with it fixed, a build is the one docs/benchmarks.md
measured (all six rubrics >= 94.6 % agreement and <= 9.0 % position bias on clear pairs;
about 5 minutes on 2 cores), not a neighbour of it. Other seeds and thread schedules of the
recipe miss a target now and then (docs/benchmarks.md, "The shipped judge")."""
RECIPES = {
    "default": SHIPPED,
    "verdict-alone": JudgeBuildConfig(),
    "probe-then-verdict": PROBE_THEN_VERDICT,
    "probe-then-verdict+asides": PROBE_THEN_VERDICT_ASIDES,
}
"""Named build recipes (`bench/judge_quality.py --recipe`)."""


@dataclass(frozen=True)
class AnswerTokens:
    """The token ids the judge is trained to answer with (LLMJudge reads all variants)."""

    a: int
    b: int
    digits: list[int]  # "1".."9": scores 1..9; "1" then "0" is 10
    zero: int
    end: int

    @classmethod
    def of(cls, tokenizer: PreTrainedTokenizerFast) -> AnswerTokens:
        def one(text: str) -> int:
            for variant in (" " + text, text):
                ids = tokenizer.encode(variant, add_special_tokens=False)
                if len(ids) == 1:
                    return ids[0]
            raise ValueError(f"the demo tokenizer has no single token for {text!r}")

        return cls(
            a=one("A"),
            b=one("B"),
            digits=[one(str(s)) for s in range(1, 10)],
            zero=one("0"),
            end=tokenizer.eos_token_id,
        )


def build_demo_judge(
    folder: Path, demo_folder: Path, config: JudgeBuildConfig | None = None,
    progress: Progress | None = None,
) -> dict:  # fmt: skip
    """Generate tasks, fine-tune the demo model at `demo_folder` on them, save at `folder`
    (`config` None: the shipped recipe, SHIPPED)."""
    from core.demo import DEMO_PROMPTS

    config = config or SHIPPED
    report = progress or no_progress
    started = time.perf_counter()
    previous_threads = torch.get_num_threads()
    governor = (
        ThreadGovernor.fixed(config.num_threads)
        if config.num_threads
        else ThreadGovernor(available_cores())
    )
    try:
        report(0, config.steps + 2, "writing judge tasks")
        tokenizer = PreTrainedTokenizerFast.from_pretrained(demo_folder)
        tokenizer.model_max_length = config.n_positions  # the judge's context, not the demo's
        model = _stretched_model(demo_folder, config)
        tokens = AnswerTokens.of(tokenizer)
        prompts = DEMO_PROMPTS
        pairs = pair_tasks(config.n_pairs, prompts, config.seed, config.criteria, config.mix)
        points = point_tasks(config.n_points, prompts, config.seed, config.criteria, config.mix)
        rows = _encode(tokenizer, pairs, points, tokens, config)
        losses = _train(model, rows, config, governor, report)
        evaluation = evaluate_synthetic(model, tokenizer, tokens, config, prompts)
        info = {
            "parameters": sum(p.numel() for p in model.parameters()),
            "tasks": len(pairs) + len(points),
            "steps": config.steps,
            "final_train_loss": round(sum(losses[-20:]) / len(losses[-20:]), 4),
            "synthetic_accuracy": evaluation,
            "build_seconds": round(time.perf_counter() - started, 1),
            "thread_schedule": governor.schedule,
            "config": asdict(config),
            "torch": torch.__version__,
            "python": platform.python_version(),
        }
        report(config.steps + 1, config.steps + 2, "saving")
        _save(folder, model, tokenizer, info)
        return info
    finally:
        torch.set_num_threads(previous_threads)


def _stretched_model(demo_folder: Path, config: JudgeBuildConfig) -> GPT2LMHeadModel:
    """The demo model with its position table stretched to config.n_positions.

    New positions start as copies of the last trained one plus noise: close to a position
    the blocks know, distinct enough to be told apart after training.
    """
    torch.manual_seed(config.seed)
    demo = GPT2LMHeadModel.from_pretrained(demo_folder)
    settings = demo.config.to_dict() | {
        "n_positions": config.n_positions,
        "n_layer": config.n_layer,
    }
    model = GPT2LMHeadModel(GPT2Config.from_dict(settings))
    state = demo.state_dict()
    old = state["transformer.wpe.weight"]  # (P_old, C)
    extra = config.n_positions - old.shape[0]
    if extra > 0:
        tail = old[-1:].expand(extra, -1) + 0.01 * torch.randn(extra, old.shape[1])
        state["transformer.wpe.weight"] = torch.cat([old, tail])
    model.load_state_dict(state, strict=False)
    return model


def _encode(tokenizer, pairs: list[PairTask], points: list[PointTask], tokens: AnswerTokens,
            config: JudgeBuildConfig) -> list[tuple[list[int], torch.Tensor, torch.Tensor]]:  # fmt: skip
    """[(input ids, targets (2, V), auxiliary targets (T, AUX))]: soft targets at the end.

    Pairwise rows answer at the last position (row -1 of the target is A/B, row -2 empty).
    Pointwise rows end with the appended "1", as LLMJudge queries them: row -2 is the score
    distribution (mass of 1 and 10 on "1"), row -1 whether "1" goes on to "0" (10) or ends.
    """
    vocab = len(tokenizer)
    rows = []
    for pair, (ids, offsets) in zip(pairs, _ids(tokenizer, [t.text for t in pairs]), strict=True):
        target = torch.zeros(2, vocab)
        target[1, tokens.a], target[1, tokens.b] = pair.p_a, 1.0 - pair.p_a
        aux = aux_targets(pair.text, offsets, pair.spans, pair.features)
        rows.append((ids[-config.n_positions :], target, aux[-config.n_positions :]))
    for point, (ids, offsets) in zip(
        points, _ids(tokenizer, [t.text for t in points]), strict=True
    ):
        aux = aux_targets(point.text, offsets + [(len(point.text),) * 2], point.spans, ())
        rows.append((ids[-(config.n_positions - 1) :] + [tokens.digits[0]],
                     _score_target(point.score, tokens, vocab, config.score_sigma),
                     aux[-config.n_positions :]))  # fmt: skip
    return rows


AUX_SCALE = 8.0
"""Word counts are taught divided by this: a one-word error must cost something beside
the verdict's loss (divided by 16, it cost 0.004 and the judge counted coarsely)."""
AUX_CHANNELS = 5
"""Auxiliary targets per token: words so far in the answer it belongs to, answer A's
words (after A), answer B's words (after B), and at the last position the pair's
concision and positivity margins (core.judge.tasks.PAIR_FEATURES)."""


def aux_targets(text: str, offsets, spans, features) -> torch.Tensor:
    """(T, AUX_CHANNELS) targets for each token, NaN where a channel says nothing.

    One verdict per task is a sparse signal for a fact as plain as "which answer is
    shorter": the judge sat near P = 0.5 under concision. So every token also learns to
    count the words of its answer, every later token to carry each answer's count, and
    the answer position to state both margins whatever the rubric; the rubric then only
    has to pick one. The head that reads these is discarded after training.
    """
    # Filled as lists, made a tensor once: element-wise tensor writes took 4 of the 5 s
    # these targets cost a build.
    rows = [[math.nan] * AUX_CHANNELS for _ in offsets]
    for channel, (start, end) in enumerate(spans):
        starts = [i for i in range(start, end) if not text[i].isspace()
                  and (i == start or text[i - 1].isspace())]  # fmt: skip
        words = len(starts)
        for row, (s, e) in zip(rows, offsets, strict=True):
            if s < end and e > start:  # the token overlaps the answer
                row[0] = bisect.bisect_left(starts, e) / AUX_SCALE
            elif s >= end:
                row[1 + channel] = words / AUX_SCALE
    aux = torch.tensor(rows, dtype=torch.float32).reshape(len(offsets), AUX_CHANNELS)
    if features:
        aux[-1, 3 : 3 + len(features)] = torch.tensor(features)
    return aux


def _ids(tokenizer, texts: list[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
    if not texts:
        return []
    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    return list(zip(encoded["input_ids"], encoded["offset_mapping"], strict=True))


def _score_target(score: float, tokens: AnswerTokens, vocab: int, sigma: float) -> torch.Tensor:
    q = torch.tensor([math.exp(-0.5 * ((s - score) / sigma) ** 2) for s in range(1, 11)])
    q = q / q.sum()  # (10,) over scores 1..10
    target = torch.zeros(2, vocab)
    for s in range(2, 10):
        target[0, tokens.digits[s - 1]] = q[s - 1]
    ones = q[0] + q[9]  # both start with the token "1"
    target[0, tokens.digits[0]] = ones
    target[1, tokens.zero], target[1, tokens.end] = q[9], q[0]  # weight ones, split 10 vs 1
    return target


def _batch(rows, pad_id: int) -> tuple[torch.Tensor, ...]:
    """Left-padded (input_ids, mask, positions, targets, aux), as LLMJudge pads its queries."""
    width = max(len(row[0]) for row in rows)
    input_ids = torch.tensor([[pad_id] * (width - len(row[0])) + row[0] for row in rows])
    mask = torch.tensor([[0] * (width - len(row[0])) + [1] * len(row[0]) for row in rows])
    positions = (mask.cumsum(-1) - 1).clamp_min(0)
    aux = torch.full((len(rows), width, AUX_CHANNELS), float("nan"))
    for i, row in enumerate(rows):
        if len(row) > 2:
            aux[i, width - len(row[2]) :] = row[2]
    return input_ids, mask, positions, torch.stack([row[1] for row in rows]), aux


def _answer_logprobs(model: GPT2LMHeadModel, input_ids, mask, positions) -> torch.Tensor:
    """Log-probs at the last two positions only (the LM head over the rest is wasted): (B, 2, V)."""
    return _forward(model, input_ids, mask, positions)[0]


def _forward(model: GPT2LMHeadModel, input_ids, mask, positions):
    """(log-probs at the last two positions (B, 2, V), hidden states (B, T, C))."""
    hidden = model.transformer(
        input_ids=input_ids, attention_mask=mask, position_ids=positions
    ).last_hidden_state  # (B, T, C)
    return torch.log_softmax(model.lm_head(hidden[:, -2:]).float(), dim=-1), hidden


def _aux_loss(probe: torch.nn.Linear, hidden: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
    """Mean squared error of each auxiliary channel where it has a target, summed."""
    known = ~aux.isnan()  # (B, T, AUX)
    error = (probe(hidden) - aux.nan_to_num()).square() * known
    return (error.sum((0, 1)) / known.sum((0, 1)).clamp_min(1)).sum()


def _train(model, rows, config: JudgeBuildConfig, governor: ThreadGovernor, report) -> list[float]:
    """Soft cross-entropy at the answer positions; AdamW, warmup then cosine decay."""
    rng = random.Random(config.seed)
    # Batches of similar length waste little on padding; their order is shuffled.
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))
    batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    # The length probe, when asked for (aux_weight > 0), is discarded after training.
    probe = torch.nn.Linear(model.config.n_embd, AUX_CHANNELS) if config.aux_weight > 0 else None
    parameters = [*model.parameters(), *(probe.parameters() if probe is not None else ())]
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=0.01,
                                  betas=(0.9, 0.95))  # fmt: skip
    pad = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    losses: list[float] = []
    model.train()
    queue: list[list[int]] = []
    for step in range(config.steps):
        if not queue:
            queue = batches[:]
            rng.shuffle(queue)
        input_ids, mask, positions, target, aux = _batch([rows[i] for i in queue.pop()], pad)
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(step, config)
        threads = governor.threads_for(step)
        if threads is not None and threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        started = time.perf_counter()
        logprobs, hidden = _forward(model, input_ids, mask, positions)  # (B, 2, V), (B, T, C)
        loss = -(target * logprobs).sum((1, 2)).mean()
        total = loss
        if probe is not None and config.aux_from <= step / config.steps < config.aux_until:
            total = loss + config.aux_weight * _aux_loss(probe, hidden, aux)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        governor.record(time.perf_counter() - started)
        losses.append(loss.item())
        report(step + 1, config.steps + 2, f"step {step + 1}/{config.steps} loss {losses[-1]:.3f}")
    model.eval()
    return losses


def _learning_rate(step: int, config: JudgeBuildConfig) -> float:
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def evaluate_synthetic(model, tokenizer, tokens: AnswerTokens, config: JudgeBuildConfig,
                       prompts: list[str], n_pairs: int = 150) -> dict[str, float]:  # fmt: skip
    """Single-order accuracy on held-out synthetic pairs whose truth is clear, per criterion."""
    tasks = pair_tasks(n_pairs, prompts, config.seed + 7919, config.criteria)
    pad = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    hits: dict[str, list[bool]] = {name: [] for name in CRITERIA}
    for start in range(0, len(tasks), 32):
        chunk = tasks[start : start + 32]
        rows = [(tokenizer.encode(t.text, add_special_tokens=False)[-config.n_positions :],
                 torch.zeros(2, 1)) for t in chunk]  # fmt: skip
        input_ids, mask, positions, _, _ = _batch(rows, pad)
        logprobs = _answer_logprobs(model, input_ids, mask, positions)[:, -1]
        says_a = (logprobs[:, tokens.a] > logprobs[:, tokens.b]).tolist()
        for task, a in zip(chunk, says_a, strict=True):
            if abs(task.p_a - 0.5) > 0.45:  # margin beyond about 3 temperatures: clear
                hits[_criterion_of(task.text)].append(a == (task.p_a > 0.5))
    return {name: round(sum(h) / len(h), 3) for name, h in hits.items() if h}


def _criterion_of(text: str) -> str:
    for name, criterion in CRITERIA.items():
        if any(clause in text for clause in criterion.clauses):
            return name
    return "other"


def _save(folder: Path, model: GPT2LMHeadModel, tokenizer, info: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, max_new_tokens=4,
    )  # fmt: skip
    model.save_pretrained(folder)
    tokenizer.model_max_length = model.config.n_positions
    tokenizer.save_pretrained(folder)
    (folder / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
