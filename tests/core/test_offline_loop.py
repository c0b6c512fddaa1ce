"""The DPO loop on the demo model with an AI judge that prefers the more positive answer
(the VADER stand-in of test_rlaif_e2e): rounds sample from the current adapter, are
judged, train DPO on everything rated so far, and report a blind win-rate vs the base."""

import pytest

from core.config import ModelSpec
from core.demo import DEMO_PROMPTS
from core.model.session import ModelSession
from core.offline.config import DPOConfig
from core.offline.loop import ROUND_KIND, ai_dpo_round, blind_win_rate, rounds
from core.store import Store
from tests.core.test_rlaif_e2e import vader_judge

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


def test_two_rounds_grow_the_data_and_beat_the_base(demo_model_dir, workspace):
    session = ModelSession.load(ModelSpec(name_or_path=str(demo_model_dir), device="cpu"))
    judge = vader_judge(demo_model_dir)
    eval_prompts = list(DEMO_PROMPTS[30:])
    # The untrained adapter is the base: the win-rate is a coin toss, ties included.
    assert 0.2 <= blind_win_rate(session, judge, eval_prompts, seed=5) <= 0.8
    config = DPOConfig(steps=25, batch_size=16, eval_every=25)
    with Store.open(workspace) as store:
        first = ai_dpo_round(store, session, judge, config, 64, eval_prompts, seed=1)
        second = ai_dpo_round(store, session, judge, config, 64, eval_prompts, seed=2)
        assert [r.round for r in rounds(store)] == [1, 2]
        assert rounds(store)[1] == second and second.labelled_by == judge.rater
        used = [store.run(r.dpo_run_id).config["data"]["used"] for r in (first, second)]
        assert used[1] > used[0]  # the second round trains on both rounds' pairs
        assert store.runs(ROUND_KIND)[0].status == "finished"
    assert second.win_rate >= 0.7, (first, second)
    assert second.held_out_accuracy is not None
