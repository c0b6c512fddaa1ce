"""Guardrails (core.train.guardrails): each rule on metric streams made to break it, the run
pausing (GUI) or stopping (CLI) where one fires, and watched rewards beside the trained one."""

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.config import PPOConfig
from core.config.critic_free import GRPOConfig
from core.errors import RewardError
from core.rewards import RewardContext, build_reward, parse_reward_spec
from core.rewards.combined import WatchedReward
from core.rewards.spec import format_reward_spec
from core.store import Store
from core.train.events import GuardFired, RunPaused, StepDone, StepResult
from core.train.guardrails import (
    DIVERGENCE,
    ENTROPY_COLLAPSE,
    KL_PAST_TARGET,
    LENGTH_DRIFT,
    GuardrailConfig,
    Guardrails,
)
from core.train.run import TrainingRun

HEALTHY = {"reward/mean": 0.0, "objective/kl": 1.0, "response/length": 20.0,
           "response/eos_rate": 1.0, "policy/entropy": 2.0}  # fmt: skip


def _stream(changes: list[dict]) -> list[dict]:
    return [{"step": i + 1, **HEALTHY, **change} for i, change in enumerate(changes)]


def _fired(guard: Guardrails, stream: list[dict]) -> list[tuple[int, str]]:
    return [(f.step, f.rule) for m in stream if (f := guard.check(m)) is not None]


def test_proxy_vs_gold_fires_when_the_trained_reward_rises_as_a_watched_one_falls():
    rising = [{"reward/mean": 0.1 * i, "watch/sentiment": -0.1 * i} for i in range(8)]
    assert _fired(Guardrails(), _stream(rising)) == [(6, DIVERGENCE)]  # two windows of 3
    both_rise = [{"reward/mean": 0.1 * i, "watch/sentiment": 0.1 * i} for i in range(8)]
    assert _fired(Guardrails(), _stream(both_rise)) == []
    flat_reward = [{"reward/mean": 0.0, "watch/sentiment": -0.1 * i} for i in range(8)]
    assert _fired(Guardrails(), _stream(flat_reward)) == []


def test_a_larger_margin_needs_a_larger_divergence():
    rising = [{"reward/mean": 0.01 * i, "watch/gold": -0.01 * i} for i in range(8)]
    assert _fired(Guardrails(GuardrailConfig(min_change=0.0)), _stream(rising))
    assert not _fired(Guardrails(GuardrailConfig(min_change=0.05)), _stream(rising))


def test_kl_past_its_target_fires_after_the_window_and_uses_ppos_adaptive_target():
    high = _stream([{"objective/kl": 20.0}] * 4)  # 20 > 3 x 6 (the guard's target)
    assert _fired(Guardrails.for_run(GRPOConfig()), high) == [(3, KL_PAST_TARGET)]
    # PPO's adaptive target (here 10: limit 30) replaces the guard's own.
    adaptive = Guardrails.for_run(PPOConfig(kl_mode="adaptive", target_kl=10.0))
    assert _fired(adaptive, high) == []
    fixed = Guardrails.for_run(PPOConfig(kl_mode="fixed", target_kl=10.0))
    assert _fired(fixed, high) == [(3, KL_PAST_TARGET)]
    # Two high steps, then one below: the streak breaks.
    broken = _stream([{"objective/kl": 20.0}] * 2 + [{"objective/kl": 1.0}, {"objective/kl": 20}])
    assert _fired(Guardrails(), broken) == []


def test_length_drift_fires_on_growth_shrinkage_and_cut_off_answers():
    grow = _stream([{}] * 3 + [{"response/length": 50.0}] * 3)
    assert _fired(Guardrails(), grow) == [(6, LENGTH_DRIFT)]
    shrink = _stream([{}] * 3 + [{"response/length": 5.0}] * 3)
    assert _fired(Guardrails(), shrink) == [(6, LENGTH_DRIFT)]
    cut_off = _stream([{}] * 3 + [{"response/eos_rate": 0.05}] * 3)
    assert _fired(Guardrails(), cut_off) == [(6, LENGTH_DRIFT)]
    # A run that started cut off (a tiny max_new_tokens) is not flagged for staying so.
    always_cut = _stream([{"response/eos_rate": 0.0}] * 6)
    assert _fired(Guardrails(), always_cut) == []


def test_entropy_collapse_fires_below_the_floor_of_the_start():
    above = _stream([{}] * 3 + [{"policy/entropy": 0.7}] * 5)  # floor: 0.3 x 2.0 = 0.6
    assert _fired(Guardrails(), above) == []
    collapse = _stream([{}] * 3 + [{"policy/entropy": 0.7}] * 2 + [{"policy/entropy": 0.2}] * 3)
    assert _fired(Guardrails(), collapse) == [(8, ENTROPY_COLLAPSE)]


def test_each_rule_fires_once_and_messages_say_what_to_try():
    guard = Guardrails()
    stream = _stream([{}] * 3 + [{"policy/entropy": 0.1}] * 6)
    fired = [f for m in stream if (f := guard.check(m)) is not None]
    assert [f.rule for f in fired] == [ENTROPY_COLLAPSE]
    assert "KL coefficient" in fired[0].message and "0.100" in fired[0].message


def test_a_resumed_runs_start_is_the_runs_first_steps():
    guard = Guardrails()
    guard.seed(_stream([{}] * 3))  # the steps before the checkpoint
    later = [{"step": 4 + i, **HEALTHY, "response/length": 60.0} for i in range(3)]
    assert _fired(guard, later) == [(6, LENGTH_DRIFT)]


# ------------------------------------------------------------- watched rewards


def test_watched_specs_round_trip_and_a_watch_only_reward_is_refused():
    spec = parse_reward_spec("watch:length=5@2")
    assert spec.watch and spec.kind == "length" and spec.arg == "5"
    assert format_reward_spec(spec) == "watch:length=5@2.0"
    assert not parse_reward_spec("length=5").watch
    with pytest.raises(RewardError, match="a reward to train on is needed"):
        build_reward(["watch:sentiment"], RewardContext())


def test_a_watched_reward_is_scored_beside_the_trained_one_and_never_added():
    reward = build_reward(["length=3", "watch:sentiment", "watch:length=1"], RewardContext())
    assert isinstance(reward, WatchedReward)
    plain = build_reward(["length=3"], RewardContext())
    responses = ["I love this wonderful film", "bad"]
    assert reward.score(["p", "p"], responses) == plain.score(["p", "p"], responses)
    assert set(reward.last_watched) == {"sentiment", "length"}
    assert reward.last_watched["sentiment"][0] > 0.5 > reward.last_watched["sentiment"][1]


# ------------------------------------------------------------- in a run


@dataclass
class ScriptedTrainer:
    """A step-wise trainer whose metrics are given: what a run does with them is tested."""

    stream: list[dict]
    folder: Path
    config: GRPOConfig = field(default_factory=lambda: GRPOConfig(steps=8, checkpoint_every=0))
    reward: object = None
    last_checkpoint: Path | None = None
    step_count: int = 0

    def step(self) -> StepResult:
        self.step_count += 1
        return StepResult(self.step_count, self.stream[self.step_count - 1], [])

    def save_checkpoint(self, meta) -> Path:
        self.last_checkpoint = self.folder / f"step-{self.step_count}"
        self.last_checkpoint.mkdir(parents=True)
        return self.last_checkpoint


def _run(tmp_path, stop: bool) -> tuple[TrainingRun, list]:
    store = Store.open(tmp_path / "ws")
    run_id = store.create_run("grpo", {}, None)
    stream = _stream([{"reward/mean": 0.1 * i, "watch/sentiment": -0.1 * i} for i in range(8)])
    run = TrainingRun(ScriptedTrainer(stream, tmp_path / "ckpt"), store, run_id)
    run.guardrails, run.stop_on_guard = Guardrails(), stop
    return run, []


def test_a_guardrail_pauses_the_run_after_the_step_where_it_fired(tmp_path):
    run, events = _run(tmp_path, stop=False)
    for event in run.events():
        events.append(event)
        if isinstance(event, RunPaused):
            assert run.status == "paused" and run.step_count == 6
            threading.Timer(0.05, run.resume).start()  # the person reads it, then resumes
    kinds = [type(e).__name__ for e in events if not isinstance(e, StepDone)]
    assert kinds == ["RunStarted", "GuardFired", "RunPaused", "RunResumed", "RunEnded"]
    fired = next(e for e in events if isinstance(e, GuardFired))
    assert (fired.step, fired.rule) == (6, DIVERGENCE) and "sentiment" in fired.message
    assert run.status == "finished" and run.step_count == 8


def test_with_stop_on_guard_the_run_stops_there_with_a_checkpoint(tmp_path):
    run, _ = _run(tmp_path, stop=True)
    list(run.events())
    assert run.status == "stopped" and run.step_count == 6
    assert run.last_checkpoint is not None and run.last_checkpoint.name == "step-6"


# ------------------------------------------------------------- a hackable run

GLOOM = """
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

analyzer = SentimentIntensityAnalyzer()


def reward(prompts, responses):
    return [-analyzer.polarity_scores(text)["compound"] for text in responses]
"""


def test_a_run_trained_against_its_watched_reward_stops_at_the_divergence(
    demo_model_dir, tmp_path, capsys
):
    """Deliberately hackable: the trained reward is the watched one negated (gloomier wins),
    so as GRPO learns, watch/sentiment falls exactly as the trained reward rises."""
    from core.cli import main

    gloom = tmp_path / "gloom.py"
    gloom.write_text(GLOOM, encoding="utf-8")
    metrics_out = tmp_path / "metrics.jsonl"
    code = main(
        ["grpo", "--model", str(demo_model_dir), "--reward", f"py={gloom}",
         "--watch-reward", "sentiment", "--guard", "--steps", "12", "--batch-size", "16",
         "--group-size", "4", "--mini-batch-size", "16", "--samples-per-step", "0",
         "--seed", "0", "--workspace", str(tmp_path / "ws"), "--metrics-out", str(metrics_out)]
    )  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert "guardrail: Proxy vs gold" in err and "'sentiment'" in err
    rows = [json.loads(line) for line in metrics_out.read_text().splitlines()]
    assert 6 <= len(rows) < 12  # stopped where it fired, two windows in at the earliest
    assert all(row["watch/sentiment"] == pytest.approx(-row["reward/mean"]) for row in rows)
    with Store.open(tmp_path / "ws") as store:
        run = store.run(1)
        assert run.status == "stopped"
        assert [c.step for c in store.checkpoints(1)][-1] == len(rows)


LONGER = """
def reward(prompts, responses):
    return [len(text.split()) / 10 for text in responses]
"""
REPEATED = """
def reward(prompts, responses):
    words = [text.split() for text in responses]
    return [1.0 - len(set(w)) / len(w) if w else 0.0 for w in words]
"""
QUIET_KL = ["--guard-kl-factor", "1000"]  # another rule would stop these runs first


@pytest.mark.parametrize(
    ("reward", "flags", "fired"),
    [
        # Trained on length: answers grow until nearly all hit the length limit.
        (LONGER, ["--max-new-tokens", "64", *QUIET_KL], "Length drift"),
        # The same, fast: the policy runs far from the reference first.
        (LONGER, ["--max-new-tokens", "64"], "KL past its target"),
        # Trained on repeating words: the policy collapses onto one word.
        (REPEATED, ["--max-new-tokens", "24", "--guard-truncated-share", "1", *QUIET_KL],
         "Entropy collapse"),
    ],
)  # fmt: skip
def test_each_rule_stops_a_deliberately_hackable_run(
    reward, flags, fired, demo_model_dir, tmp_path, capsys
):
    """Rewards the policy games (rambling, repeating itself), learnt fast: each rule stops
    the run with its message and a checkpoint, at its default threshold."""
    from core.cli import main

    source = tmp_path / "reward.py"
    source.write_text(reward, encoding="utf-8")
    code = main(
        ["grpo", "--model", str(demo_model_dir), "--reward", f"py={source}", "--guard",
         "--steps", "15", "--batch-size", "16", "--group-size", "4", "--mini-batch-size", "16",
         "--learning-rate", "0.02", "--samples-per-step", "0", "--seed", "0",
         "--workspace", str(tmp_path / "ws"), *flags]
    )  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert f"guardrail: {fired}" in err, err[-2000:]
    with Store.open(tmp_path / "ws") as store:
        assert store.run(1).status == "stopped"
        assert store.checkpoints(1)
