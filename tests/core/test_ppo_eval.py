"""Held-out evaluation: prompts kept out of training, measured every eval_every steps."""

import json
from dataclasses import replace

import pytest

from core.cli import main
from core.config import ModelSpec, PPOConfig
from core.errors import TrainingError
from core.model.session import ModelSession
from core.onpolicy import evaluation
from core.onpolicy.evaluation import split_prompts
from core.onpolicy.rollout import collect_rollout
from core.ppo import PPOTrainer
from core.ppo.metrics import EVAL_KEYS
from core.store import Store

PROMPTS = ["I loved", "The movie was", "Terrible", "The blender", "Boring plot", "My phone"]
CONFIG = PPOConfig(
    steps=3,
    batch_size=4,
    mini_batch_size=2,
    ppo_epochs=2,
    max_new_tokens=6,
    samples_per_step=0,
    learning_rate=1e-2,
    seed=1,
    eval_prompts=2,
    eval_every=2,
)


class RecordingReward:
    """Share of the letter 'e', remembering which prompts each call scored."""

    name = "letter_e"

    def __init__(self):
        self.calls: list[list[str]] = []

    def score(self, prompts, responses):
        self.calls.append(list(prompts))
        return [text.count("e") / max(1, len(text)) for text in responses]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def load(folder) -> ModelSession:
    return ModelSession.load(ModelSpec(name_or_path=str(folder), device="cpu"))


def test_split_is_seeded_disjoint_and_leaves_training_prompts():
    train, held_out = split_prompts(10, 3, seed=4)
    assert (train, held_out) == split_prompts(10, 3, seed=4)
    assert len(held_out) == 3 and sorted(train + held_out) == list(range(10))
    assert any(split_prompts(10, 3, seed=s)[1] != held_out for s in range(5, 10))
    assert split_prompts(4, 0, seed=1) == ([0, 1, 2, 3], [])
    with pytest.raises(TrainingError, match="at least one of the 4 prompts for training"):
        split_prompts(4, 4, seed=1)


def test_held_out_prompts_are_evaluated_on_schedule_and_never_trained_on(tiny_model_dir):
    reward = RecordingReward()
    trainer = PPOTrainer(load(tiny_model_dir), reward, PROMPTS, CONFIG)
    results = list(trainer)

    held_out = set(trainer.held_out.prompts)
    assert len(held_out) == 2
    evaluated = [r.step for r in results if set(EVAL_KEYS) <= set(r.metrics)]
    assert evaluated == [2, 3]  # every 2 steps, and the last one
    assert not any(key.startswith("eval/") for key in results[0].metrics)
    training_calls = [call for call in reward.calls if len(call) == CONFIG.batch_size]
    eval_calls = [call for call in reward.calls if len(call) == CONFIG.eval_prompts]
    assert len(training_calls) == 3 and not held_out & {p for c in training_calls for p in c}
    assert len(eval_calls) == 4 and all(set(call) == held_out for call in eval_calls)
    # The reference's answers don't change; scored by the same reward, neither does their mean.
    first, last = results[1].metrics, results[2].metrics
    assert first["eval/reference_reward/mean"] == last["eval/reference_reward/mean"]
    assert first["eval/kl"] >= 0 and first["eval/response/length"] >= 1
    # Each evaluated step also returns the answers, beside the reference's, to read.
    assert [len(r.held_out) for r in results] == [0, 2, 2]
    answers = results[2].held_out
    assert {a["prompt"] for a in answers} == held_out and all(a["reference"] for a in answers)
    mean = sum(a["reward"] for a in answers) / len(answers)
    assert mean == pytest.approx(last["eval/reward/mean"])


def test_evaluating_does_not_change_training(tiny_model_dir):
    often = [
        r.metrics
        for r in PPOTrainer(
            load(tiny_model_dir), RecordingReward(), PROMPTS, replace(CONFIG, eval_every=1)
        )
    ]
    once = [
        r.metrics
        for r in PPOTrainer(
            load(tiny_model_dir), RecordingReward(), PROMPTS, replace(CONFIG, eval_every=100)
        )
    ]
    for a, b in zip(often, once, strict=True):
        for key in ("reward/mean", "objective/kl", "loss/policy", "loss/value"):
            assert a[key] == pytest.approx(b[key], abs=1e-6), key
    assert often[-1]["eval/reward/mean"] == pytest.approx(once[-1]["eval/reward/mean"], abs=1e-6)


def test_resume_keeps_the_split_and_the_evaluations(tiny_model_dir, tmp_path):
    config = replace(CONFIG, steps=4, checkpoint_every=2)
    straight = [
        r.metrics for r in PPOTrainer(load(tiny_model_dir), RecordingReward(), PROMPTS, config)
    ]
    first = PPOTrainer(
        load(tiny_model_dir), RecordingReward(), PROMPTS, config, checkpoint_dir=tmp_path
    )
    first.step(), first.step()
    first.save_checkpoint()
    resumed = PPOTrainer.resume(
        tmp_path / "step-2", load(tiny_model_dir), RecordingReward(), PROMPTS
    )
    assert resumed.held_out.prompts == first.held_out.prompts
    continued = [r.metrics for r in resumed]
    assert [set(EVAL_KEYS) <= set(m) for m in continued] == [False, True]  # steps 3, 4
    for want, got in zip(straight[2:], continued, strict=True):
        assert set(want) == set(got)
        for key in ("reward/mean", *EVAL_KEYS):
            assert got.get(key) == pytest.approx(want.get(key), abs=1e-5), key


def test_bad_eval_settings_are_named(tiny_model_dir):
    session = load(tiny_model_dir)
    with pytest.raises(TrainingError, match="eval_every is 0; use 1 to"):
        PPOTrainer(session, RecordingReward(), PROMPTS, replace(CONFIG, eval_every=0))
    with pytest.raises(TrainingError, match="hold out fewer prompts"):
        PPOTrainer(session, RecordingReward(), PROMPTS, replace(CONFIG, eval_prompts=6))


def test_cli_flags_hold_out_prompts_and_write_eval_metrics(tiny_model_dir, tmp_path, workspace):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    out = tmp_path / "metrics.jsonl"
    args = ["ppo", "--model", str(tiny_model_dir), "--device", "cpu", "--prompts", str(prompts)]
    args += ["--reward", "length=4", "--steps", "2", "--batch-size", "2", "--mini-batch-size"]
    args += ["2", "--ppo-epochs", "1", "--max-new-tokens", "4", "--workspace", str(workspace)]
    args += ["--eval-prompts", "2", "--eval-every", "1", "--metrics-out", str(out)]
    assert main(args) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [set(EVAL_KEYS) <= set(row) for row in rows] == [True, True]
    with Store.open(workspace) as store:
        [run] = store.runs("ppo")
        answers = store.samples(run.id, split="eval")
        assert [a["step"] for a in answers] == [1, 1, 2, 2]
        assert not {a["prompt"] for a in answers} & {s["prompt"] for s in store.samples(run.id)}


def test_more_held_out_prompts_than_a_batch_are_sampled_in_batches(tiny_model_dir, monkeypatch):
    sampled = []

    def counting(session, value_head, queries, *args, **kwargs):
        sampled.append(len(queries))
        return collect_rollout(session, value_head, queries, *args, **kwargs)

    monkeypatch.setattr(evaluation, "collect_rollout", counting)
    prompts = [f"{p} {n}" for p in PROMPTS for n in ("again", "too")]  # 12 prompts
    config = replace(CONFIG, steps=1, eval_prompts=6, batch_size=4)
    reward = RecordingReward()
    [result] = PPOTrainer(load(tiny_model_dir), reward, prompts, config)
    assert sampled == [4, 2]  # rollout-sized batches, not all 6 at once
    assert len(result.held_out) == 6 and len({a["prompt"] for a in result.held_out}) == 6
    eval_calls = [call for call in reward.calls if len(call) == 6]
    assert len(eval_calls) == 2  # the policy's answers and the reference's, scored at once
    assert all(a["reference"] is not None for a in result.held_out)
