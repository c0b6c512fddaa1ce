"""A DPO round judged by the demo judge under a preset rubric is also refereed by the
rubric's ground truth (VADER, word counts), on the same blind pairs, and both win-rates
are stored on the round."""

from core.judge.cache import DEMO_JUDGE
from core.offline.loop import _blind_score, record_round, rounds
from core.rewards.judge_templates import PAIRWISE, parse_template, preset_template
from core.rlaif.truth import TruthJudge, truth_name, truth_referee
from core.store import Store

GLOWING = "Wonderful, I loved every minute, a brilliant and delightful stay."


def test_only_the_demo_judge_under_an_unedited_preset_has_a_truth():
    for name in ("positivity", "concision", "positive-concise"):
        referee = truth_referee(DEMO_JUDGE, preset_template(name))
        assert isinstance(referee, TruthJudge) and referee.criterion == name
    edited = parse_template(
        preset_template("positivity").text.replace("wins", "wins, mostly"),
        "preset:positivity",
        PAIRWISE,
    )
    assert truth_referee(DEMO_JUDGE, edited) is None
    assert truth_referee("/models/some-judge", preset_template("positivity")) is None
    assert [truth_name(f"truth:{name}") for name in ("positivity", "concision")] == [
        "VADER",
        "word count",
    ]


def test_the_truth_scores_the_adapters_side_whichever_side_it_is_shown_on():
    prompts = [f"P{i}" for i in range(8)]
    tuned, base = [GLOWING] * 8, ["Bad and boring, I left."] * 8
    # Seed 3 shows the adapter's answer on both sides across these 8 prompts.
    assert _blind_score(TruthJudge("positivity"), prompts, tuned, base, seed=3) == 1.0
    # Under concision the longer glowing answer loses to the shorter one that answers.
    assert _blind_score(TruthJudge("concision"), prompts, tuned, base, seed=3) == 0.0


def test_a_round_keeps_the_truths_win_rate_beside_the_judges(workspace):
    with Store.open(workspace) as store:
        record = record_round(store, 3, 16, "ai:demo-judge#positivity", 0.5, 0.8, "/a",
                              None, 0.75, "truth:positivity")  # fmt: skip
        assert (record.truth_win_rate, record.truth_by) == (0.75, "truth:positivity")
        plain = record_round(store, 4, 16, "ai:other#default", 0.6, None, "/b")
        assert rounds(store) == [record, plain]
        assert plain.truth_win_rate is None and plain.truth_by is None
