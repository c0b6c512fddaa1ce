"""People as raters, measured: agreement between them, consistency within each, effort.

Between raters (people only; AI judges are measured against people in core.rlaif.agreement):

- Cohen's kappa for every two people who rated the same pairs (each rater's latest verdict
  on a pair, turned to one orientation; 'both bad' left out);
- Krippendorff's alpha (nominal) over all people and all pairs at once: raters who skipped
  a pair are missing data, not disagreement;
- conflicts: the pairs people voted on both ways, with each person's verdict and what the
  conflict rule (core.data.conflicts) made of them: "conflict" (cancelled out, not trained on),
  "split" (the majority's answer, trained with its vote share) or "resolved" (a person
  picked the final verdict: `resolve`, or Resolve on the AI Feedback page).

Within a rater:

- self-agreement: on pairs the rater rated more than once (a hidden repeat shows the same
  pair again with its sides swapped), the share where the first and the latest verdict
  agree;
- side bias: the share of their decisive verdicts that picked the answer shown on the left
  (0.5 = none);
- length preference: the share of their decisive verdicts, on answers of different
  lengths, that picked the longer answer (0.5 = none).

Effort: a rater's labels (comparisons and ratings) in time order; a gap under
`BREAK_S` is time spent on the next label, a longer one a break. Time per label is the
median of those gaps; labels per hour is the labels over the time spent.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.data.conflicts import CONFLICT, latest_by_rater, resolved
from core.rlaif.agreement import cohen_kappa

if TYPE_CHECKING:
    from core.store import Store
    from core.store.rows import ComparisonRow, RatingRow, ResolutionRow

BREAK_S = 600.0
"""A gap between two labels longer than this (10 minutes) is a break, not labelling time."""
_CODES = {"left": 0, "right": 1, "tie": 2}
_FLIP = {"left": "right", "right": "left", "tie": "tie"}


def oriented(row: ComparisonRow) -> str | None:
    """The verdict as if the alphabetically first answer were on the left; None for both bad."""
    if row.verdict not in _CODES:
        return None
    first = min(row.left_text, row.right_text)
    return row.verdict if row.left_text == first else _FLIP[row.verdict]


def _votes(rows: Sequence[ComparisonRow]) -> dict[str, dict[tuple, str]]:
    """{rater: {pair: that rater's latest oriented verdict}} (people only)."""
    votes: dict[str, dict[tuple, str]] = {}
    for row in sorted((r for r in rows if not r.is_ai), key=lambda r: r.id):
        verdict = oriented(row)
        if verdict is not None:
            key = (row.prompt, frozenset((row.left_text, row.right_text)))
            votes.setdefault(row.rater, {})[key] = verdict
    return votes


@dataclass(frozen=True)
class RaterPair:
    """Two people on the pairs both rated."""

    first: str
    second: str
    n_shared: int
    agreement: float | None
    kappa: float | None


def rater_pairs(rows: Sequence[ComparisonRow]) -> list[RaterPair]:
    """Cohen's kappa for every two people with at least one pair in common."""
    votes = _votes(rows)
    out = []
    for first, second in itertools.combinations(sorted(votes), 2):
        shared = [key for key in votes[first] if key in votes[second]]
        if not shared:
            continue
        a = [votes[first][key] for key in shared]
        b = [votes[second][key] for key in shared]
        same = sum(x == y for x, y in zip(a, b, strict=True)) / len(shared)
        out.append(RaterPair(first, second, len(shared), same, cohen_kappa(a, b)))
    return out


def krippendorff_alpha(rows: Sequence[ComparisonRow]) -> float | None:
    """Nominal Krippendorff's alpha over all people and pairs; None when undefined (fewer
    than two people on any pair, or one verdict everywhere)."""
    import numpy as np

    votes = _votes(rows)
    keys = sorted({key for mine in votes.values() for key in mine}, key=repr)
    shared = [k for k in keys if sum(k in mine for mine in votes.values()) >= 2]
    if len(votes) < 2 or not shared:
        return None
    data = np.full((len(votes), len(shared)), np.nan)
    for i, rater in enumerate(sorted(votes)):
        for j, key in enumerate(shared):
            if key in votes[rater]:
                data[i, j] = _CODES[votes[rater][key]]
    if len(np.unique(data[~np.isnan(data)])) < 2:
        return None  # one verdict everywhere: expected disagreement 0, alpha is 0/0
    import krippendorff

    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


@dataclass(frozen=True)
class Conflict:
    """A pair people voted on both ways."""

    prompt: str
    answers: tuple[str, str]
    votes: dict[str, str]
    """{person: their latest verdict, as if answers[0] were on the left}."""
    outcome: str
    """conflict (cancelled out: left out of training and exports) | split (majority kept) |
    resolved (a person's final verdict counts)."""
    label: float
    """The vote share of the favoured answer (0.5 for a conflict)."""
    comparison_ids: tuple[int, ...]
    prompt_id: int = 0
    generation_ids: tuple[int, int] = (0, 0)
    """The stored answers[0] and answers[1] (to rate the pair again)."""
    resolution: str | None = None
    """A (answers[0] is better) | B | tie: the resolver's final verdict; None if unresolved."""
    resolver: str | None = None

    @property
    def pair(self) -> str:
        """The pair as `resolve` names it: answer A's and answer B's generation ids."""
        return f"{self.generation_ids[0]}:{self.generation_ids[1]}"


def conflicts(
    rows: Sequence[ComparisonRow], resolutions: Sequence[ResolutionRow] = ()
) -> list[Conflict]:
    """The pairs whose people's latest verdicts differ, in the order they were first rated;
    those a person resolved (`resolutions`) say how."""
    out = []
    for resolution in resolved((r for r in rows if not r.is_ai), resolutions):
        votes = {}
        for row in latest_by_rater(resolution.rows):
            verdict = oriented(row)
            if verdict is not None:
                votes[row.rater] = verdict
        if len(set(votes.values())) < 2:
            continue
        first, second = sorted((resolution.chosen, resolution.rejected))
        answers = (first, second)
        outcome = "conflict" if resolution.status == CONFLICT else "split"
        last = resolution.rows[-1]
        ids = {last.left_text: last.left_id, last.right_text: last.right_id}
        settled = resolution.settled_by
        if settled is not None:
            outcome = "resolved"
        out.append(Conflict(resolution.prompt, answers, votes, outcome, resolution.label,
                            resolution.comparison_ids, last.prompt_id,
                            (ids[answers[0]], ids[answers[1]]),
                            _picked(resolution, answers),
                            None if settled is None else settled.resolver))  # fmt: skip
    return out


def _picked(resolution, answers: tuple[str, str]) -> str | None:
    """A | B | tie: what a resolved pair's resolver picked, told against `answers`."""
    if resolution.settled_by is None:
        return None
    if resolution.settled_by.verdict == "tie":
        return "tie"
    return "A" if resolution.chosen == answers[0] else "B"


@dataclass(frozen=True)
class RaterHabits:
    """One person's consistency and biases, and the effort they spent."""

    rater: str
    n_labels: int
    """Comparisons and ratings."""
    n_repeats: int
    """Pairs rated more than once."""
    self_agreement: float | None
    side_bias: float | None
    """Share of decisive verdicts for the answer shown on the left."""
    n_decisive: int
    length_preference: float | None
    """Share of decisive verdicts (answers of different lengths) for the longer answer."""
    seconds_per_label: float | None
    labels_per_hour: float | None


def rater_habits(
    rater: str, comparisons: Sequence[ComparisonRow], ratings: Sequence[RatingRow] = ()
) -> RaterHabits:
    """Self-agreement, side bias, length preference and effort of one person."""
    mine = sorted((r for r in comparisons if r.rater == rater), key=lambda r: r.id)
    by_pair: dict[tuple, list[str]] = {}
    for row in mine:
        verdict = oriented(row)
        if verdict is not None:
            by_pair.setdefault((row.prompt, frozenset((row.left_text, row.right_text))), []).append(
                verdict
            )
    repeats = [verdicts for verdicts in by_pair.values() if len(verdicts) > 1]
    decisive = [r for r in mine if r.verdict in ("left", "right")]
    lengths = [r for r in decisive if len(r.left_text) != len(r.right_text)]
    longer = [(r.verdict == "left") == (len(r.left_text) > len(r.right_text)) for r in lengths]
    times = [r.created for r in mine] + [r.created for r in ratings if r.rater == rater]
    per_label, per_hour = effort(times)
    return RaterHabits(
        rater=rater,
        n_labels=len(times),
        n_repeats=len(repeats),
        self_agreement=_share([v[0] == v[-1] for v in repeats]),
        side_bias=_share([r.verdict == "left" for r in decisive]),
        n_decisive=len(decisive),
        length_preference=_share(longer),
        seconds_per_label=per_label,
        labels_per_hour=per_hour,
    )


def effort(timestamps: Sequence[str]) -> tuple[float | None, float | None]:
    """(median seconds per label, labels per hour of labelling) from ISO timestamps; gaps
    over BREAK_S are breaks. None where there is no gap to measure."""
    moments = sorted(datetime.fromisoformat(t) for t in timestamps)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(moments)]
    working = [gap for gap in gaps if gap <= BREAK_S]
    if not working:
        return None, None
    spent = sum(working)
    return statistics.median(working), (len(working) * 3600.0 / spent if spent > 0 else None)


def _share(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


@dataclass(frozen=True)
class PeopleReport:
    """Agreement between people, each person's habits, and the pairs they disagree on."""

    raters: list[RaterHabits]
    pairs: list[RaterPair]
    alpha: float | None
    conflicts: list[Conflict]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON output and the GUI)."""
        return asdict(self)

    def format(self) -> str:
        """A short text report for the terminal."""
        lines = [f"People: {len(self.raters)}    Krippendorff's alpha: {_number(self.alpha)}"]
        for pair in self.pairs:
            lines.append(
                f"  {pair.first} vs {pair.second}: {pair.n_shared} shared pairs, agreement "
                f"{_percent(pair.agreement)}, Cohen's kappa {_number(pair.kappa)}"
            )
        for habits in self.raters:
            lines.append(
                f"Rater {habits.rater}: {habits.n_labels} labels, "
                f"{_number(habits.seconds_per_label, '.1f')} s per label, "
                f"{_number(habits.labels_per_hour, '.0f')} per hour"
            )
            lines.append(
                f"  self-agreement {_percent(habits.self_agreement)} on {habits.n_repeats} "
                f"repeated pairs; left side chosen {_percent(habits.side_bias)} and longer "
                f"answer {_percent(habits.length_preference)} of {habits.n_decisive} decisive"
            )
        lines.append(f"Conflicts between people: {len(self.conflicts)}")
        for item in self.conflicts:
            votes = ", ".join(f"{rater} {verdict}" for rater, verdict in item.votes.items())
            settled = f"; {item.resolver} picked {item.resolution}" if item.resolution else ""
            lines.append(
                f"  [{item.outcome}] {_short(item.prompt)} (pair {item.pair}): "
                f"A={_short(item.answers[0])} B={_short(item.answers[1])}  ({votes}{settled})"
            )
        if any(item.outcome != "resolved" for item in self.conflicts):
            lines.append("  (settle one: resolve PAIR --pick A|B|tie, or rate it again)")
        return "\n".join(lines)


def people_report(store: Store) -> PeopleReport:
    """The report over a workspace's store."""
    comparisons, ratings = store.comparisons("human"), store.ratings("human")
    names = sorted({r.rater for r in comparisons} | {r.rater for r in ratings})
    return PeopleReport(
        raters=[rater_habits(name, comparisons, ratings) for name in names],
        pairs=rater_pairs(comparisons),
        alpha=krippendorff_alpha(comparisons),
        conflicts=conflicts(comparisons, store.resolutions()),
    )


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _number(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def _short(text: str, width: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
