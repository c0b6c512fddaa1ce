"""How far AI labels can be trusted: an AI judge against the people, and the reward model.

For each AI rater (`ai:<judge>#<rubric>`: a model under one rubric; the same model under
another rubric is another rater, so two rubrics can be compared side by side) on the pairs
that a person also compared:

- agreement: share of pairs where the judge's verdict equals the person's;
- Cohen's kappa (Cohen 1960): agreement corrected for chance,
  κ = (p_o - p_e) / (1 - p_e) with p_e = Σ_k p_human(k) · p_ai(k);
- position-bias rate: share of the judge's comparisons where it chose the same position
  (A or B) in both presentation orders, i.e. where the order, not the content, decided.

A pair is the same pair whichever side each rater saw on the left: the AI verdict is
turned to the person's orientation before comparing. When a pair has several labels from
one rater, the latest counts. 'both_bad' says nothing about the order and is left out.

The reward model's accuracy on human labels is measured on the human comparisons it was
not trained on (rm_meta.json lists those it was), with the same `rm=` reward source PPO
uses, so the figure is what PPO will see.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.store import Store
    from core.store.rows import ComparisonRow

ORDERED = ("left", "right", "tie")
"""Verdicts that say something about the order of a pair."""


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters' labels on the same items; None when undefined.

    Undefined when there are no items or chance agreement is certain (both raters always
    gave the one same label): 0/0.
    """
    if len(first) != len(second):
        raise ValueError("both raters must label the same items")
    n = len(first)
    if n == 0:
        return None
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    count_a, count_b = Counter(first), Counter(second)
    expected = sum(count_a[k] * count_b[k] for k in count_a) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def chose_same_side(detail: dict[str, Any] | None) -> bool | None:
    """Whether a judge picked the same position in both orders; None without per-order data."""
    if not detail or "p_left_first" not in detail or "p_left_swapped" not in detail:
        return None
    # p_left_first > 0.5 means "A" in order 1; p_left_swapped < 0.5 means "A" in order 2.
    return (detail["p_left_first"] - 0.5) * (detail["p_left_swapped"] - 0.5) < 0


def _pair_key(row: ComparisonRow) -> tuple[int, frozenset[int]]:
    return row.prompt_id, frozenset((row.left_id, row.right_id))


def _oriented(verdict: str, row: ComparisonRow, like: ComparisonRow) -> str:
    """`verdict` given on `row`, told in the left/right orientation of `like`."""
    if row.left_id == like.left_id or verdict == "tie":
        return verdict
    return {"left": "right", "right": "left"}.get(verdict, verdict)


def _latest(rows: Sequence[ComparisonRow]) -> dict[tuple[int, frozenset[int]], ComparisonRow]:
    latest: dict[tuple[int, frozenset[int]], ComparisonRow] = {}
    for row in sorted(rows, key=lambda r: r.id):
        if row.verdict in ORDERED:
            latest[_pair_key(row)] = row
    return latest


@dataclass(frozen=True)
class JudgeAgreement:
    """One AI rater against the people."""

    rater: str
    n_ai: int
    """Comparisons by this rater."""
    model: str
    """The judge model's name (the rater without its rubric)."""
    rubric: str | None
    """The rubric id (None for raters named before rubrics were part of the judge)."""
    n_overlap: int
    """Pairs labelled by both this rater and a person (verdicts left, right or tie)."""
    agreement: float | None
    """Share of the overlap where both gave the same verdict (0..1)."""
    kappa: float | None
    """Cohen's kappa on the overlap; None when undefined."""
    position_bias_rate: float | None
    """Share of this rater's comparisons (with per-order data) decided by position (0..1)."""
    n_position: int
    """Comparisons with per-order data (the denominator of position_bias_rate)."""


def judge_agreement(
    human_rows: Sequence[ComparisonRow], ai_rows: Sequence[ComparisonRow], rater: str
) -> JudgeAgreement:
    """Agreement of `rater`'s comparisons (from ai_rows) with the human ones."""
    mine = [row for row in ai_rows if row.rater == rater]
    humans, ais = _latest(human_rows), _latest(mine)
    shared = sorted(set(humans) & set(ais), key=lambda key: humans[key].id)
    human_labels = [humans[key].verdict for key in shared]
    ai_labels = [_oriented(ais[key].verdict, ais[key], humans[key]) for key in shared]
    agree = sum(h == a for h, a in zip(human_labels, ai_labels, strict=True))
    chosen_sides = [chose_same_side(row.detail) for row in mine]
    sides = [side for side in chosen_sides if side is not None]
    head, sep, rubric = rater.removeprefix("ai:").rpartition("#")
    return JudgeAgreement(
        rater=rater,
        n_ai=len(mine),
        model=head if sep else rubric,
        rubric=rubric if sep else None,
        n_overlap=len(shared),
        agreement=agree / len(shared) if shared else None,
        kappa=cohen_kappa(human_labels, ai_labels),
        position_bias_rate=sum(sides) / len(sides) if sides else None,
        n_position=len(sides),
    )


@dataclass(frozen=True)
class RewardModelAccuracy:
    """A reward model's accuracy on human comparisons it did not train on."""

    folder: str
    accuracy: float | None
    n: int
    """Human comparisons (left/right) it was measured on."""
    held_out_only: bool
    """False when the folder has no rm_meta.json: training pairs may be among the n."""
    meta_held_out_accuracy_human: float | None
    """The figure measured at training time on its own held-out split, if recorded."""


@dataclass(frozen=True)
class AgreementReport:
    """The whole report: every AI rater, and the reward model if one is known."""

    n_human: int
    n_ai: int
    judges: list[JudgeAgreement]
    reward_model: RewardModelAccuracy | None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for JSON output and the GUI)."""
        return asdict(self)

    def format(self) -> str:
        """A short text report for the terminal."""
        lines = [f"Human comparisons: {self.n_human}    AI comparisons: {self.n_ai}"]
        if not self.judges:
            lines.append("No AI labels yet: run `rlhf-studio-cli label` first.")
        for judge in self.judges:
            rubric = f"  rubric {judge.rubric}" if judge.rubric else ""
            lines.append(f"Judge {judge.model}{rubric}  ({judge.n_ai} comparisons)")
            lines.append(f"  pairs labelled by both: {judge.n_overlap}")
            lines.append(
                f"  agreement: {_percent(judge.agreement)}    Cohen's kappa: {_number(judge.kappa)}"
            )
            lines.append(
                f"  position bias (same side chosen in both orders): "
                f"{_percent(judge.position_bias_rate)} of {judge.n_position}"
            )
        lines += _format_rm(self.reward_model)
        return "\n".join(lines)


def _format_rm(rm: RewardModelAccuracy | None) -> list[str]:
    if rm is None:
        return ["Reward model: none trained yet (`rlhf-studio-cli train-rm`)."]
    which = "held-out human comparisons" if rm.held_out_only else "human comparisons"
    lines = [f"Reward model {rm.folder}", f"  accuracy on {rm.n} {which}: {_percent(rm.accuracy)}"]
    if not rm.held_out_only:
        lines.append("  (no rm_meta.json: some of these may have been training pairs)")
    if rm.meta_held_out_accuracy_human is not None:
        lines.append(
            f"  at training time, on its held-out human pairs: "
            f"{_percent(rm.meta_held_out_accuracy_human)}"
        )
    return lines


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def reward_model_accuracy(
    folder: str | Path, human_rows: Sequence[ComparisonRow], device: str = "auto"
) -> RewardModelAccuracy:
    """Accuracy of the reward model in `folder` on the human comparisons it did not train on."""
    from core.reward_model.training import read_meta
    from core.rewards.classifier import ClassifierReward

    meta = read_meta(folder)
    trained = set(meta.get("train_comparison_ids", [])) if meta else set()
    rows = [r for r in human_rows if r.verdict in ("left", "right") and r.id not in trained]
    accuracy = None
    if rows:
        source = ClassifierReward(folder, device=device)
        try:
            prompts = [r.prompt for r in rows]
            left = source.score(prompts, [r.left_text for r in rows])
            right = source.score(prompts, [r.right_text for r in rows])
        finally:
            source.close()
        hits = [
            (lv > rv) == (r.verdict == "left") for r, lv, rv in zip(rows, left, right, strict=True)
        ]
        accuracy = sum(hits) / len(rows)
    return RewardModelAccuracy(
        folder=str(folder),
        accuracy=accuracy,
        n=len(rows),
        held_out_only=meta is not None,
        meta_held_out_accuracy_human=meta.get("held_out_accuracy_human") if meta else None,
    )


def latest_reward_model(store: Store) -> str | None:
    """The folder of the newest finished reward-model run in the store that still exists."""
    for run in sorted(store.runs("reward_model"), key=lambda r: r.id, reverse=True):
        folder = run.config.get("out")
        if run.status in ("finished", "stopped") and folder and Path(folder).is_dir():
            return folder
    return None


def agreement_report(
    store: Store, rm_folder: str | Path | None = None, device: str = "auto"
) -> AgreementReport:
    """The report over a workspace's store; the RM is `rm_folder` or the newest trained one."""
    human = store.comparisons("human")
    ai = store.comparisons("ai")
    raters = sorted({row.rater for row in ai})
    folder = rm_folder if rm_folder is not None else latest_reward_model(store)
    return AgreementReport(
        n_human=len(human),
        n_ai=len(ai),
        judges=[judge_agreement(human, ai, rater) for rater in raters],
        reward_model=None if folder is None else reward_model_accuracy(folder, human, device),
    )
