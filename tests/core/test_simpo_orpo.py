"""SimPO and ORPO: their losses against hand-computed values, the trainers on a tiny
model (no reference pass, weights move, checkpoints resume exactly) and the `simpo` /
`orpo` commands on the pairs `dpo` reads."""

import json
import math
from pathlib import Path

import pytest
import torch

from core.algorithms import spec_of
from core.cli import main
from core.config import LoraSpec, ModelSpec
from core.model.session import ModelSession
from core.offline.config import ORPOConfig, SimPOConfig
from core.offline.launch import resume_offline_run, start_offline_run
from core.offline.orpo import ORPOTrainer, log_odds, orpo_losses
from core.offline.simpo import SimPOTrainer, simpo_losses
from core.paths import run_checkpoint_dir
from core.reward_model.training import PreferencePair
from core.store import Store
from tests.core.test_cli_offline import common, fill_store, last_line

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def t(*values):
    return torch.tensor(values, dtype=torch.float64)


# ------------------------------------------------------------------------ maths


def test_simpo_loss_by_hand():
    # m_c = -1, m_r = -2, beta 2, gamma 0.5: margin 2 - 0.5 = 1.5 -> log(1 + e^-1.5).
    loss = simpo_losses(t(-1.0), t(-2.0), t(1.0), beta=2.0, gamma=0.5)
    assert loss.item() == pytest.approx(0.2014132779827524)
    # A tie (p = 0.5) averages both orders: 0.5 log(1 + e^-1.5) + 0.5 log(1 + e^2.5).
    tie = simpo_losses(t(-1.0), t(-2.0), t(0.5), beta=2.0, gamma=0.5)
    assert tie.item() == pytest.approx(0.5 * 0.2014132779827524 + 0.5 * 2.5788897)
    # Equal sides: the margin must still beat gamma, log(1 + e^0.5).
    even = simpo_losses(t(-3.0), t(-3.0), t(1.0), beta=2.0, gamma=0.5)
    assert even.item() == pytest.approx(math.log(1 + math.exp(0.5)))


def test_simpo_is_length_normalised():
    """The same mean log-prob per token gives the same loss, however long the answers."""
    short = simpo_losses(t(-4.0 / 2), t(-9.0 / 3), t(1.0), 2.0, 0.5)
    long = simpo_losses(t(-40.0 / 20), t(-90.0 / 30), t(1.0), 2.0, 0.5)
    assert short.item() == pytest.approx(long.item())


def test_orpo_loss_by_hand():
    # P(chosen) = 0.5: odds 1, log odds 0; P(rejected) = 0.2: odds 0.25, log odds -1.386.
    assert log_odds(t(math.log(0.5))).item() == pytest.approx(0.0, abs=1e-12)
    assert log_odds(t(math.log(0.2))).item() == pytest.approx(math.log(0.25))
    loss, nll, odds_ratio, ratio = orpo_losses(
        t(math.log(0.5)), t(math.log(0.2)), t(1.0), weight=0.1
    )
    assert ratio.item() == pytest.approx(math.log(4.0))
    assert nll.item() == pytest.approx(math.log(2.0))  # -log 0.5
    assert odds_ratio.item() == pytest.approx(math.log(1.25))  # log(1 + e^-log 4)
    assert loss.item() == pytest.approx(math.log(2.0) + 0.1 * math.log(1.25))


def test_orpo_without_lambda_is_sft_on_the_chosen_answers():
    chosen = t(-1.3, -0.2).requires_grad_()
    loss, *_ = orpo_losses(chosen, t(-0.5, -2.0), t(1.0, 1.0), weight=0.0)
    assert loss.tolist() == pytest.approx([1.3, 0.2])
    loss.sum().backward()
    assert chosen.grad.tolist() == pytest.approx([-1.0, -1.0])
    # log odds stays finite at probability 1 (m = 0).
    assert torch.isfinite(log_odds(t(0.0))).all()


# ------------------------------------------------------------------ the trainers


def tiny_session(folder: Path) -> ModelSession:
    spec = ModelSpec(name_or_path=str(folder), device="cpu", lora=LoraSpec(r=4, alpha=8))
    return ModelSession.load(spec)


def pairs(n: int = 8) -> list[PreferencePair]:
    return [
        PreferencePair(f"Review {i}:", "I loved the story.", "Boring plot, a waste.")
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("trainer_class", "config_class"), [(SimPOTrainer, SimPOConfig), (ORPOTrainer, ORPOConfig)]
)
def test_trainer_learns_without_a_reference_and_resumes_exactly(
    tiny_model_dir, workspace, trainer_class, config_class
):
    config = config_class(
        steps=4, batch_size=4, micro_batch_size=2, learning_rate=0.01, eval_every=2,
        eval_fraction=0.25, checkpoint_every=2,
    )  # fmt: skip
    session = tiny_session(tiny_model_dir)
    before = {k: v.clone() for k, v in session.model.named_parameters() if v.requires_grad}
    straight = trainer_class(session, None, pairs(), config)
    metrics = [result.metrics for result in straight]
    assert not straight.train_table._reference and not straight.eval_table._reference
    assert {"loss", "rewards/margins", "eval/rewards/accuracy"} <= set(metrics[-1])
    assert "drift/logratio" not in metrics[-1]
    if trainer_class is ORPOTrainer:
        assert {"loss/nll", "loss/odds_ratio", "log_odds_ratio"} <= set(metrics[-1])
        assert metrics[0]["loss"] == pytest.approx(
            metrics[0]["loss/nll"] + 0.1 * metrics[0]["loss/odds_ratio"]
        )
    assert metrics[-1]["rewards/margins"] > metrics[0]["rewards/margins"]
    after = dict(session.model.named_parameters())
    assert any(not torch.equal(before[k], after[k]) for k in before)

    # Through the registry's binding and the shared launch: stop at 2, resume to 4.
    algorithm = spec_of(trainer_class.kind).algorithm()
    with Store.open(workspace) as store:
        first = start_offline_run(store, algorithm, tiny_session(tiny_model_dir), pairs(), config)
        list(first)
        step_2 = run_checkpoint_dir(workspace, first.run_id) / "step-2"
        resumed = resume_offline_run(
            store, algorithm, step_2, tiny_session(tiny_model_dir), pairs()
        )
        again = [result.metrics for result in resumed]
        assert resumed.run_id == first.run_id and [m["step"] for m in again] == [3.0, 4.0]
        for key in ("loss", "rewards/margins", "eval/rewards/accuracy"):
            assert again[-1][key] == pytest.approx(metrics[-1][key], abs=1e-5, rel=1e-4), key


# ---------------------------------------------------------------- the commands


@pytest.mark.parametrize(
    ("kind", "flags"), [("simpo", ["--gamma", "0.3"]), ("orpo", ["--lambda", "0.2"])]
)
def test_command_reads_dpos_pairs_streams_metrics_and_resumes(
    tiny_model_dir, workspace, tmp_path, capsys, kind, flags
):
    fill_store(workspace)
    out = tmp_path / "metrics.jsonl"
    args = [kind, *common(tiny_model_dir, workspace), "--steps", "3", "--checkpoint-every", "2"]
    assert main([*args, *flags, "--ties", "soft", "--metrics-out", str(out)]) == 0
    adapter, err = last_line(capsys)
    assert f"{kind}: 11 pairs (skipped: 1 both bad)" in err  # dpo's pairs, the tie kept
    assert Path(adapter).parent.name == "step-3" and Path(adapter).is_dir()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2, 3]
    with Store.open(workspace) as store:
        run = store.runs(kind)[0]
        assert run.config[kind]["ties"] == "soft" and run.config["data"]["source"] == "all"

    # --resume without --ties: the checkpoint's soft ties, so the data is the same.
    step_2 = Path(adapter).parents[1] / "step-2"
    resume = [kind, *common(tiny_model_dir, workspace), "--resume", str(step_2), "--steps", "4"]
    assert main([*resume, "--metrics-out", str(out)]) == 0
    adapter, err = last_line(capsys)
    assert "11 pairs" in err and Path(adapter).parent.name == "step-4"
    assert [json.loads(line)["step"] for line in out.read_text().splitlines()] == [1, 2, 3, 3, 4]

    # Another algorithm's checkpoint is refused in one line, before a model loads.
    assert main(["dpo", *common(tiny_model_dir, workspace), "--resume", str(step_2)]) == 2
    assert f"is a {kind} checkpoint" in capsys.readouterr().err
