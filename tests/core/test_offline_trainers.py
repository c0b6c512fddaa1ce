"""DPO/IPO, KTO and SFT trainers on a tiny CPU model: adapter-only updates, the cached
reference, held-out figures, checkpoints, resume and runs in a store."""

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from core.config import ModelSpec
from core.errors import StudioError, TrainingError
from core.model.session import ModelSession
from core.offline.config import DPOConfig, KTOConfig, SFTConfig
from core.offline.data import Example
from core.offline.dpo import DPOTrainer
from core.offline.kto import KTOTrainer
from core.offline.launch import DPO, KTO, SFT, resume_offline_run, start_offline_run
from core.offline.sft import SFTTrainer
from core.paths import run_checkpoint_dir
from core.reward_model.training import PreferencePair
from core.store import Store
from core.train.checkpoints import read_meta

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PAIRS = [
    PreferencePair(f"Review {i}:", "I loved the story and the music.", "Boring plot, a waste.")
    for i in range(12)
] + [PreferencePair("Soft one:", "great fun", "flat", label=0.7, source="ai")]
THUMBS = [Example(f"Review {i}:", "I loved it.", i % 2 == 0) for i in range(12)]
DEMOS = [Example(f"Review {i}:", "The acting was wonderful.") for i in range(12)]
SMALL = dict(steps=4, batch_size=4, micro_batch_size=2, learning_rate=5e-3, eval_every=2)

CASES = [
    (DPOTrainer, DPO, PAIRS, DPOConfig(**SMALL)),
    (DPOTrainer, DPO, PAIRS, DPOConfig(**SMALL, loss_type="ipo", beta=0.5)),
    (KTOTrainer, KTO, THUMBS, KTOConfig(**SMALL)),
    (SFTTrainer, SFT, DEMOS, SFTConfig(**SMALL)),
]
IDS = ["dpo", "ipo", "kto", "sft"]


def load(folder: Path) -> ModelSession:
    return ModelSession.load(ModelSpec(name_or_path=str(folder), device="cpu"))


def weights(session, lora: bool) -> dict[str, torch.Tensor]:
    return {
        n: p.detach().clone() for n, p in session.model.named_parameters() if ("lora_" in n) == lora
    }


@pytest.mark.parametrize(("trainer_class", "algorithm", "data", "config"), CASES, ids=IDS)
def test_steps_train_the_adapter_only_and_report_held_out_figures(
    tiny_model_dir, trainer_class, algorithm, data, config
):
    session = load(tiny_model_dir)
    lora, base = weights(session, True), weights(session, False)
    trainer = trainer_class(session, None, data, config)
    results = list(trainer)
    assert [r.step for r in results] == [1, 2, 3, 4]
    assert any(not torch.equal(lora[n], p) for n, p in weights(session, True).items())
    assert all(torch.equal(base[n], p) for n, p in weights(session, False).items())
    last = results[-1].metrics
    assert "eval/loss" in last and "eval/loss" not in results[0].metrics  # every 2 steps
    for key in ("loss", "drift/logratio", "optim/grad_norm", "lr", "perf/samples_per_s"):
        assert torch.isfinite(torch.tensor(last[key])), key
    assert results[0].metrics["drift/logratio"] == pytest.approx(0.0, abs=1e-6)  # starts at base
    assert last["drift/logratio"] > 0
    if trainer_class is not SFTTrainer:
        for key in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracy"):
            assert key in last and f"eval/{key}" in last


def test_dpo_loss_falls_and_held_out_accuracy_is_measured(tiny_model_dir):
    trainer = DPOTrainer(load(tiny_model_dir), None, PAIRS, replace(DPOConfig(**SMALL), steps=8))
    metrics = [r.metrics for r in trainer]
    assert metrics[-1]["loss"] < metrics[0]["loss"]
    assert metrics[-1]["eval/rewards/margins"] > 0
    assert 0.0 <= metrics[-1]["eval/rewards/accuracy"] <= 1.0


def test_the_reference_is_the_adapter_off_base_computed_once_per_pair(tiny_model_dir):
    session = load(tiny_model_dir)
    entered = []
    original = session.reference

    def counting_reference():
        entered.append(1)
        return original()

    session.reference = counting_reference
    trainer = DPOTrainer(session, None, PAIRS, replace(DPOConfig(**SMALL), steps=6))
    n_train = len(trainer.train_data)
    list(trainer)  # 6 steps x 4 pairs: every training pair seen at least once, most twice
    table = trainer.train_table
    assert sorted(table._reference) == list(range(2 * n_train))
    calls_after_first_pass = len(entered)
    trainer.config = replace(trainer.config, steps=9)
    list(trainer)
    # Later steps (and held-out evaluations) reuse the cache: no new reference passes.
    assert len(entered) == calls_after_first_pass
    # The cached values are the base model's, not the (now trained) policy's.
    rows = [0, 1]
    with torch.no_grad(), original():
        from core.offline.batching import response_logps

        fresh = response_logps(session.model, table.batch(rows)).sum(dim=1)
    assert torch.allclose(table.reference_logps(rows, 2), fresh, atol=1e-5)


@pytest.mark.parametrize(("trainer_class", "algorithm", "data", "config"), CASES, ids=IDS)
def test_checkpoint_resume_continues_the_same_run(
    tiny_model_dir, workspace, trainer_class, algorithm, data, config
):
    config = replace(config, checkpoint_every=2)
    straight = trainer_class(load(tiny_model_dir), None, data, config)
    expected = [r.metrics for r in straight]
    expected_lora = weights(straight.session, True)

    store = Store.open(workspace)
    first = start_offline_run(store, algorithm, load(tiny_model_dir), data, config)
    list(first)
    assert store.run(first.run_id).kind == algorithm.kind
    step_2 = run_checkpoint_dir(workspace, first.run_id) / "step-2"
    assert read_meta(step_2)["algorithm"] == algorithm.kind
    assert (step_2 / f"{algorithm.kind}_config.json").is_file()
    assert (step_2 / "adapter" / "adapter_config.json").is_file()
    resumed = resume_offline_run(store, algorithm, step_2, load(tiny_model_dir), data)
    assert resumed.run_id == first.run_id and resumed.step_count == 2
    continued = [r.metrics for r in resumed]
    for want, got in zip(expected[2:], continued, strict=True):
        for key, value in want.items():
            if not key.startswith("perf/"):
                assert got[key] == pytest.approx(value, abs=1e-5, rel=1e-4), key
    got = weights(resumed.trainer.session, True)
    assert all(torch.allclose(expected_lora[n], got[n], atol=1e-6) for n in expected_lora)
    assert store.run(first.run_id).status == "finished"
    store.close()


def test_resume_refuses_changed_data_and_another_algorithm(tiny_model_dir, tmp_path, workspace):
    trainer = DPOTrainer(load(tiny_model_dir), None, PAIRS, DPOConfig(**SMALL), tmp_path)
    trainer.step()
    folder = trainer.save_checkpoint()
    with pytest.raises(TrainingError, match="data changed.*--adapter"):
        DPOTrainer.resume(folder, load(tiny_model_dir), None, PAIRS[:-1])
    with Store.open(workspace) as store, pytest.raises(StudioError, match="dpo checkpoint"):
        resume_offline_run(store, KTO, folder, load(tiny_model_dir), THUMBS)


def test_a_model_without_adapter_and_bad_settings_are_refused(tiny_model_dir):
    bare = ModelSession.load(ModelSpec(name_or_path=str(tiny_model_dir), device="cpu", lora=None))
    with pytest.raises(TrainingError, match="LoRA"):
        DPOTrainer(bare, None, PAIRS, DPOConfig(**SMALL))
    with pytest.raises(TrainingError, match="beta"):
        DPOTrainer(load(tiny_model_dir), None, PAIRS, DPOConfig(**SMALL, beta=0.0))


def test_a_nan_loss_stops_the_run_naming_its_checkpoint_and_later_steps_refuse(
    tiny_model_dir, tmp_path, monkeypatch
):
    session = load(tiny_model_dir)
    config = DPOConfig(**{**SMALL, "checkpoint_every": 1})
    trainer = DPOTrainer(session, None, PAIRS, config, checkpoint_dir=tmp_path)
    trainer.step()
    trainer.save_checkpoint()
    real_loss = trainer._batch_loss

    def nan_loss(chunk):
        loss, stats = real_loss(chunk)
        return loss * float("nan"), stats

    monkeypatch.setattr(trainer, "_batch_loss", nan_loss)
    with pytest.raises(TrainingError) as caught:
        trainer.step()
    message = str(caught.value)
    assert "The DPO loss became NaN or infinity at step 2" in message
    assert f"The last good checkpoint is {tmp_path / 'step-1'}: resume from it." in message
    assert "learning_rate" in message
    with pytest.raises(TrainingError, match="This run failed; resume from its last checkpoint"):
        trainer.step()  # the half-updated weights train no further


def test_a_batch_is_as_wide_as_its_longest_row_and_scores_each_row_as_alone(tiny_model_dir):
    """Rows are prompt + response, left-padded together: a long prompt with a short answer
    beside a short prompt with a long answer costs the longer of the two rows, not the
    longest prompt plus the longest answer, and each row's log-probs are its own."""
    from core.offline.batching import SequenceTable, response_logps

    session = load(tiny_model_dir)
    long_prompt = "Write a review of the film you saw last night at the old cinema:"
    prompts = [long_prompt, "Hi"]
    responses = ["Great.", "It was a long, slow and rather lovely evening with friends."]
    table = SequenceTable(session, prompts, responses, max_response_tokens=32, packing=False)
    prompt_ids, response_ids = table._prompt_ids, table._response_ids
    batch = table.batch([0, 1])
    rows = [len(p) + len(r) for p, r in zip(prompt_ids, response_ids, strict=True)]
    assert batch.input_ids.shape[1] == max(rows)
    assert max(rows) < max(map(len, prompt_ids)) + max(map(len, response_ids))
    assert batch.token_counts.tolist() == [float(len(r)) for r in response_ids]
    with torch.no_grad():
        together = response_logps(session.model, batch).sum(dim=1)
        alone = [response_logps(session.model, table.batch([i])).sum(dim=1) for i in (0, 1)]
    assert torch.allclose(together, torch.cat(alone), atol=1e-4)
