"""The token inspector (core.inspection, `rlhf-studio-cli inspect`): its numbers are the
trainer's. A run of one prompt per step logs its one sample's KL and reward; inspecting the
checkpoint before that step, with that step's prompt and sampling seed, must give them."""

import json
import math

import pytest

from core.cli import main
from core.config import ModelSpec, PPOConfig
from core.config.critic_free import GRPOConfig
from core.grpo.trainer import GRPOTrainer
from core.inspection import inspect_sample
from core.model.session import ModelSession
from core.onpolicy.trainer import _sampling_seed
from core.ppo.trainer import PPOTrainer
from core.rewards.sentiment import SentimentReward
from core.store import Store
from core.train.checkpoints import ADAPTER_DIR
from core.train.launch import Algorithm, run_checkpoint_dir, start_run

GRPO = Algorithm.of(GRPOTrainer)
PPO = Algorithm.of(PPOTrainer)

PROMPT = ["The hotel"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _train(model_dir, workspace, algorithm, config):
    """Two steps with a checkpoint after each; (step-2 metrics, step-1 checkpoint)."""
    session = ModelSession.load(ModelSpec(name_or_path=str(model_dir), device="cpu"))
    with Store.open(workspace) as store:
        run = start_run(store, algorithm, session, SentimentReward(), PROMPT, config, ["sentiment"])
        metrics = [event.metrics for event in run]
    return metrics[1], run_checkpoint_dir(workspace, run.run_id) / "step-1"


def _inspect(model_dir, checkpoint, seed, **options):
    spec = ModelSpec(
        name_or_path=str(model_dir), device="cpu", adapter_path=str(checkpoint / ADAPTER_DIR)
    )
    session = ModelSession.load(spec)
    return inspect_sample(session, checkpoint, PROMPT[0], SentimentReward(), seed=seed, **options)


def test_ppo_numbers_are_the_trainers_for_the_same_rollout(tiny_model_dir, workspace):
    config = PPOConfig(steps=2, batch_size=1, mini_batch_size=1, max_new_tokens=6,
                       checkpoint_every=1, samples_per_step=0, eval_prompts=0, seed=3)  # fmt: skip
    logged, checkpoint = _train(tiny_model_dir, workspace, PPO, config)
    result = _inspect(tiny_model_dir, checkpoint, _sampling_seed(config.seed, 1))

    assert result.kind == "ppo" and result.step == 1
    assert result.kl == pytest.approx(logged["objective/kl"], abs=1e-5)
    assert result.reward == pytest.approx(logged["reward/mean"], abs=1e-6)
    assert result.kl_coef == pytest.approx(logged["objective/kl_coef"])
    assert len(result.tokens) == pytest.approx(logged["response/length"])
    # The tokens' KL adds up to the sequence's; the credited rewards to score - coef * KL.
    assert sum(row.kl for row in result.tokens) == pytest.approx(result.kl, abs=1e-5)
    credited = sum(row.reward for row in result.tokens)
    assert credited == pytest.approx(result.reward - result.kl_coef * result.kl, abs=1e-5)
    # GAE: the last token's return is its reward (nothing after it); advantage = return - V.
    last = result.tokens[-1]
    assert last.returns == pytest.approx(last.reward, abs=1e-6)
    for row in result.tokens:
        assert row.advantage == pytest.approx(row.returns - row.value, abs=1e-5)
        assert len(row.top) == 5 and row.top[0]["logprob"] >= row.top[-1]["logprob"]


def test_lambda_one_is_monte_carlo_and_zero_one_step_td(tiny_model_dir, workspace):
    config = PPOConfig(steps=2, batch_size=1, mini_batch_size=1, max_new_tokens=6,
                       checkpoint_every=1, samples_per_step=0, eval_prompts=0)  # fmt: skip
    _, checkpoint = _train(tiny_model_dir, workspace, PPO, config)
    result = _inspect(tiny_model_dir, checkpoint, seed=0)
    rows = result.tokens
    monte_carlo = result.with_lambda(1.0).tokens
    for t, row in enumerate(monte_carlo):  # gamma 1: the sum of the rewards from t on, - V
        assert row.returns == pytest.approx(sum(r.reward for r in rows[t:]), abs=1e-5)
    td = result.with_lambda(0.0).tokens
    for t, row in enumerate(td):  # r_t + V(s_t+1) - V(s_t)
        following = rows[t + 1].value if t + 1 < len(rows) else 0.0
        assert row.advantage == pytest.approx(row.reward + following - row.value, abs=1e-5)


def test_grpo_group_advantage_is_the_trainers(tiny_model_dir, workspace):
    config = GRPOConfig(steps=2, batch_size=4, group_size=4, mini_batch_size=4,
                        max_new_tokens=6, checkpoint_every=1, samples_per_step=0,
                        eval_prompts=0, seed=5)  # fmt: skip
    logged, checkpoint = _train(tiny_model_dir, workspace, GRPO, config)
    result = _inspect(tiny_model_dir, checkpoint, _sampling_seed(config.seed, 1))
    assert result.kind == "grpo" and result.advantage is not None
    assert all(row.advantage == result.advantage for row in result.tokens)
    assert abs(result.advantage) <= 2.0  # (reward - group mean) / group std, 4 answers
    assert sum(row.kl for row in result.tokens) == pytest.approx(result.kl, abs=1e-5)
    assert math.isfinite(logged["advantage/abs_mean"])


def test_the_cli_prints_a_table_and_one_json_line(tiny_model_dir, workspace, capsys):
    config = PPOConfig(steps=2, batch_size=1, mini_batch_size=1, max_new_tokens=6,
                       checkpoint_every=1, samples_per_step=0, eval_prompts=0)  # fmt: skip
    _, checkpoint = _train(tiny_model_dir, workspace, PPO, config)
    code = main(["inspect", "--checkpoint", str(checkpoint), "--prompt", PROMPT[0],
                 "--model", str(tiny_model_dir), "--device", "cpu", "--workspace",
                 str(workspace), "--json", "--lam", "1"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    data = json.loads(out[-1])
    assert data["kind"] == "ppo" and data["lam"] == 1.0
    assert {"token", "logprob", "ref_logprob", "kl", "value", "advantage"} <= set(data["tokens"][0])
    assert sum(t["kl"] for t in data["tokens"]) == pytest.approx(data["kl"], abs=1e-5)
    assert any("reward" in line and "kl" in line for line in out[:-1])


def test_a_given_completion_is_inspected_as_written(tiny_model_dir, workspace, capsys):
    config = PPOConfig(steps=1, batch_size=1, mini_batch_size=1, max_new_tokens=6,
                       checkpoint_every=1, samples_per_step=0, eval_prompts=0)  # fmt: skip
    session = ModelSession.load(ModelSpec(name_or_path=str(tiny_model_dir), device="cpu"))
    with Store.open(workspace) as store:
        run = start_run(store, PPO, session, SentimentReward(), PROMPT, config, ["sentiment"])
        list(run)
    checkpoint = run_checkpoint_dir(workspace, run.run_id) / "step-1"
    result = _inspect(tiny_model_dir, checkpoint, seed=0, completion=" was great")
    assert "".join(row.token for row in result.tokens) == " was great"
    assert result.reward == pytest.approx(SentimentReward().score(PROMPT, [" was great"])[0])
    # Run not from this workspace, no --reward: one line saying what to pass.
    code = main(["inspect", "--checkpoint", str(checkpoint), "--prompt", "x", "--model",
                 str(tiny_model_dir), "--workspace", str(workspace / "other")])  # fmt: skip
    assert code == 2 and "--reward" in capsys.readouterr().err


def test_a_dpo_checkpoint_shows_the_implicit_reward_per_token(tiny_model_dir, workspace):
    from core.offline.config import DPOConfig
    from core.offline.launch import DPO, start_offline_run
    from core.reward_model.training import PreferencePair

    pairs = [PreferencePair(f"Review {i}:", "I loved it.", "A waste.") for i in range(8)]
    config = DPOConfig(steps=4, batch_size=4, micro_batch_size=2, learning_rate=5e-3,
                       checkpoint_every=1, beta=0.2)  # fmt: skip
    session = ModelSession.load(ModelSpec(name_or_path=str(tiny_model_dir), device="cpu"))
    with Store.open(workspace) as store:
        run = start_offline_run(store, DPO, session, pairs, config)
        list(run)
    checkpoint = run_checkpoint_dir(workspace, run.run_id) / "step-4"
    spec = ModelSpec(
        name_or_path=str(tiny_model_dir), device="cpu", adapter_path=str(checkpoint / ADAPTER_DIR)
    )
    session = ModelSession.load(spec)
    result = inspect_sample(session, checkpoint, "Review 1:", completion="I loved it.")
    rejected = inspect_sample(session, checkpoint, "Review 1:", completion="A waste.")
    assert result.kind == "dpo" and result.kl_coef == 0.2
    for row in result.tokens:  # beta * (log p - log p_ref) on each token
        assert row.reward == pytest.approx(0.2 * (row.logprob - row.ref_logprob), abs=1e-5)
    assert result.reward == pytest.approx(sum(row.reward for row in result.tokens), abs=1e-5)
    # DPO raised the chosen answer's implicit reward above the rejected one's.
    assert result.reward > rejected.reward
