"""Reward specs (`KIND[=ARG][@WEIGHT]`), the registry of kinds, and building sources.

Specs are how a reward is written on the command line and stored with a run:
`sentiment`, `length=40@0.2`, `rm=runs/rm-3`, `py=my_reward.py`. Several specs make a
weighted sum. Each kind maps to a factory that imports its module only when used, so
listing the kinds (`--help`, the GUI menu) loads no model library. A new kind is one
`register_reward_kind` call.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from core.errors import RewardError
from core.rewards.base import RewardContext, RewardSource, RewardSpec
from core.rewards.combined import WatchedReward, WeightedSum

Factory = Callable[[RewardSpec, RewardContext], RewardSource]
SYNTAX = "KIND[=ARG][@WEIGHT], e.g. sentiment, length=40@0.2, rm=FOLDER, py=FILE"
WATCH_PREFIX = "watch:"
"""A spec that starts with it is watched, never trained on (RewardSpec.watch)."""


@dataclass(frozen=True)
class RewardKind:
    """One registered kind: its help line, its factory and whether it takes an argument."""

    help: str
    """One line for --help and the GUI, starting with the spec's syntax."""
    factory: Factory
    """Builds the source; raises RewardError for a bad argument or missing context."""
    arg: str = "none"
    """none | optional | required."""
    example: str = ""
    """A complete spec shown when the argument is missing."""


_REGISTRY: dict[str, RewardKind] = {}
REWARD_KINDS: dict[str, str] = {}
"""kind -> one-line help (for CLI --help and the GUI), in registration order."""


def register_reward_kind(
    kind: str, help: str, factory: Factory, arg: str = "none", example: str = ""
) -> None:
    """Add or replace a kind (the RLAIF feature replaces the `judge` slot this way)."""
    if arg not in ("none", "optional", "required"):
        raise ValueError(f"arg must be none, optional or required, not {arg!r}")
    _REGISTRY[kind] = RewardKind(help, factory, arg, example or kind)
    REWARD_KINDS[kind] = help


def _parse_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _split_weight(text: str) -> tuple[str, float]:
    """'head@W' -> (head, W). An '@' not followed by a number belongs to the argument."""
    head, at, tail = text.rpartition("@")
    if not at:
        return text, 1.0
    weight = _parse_float(tail)
    if weight is None and "=" in head and tail.strip():
        return text, 1.0  # e.g. regex=\w+@\w+ or py=me@work/reward.py: part of the argument
    if weight is None or not math.isfinite(weight):
        raise RewardError(
            f"Reward spec {text!r}: the weight {tail!r} after '@' is not a finite number; "
            f"write e.g. length=40@0.2."
        )
    if weight == 0:
        raise RewardError(
            f"Reward spec {text!r}: weight 0 makes this reward add nothing to the total; "
            "leave the spec out, or give it a nonzero weight."
        )
    return head, weight


def parse_reward_spec(text: str) -> RewardSpec:
    """Parse `KIND[=ARG][@WEIGHT]`; RewardError for an unknown kind, bad weight or missing arg.

    The weight is the number after the last '@'. An argument that itself ends in
    '@<number>' needs an explicit weight after it: `regex=a@1@1.0`.
    """
    stripped = text.strip()
    watch = stripped.startswith(WATCH_PREFIX)
    stripped = stripped.removeprefix(WATCH_PREFIX).strip()
    if not stripped:
        raise RewardError(f"Empty reward spec; write {SYNTAX}.")
    head, weight = _split_weight(stripped)
    kind, has_arg, arg = head.partition("=")
    spec = RewardSpec(
        kind=kind.strip().lower(),
        arg=arg if has_arg and arg else None,
        weight=weight,
        watch=watch,
    )
    _kind_of(spec, given_arg=bool(has_arg))
    return spec


def parse_reward_specs(texts: Sequence[str]) -> list[RewardSpec]:
    """Parse several specs (one per command-line value)."""
    return [parse_reward_spec(text) for text in texts]


def format_reward_spec(spec: RewardSpec) -> str:
    """The spec as text again: parse_reward_spec(format_reward_spec(s)) == s."""
    text = spec.kind if spec.arg is None else f"{spec.kind}={spec.arg}"
    # An '@' inside the argument is only unambiguous with an explicit weight after it.
    if spec.weight != 1.0 or (spec.arg is not None and "@" in spec.arg):
        text += f"@{spec.weight!r}"
    return WATCH_PREFIX + text if spec.watch else text


PATH_KINDS = ("py", "rm")
"""Kinds whose argument may name a local file (py=FILE) or folder (rm=DIR, else a hub id)."""


def replace_path_arg(spec: RewardSpec, arg: str) -> RewardSpec:
    """`spec` naming `arg` instead of its own argument."""
    return replace(spec, arg=arg)  # a watched spec stays watched


def absolute_reward_specs(texts: Sequence[str], base: Path | None = None) -> list[str]:
    """`texts` with each relative local path (py=FILE, rm=DIR that is a folder) made
    absolute against `base` (default: the current folder). A run records its specs so:
    resuming it, or exporting it, from another folder then reads the same files, never
    that folder's namesakes. Other specs are returned as they were written."""
    base = Path.cwd() if base is None else Path(base)
    out = []
    for text in texts:
        spec = parse_reward_spec(text)
        path = Path(spec.arg).expanduser() if spec.arg else None
        relative = path is not None and spec.kind in PATH_KINDS and not path.is_absolute()
        if path is not None and relative and (spec.kind == "py" or (base / path).is_dir()):
            text = format_reward_spec(replace_path_arg(spec, os.path.abspath(base / path)))
        out.append(text)
    return out


def _kind_of(spec: RewardSpec, given_arg: bool | None = None) -> RewardKind:
    """The registered kind of a spec, after checking the argument's presence."""
    kind = _REGISTRY.get(spec.kind)
    if kind is None:
        known = ", ".join(sorted(_REGISTRY))
        raise RewardError(f"Unknown reward kind {spec.kind!r}; known kinds: {known}.")
    if kind.arg == "required" and spec.arg is None:
        raise RewardError(
            f"Reward '{spec.kind}' needs an argument, e.g. {kind.example} ({kind.help})."
        )
    if kind.arg == "none" and (spec.arg is not None or given_arg):
        raise RewardError(f"Reward '{spec.kind}' takes no argument; write just {spec.kind}.")
    return kind


def build_reward(specs: Sequence[RewardSpec | str], context: RewardContext) -> RewardSource:
    """One source per spec; a single spec of weight 1 is returned as itself, else a
    WeightedSum; watched specs (`watch:...`) wrap it in a WatchedReward."""
    if not specs:
        raise RewardError(f"No reward given; pass at least one: {SYNTAX}.")
    parsed = [s if isinstance(s, RewardSpec) else parse_reward_spec(s) for s in specs]
    trained = [spec for spec in parsed if not spec.watch]
    if not trained:
        raise RewardError(
            f"Only watched rewards given; a reward to train on is needed too: {SYNTAX}."
        )
    watched = [spec for spec in parsed if spec.watch]
    reward = _build_sum(trained, context)
    if not watched:
        return reward
    built = [reward]
    try:
        built += [_build_sum([replace(spec, weight=1.0)], context) for spec in watched]
    except BaseException:
        WeightedSum([(source, 1.0) for source in built]).close()  # free loaded models
        raise
    return WatchedReward(built[0], built[1:])


def _build_sum(parsed: Sequence[RewardSpec], context: RewardContext) -> RewardSource:
    """The trained sources of `parsed`: one as itself (weight 1), else their WeightedSum."""
    built: list[tuple[RewardSource, float]] = []
    try:
        for spec in parsed:
            if not math.isfinite(spec.weight):
                raise RewardError(f"Reward '{spec.kind}': weight {spec.weight} is not finite.")
            built.append((_kind_of(spec).factory(spec, context), spec.weight))
    except BaseException:
        if built:
            WeightedSum(built).close()  # free models loaded before the error
        raise
    if len(built) == 1 and built[0][1] == 1.0:
        return built[0][0]
    return WeightedSum(built)


# --- factories: each imports its module on first use ------------------------------------


def _sentiment(spec: RewardSpec, context: RewardContext) -> RewardSource:
    from core.rewards.sentiment import SentimentReward

    return SentimentReward()


def _length(spec: RewardSpec, context: RewardContext) -> RewardSource:
    from core.rewards.rules import LengthReward

    return LengthReward.from_arg(spec.arg)


def _contains(spec: RewardSpec, context: RewardContext) -> RewardSource:
    from core.rewards.rules import ContainsReward, parse_word_list

    return ContainsReward(parse_word_list("contains", spec.arg))


def _forbid(spec: RewardSpec, context: RewardContext) -> RewardSource:
    from core.rewards.rules import ForbidReward, parse_word_list

    return ForbidReward(parse_word_list("forbid", spec.arg))


def _regex(spec: RewardSpec, context: RewardContext) -> RewardSource:
    from core.rewards.rules import RegexReward

    return RegexReward(spec.arg or "")


def _fluency(spec: RewardSpec, context: RewardContext) -> RewardSource:
    from core.rewards.fluency import FluencyReward

    if spec.arg is not None:
        return FluencyReward.from_model(spec.arg, context.device)
    if context.policy_session is None:
        raise RewardError(
            "fluency scores under the policy's base model, but no policy is loaded here; "
            "load a model first, or name a scoring model: fluency=MODEL."
        )
    return FluencyReward(context.policy_session)


def _refsim(spec: RewardSpec, context: RewardContext) -> RewardSource:
    from core.rewards.refsim import RefSimReward

    return RefSimReward.from_arg(spec.arg, context.references)


def _distinct(spec: RewardSpec, context: RewardContext) -> RewardSource:
    from core.rewards.diversity import DistinctReward

    return DistinctReward.from_arg(spec.arg)


def _rm(spec: RewardSpec, context: RewardContext) -> RewardSource:
    from core.rewards.classifier import ClassifierReward

    session = context.policy_session
    prompt_format = getattr(session, "prompt_format", "plain") if session else "plain"
    return ClassifierReward(spec.arg or "", device=context.device, prompt_format=prompt_format)


def _py(spec: RewardSpec, context: RewardContext) -> RewardSource:
    from core.rewards.python_fn import PythonFunctionReward

    return PythonFunctionReward(spec.arg or "")


def _judge(spec: RewardSpec, context: RewardContext) -> RewardSource:
    from core.rewards.judge import judge_from_arg

    return judge_from_arg(spec.arg, context)


register_reward_kind(
    "sentiment", "sentiment: VADER compound polarity of the response, -1..1", _sentiment
)
register_reward_kind(
    "length",
    "length=N: 1 at N words, falling linearly to -1 at 0 and at 2N words or more",
    _length,
    "required",
    "length=40",
)
register_reward_kind(
    "contains",
    "contains=W1,W2: fraction of the words present (whole word, any case), 0..1",
    _contains,
    "required",
    "contains=great,fun",
)
register_reward_kind(
    "forbid",
    "forbid=W1,W2: -1 per distinct listed word present (whole word, any case)",
    _forbid,
    "required",
    "forbid=boring,bad",
)
register_reward_kind(
    "regex",
    "regex=PATTERN: 1 if the Python regex matches somewhere in the response, else 0",
    _regex,
    "required",
    "regex=!$",
)
register_reward_kind(
    "fluency",
    "fluency[=MODEL]: mean token log-prob of the response under the policy's base (or MODEL)",
    _fluency,
    "optional",
)
register_reward_kind(
    "refsim",
    "refsim[=rouge|chrf]: ROUGE-L F1 (or chrF) to the prompt's reference answer, 0..1",
    _refsim,
    "optional",
)
register_reward_kind(
    "distinct",
    "distinct[=N]: the response's share of the batch's unique word N-grams (N=2), 0..1",
    _distinct,
    "optional",
)
register_reward_kind(
    "diversity", "diversity[=N]: same as distinct[=N]", _distinct, "optional", "diversity"
)
register_reward_kind(
    "rm",
    "rm=FOLDER: a Hugging Face sequence-classification reward model (1 or 2 labels)",
    _rm,
    "required",
    "rm=path/to/reward-model",
)
register_reward_kind(
    "py",
    "py=FILE: def reward(prompts, responses) -> list[float] from a Python file (or TRL's "
    "reward(prompts, completions, **kwargs))",
    _py,
    "required",
    "py=my_reward.py",
)
register_reward_kind(
    "judge",
    "judge[=MODEL[,RUBRIC]]: LLM judge's expected 1-10 score mapped to -1..1 (no MODEL: policy base)",
    _judge,
    "optional",
    "judge=demo",
)
