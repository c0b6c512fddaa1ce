"""The demo judge: a small one built here follows two rubrics in opposite directions."""

from __future__ import annotations

import pytest

from core.judge import DEMO_JUDGE, demo_judge_folder, ensure_demo_judge, is_demo_judge_built
from core.judge.train import JudgeBuildConfig
from core.rewards import RewardContext
from core.rewards.judge import LLMJudge, judge_from_arg
from core.rewards.judge_templates import POINTWISE, preset_template
from core.store import Store

# The build takes minutes of CPU (far longer on a busy machine): a generous timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

# Reduced: two blocks, two criteria, fewer steps and tasks than the shipped judge, and no
# auxiliary targets (in so short a build they slow the verdict's start; the shipped recipe
# keeps them, and tests/core/test_demo_judge_tasks.py checks them).
SMALL = JudgeBuildConfig(
    n_pairs=1600, n_points=100, n_layer=2, n_positions=192, steps=220, batch_size=32,
    criteria=("positivity", "concision"), aux_weight=0.0,
)  # fmt: skip

# The positive review is the longer one each time: the two rubrics must disagree.
CLEAR_PAIRS = [
    ("The movie was", "a wonderful, charming story with superb acting and lovely music. "
     "Highly recommended!", "boring and awful."),
    ("I bought this blender and", "it is excellent, fast and quiet, and the design is "
     "beautiful. Five stars.", "it broke. Terrible."),
    ("The hotel was", "spotless and friendly, with a perfect view and a delicious breakfast. "
     "A real gem.", "dirty and rude staff."),
    ("The game was", "brilliant fun with amazing graphics and a great story. Loved it!",
     "dull and frustrating."),
]  # fmt: skip


@pytest.fixture(scope="module")
def small_judge(tmp_path_factory, demo_model_dir):
    """A small demo judge built into a private data folder beside the real demo model."""
    home = tmp_path_factory.mktemp("judge-home")
    (home / "demo-model").symlink_to(demo_model_dir.parent, target_is_directory=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RLHF_STUDIO_HOME", str(home))
        folder = ensure_demo_judge(config=SMALL)
        yield folder, patch


def _verdicts(folder, rubric):
    judge = LLMJudge.load(str(folder), device="cpu", pairwise=rubric)
    try:
        prompts, positives, negatives = map(list, zip(*CLEAR_PAIRS, strict=True))
        return judge.compare(prompts, positives, negatives)
    finally:
        judge.unload()


def test_small_demo_judge_follows_the_positivity_rubric(small_judge):
    folder, _ = small_judge
    assert folder == demo_judge_folder() and (folder / "demo_judge.json").is_file()
    positivity = _verdicts(folder, preset_template("positivity"))
    # Left is the positive review each time: the judge prefers it clearly, in both orders.
    assert sum(r.p_left > 0.6 for r in positivity) >= 3, [r.p_left for r in positivity]
    assert sum(r.same_side_both_orders for r in positivity) <= 1


# Read before the small judge's fixture points the data folder elsewhere.
FULL_JUDGE = demo_judge_folder()


@pytest.mark.skipif(not is_demo_judge_built(FULL_JUDGE), reason="no full demo judge built here")
def test_full_demo_judge_changes_its_verdict_with_the_rubric():
    """The shipped recipe (built by `demo-judge`, not here: minutes) reads the rubric: the
    long positive review wins under positivity; under concision the verdict moves away
    from it. (The reduced build above has not learned to read the rubric yet.)"""
    folder = FULL_JUDGE
    positivity = _verdicts(folder, preset_template("positivity"))
    concision = _verdicts(folder, preset_template("concision"))
    assert all(r.p_left > 0.7 for r in positivity), [r.p_left for r in positivity]
    mean_gap = sum(p.p_left - c.p_left for p, c in zip(positivity, concision, strict=True)) / 4
    assert mean_gap > 0.2, ([r.p_left for r in positivity], [r.p_left for r in concision])


def test_demo_judge_by_name_in_the_cli_and_as_a_reward(small_judge, workspace, capsys):
    from core.cli import main

    with Store.open(workspace) as store:
        [prompt_id] = store.add_prompts(["The movie was"])
        for _, positive, negative in CLEAR_PAIRS:
            store.add_generation(prompt_id, positive, "demo")
            store.add_generation(prompt_id, negative, "demo")
    assert main(["demo-judge"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(demo_judge_folder())
    args = ["label", "--judge", DEMO_JUDGE, "--rubric", "positivity", "--no-generate",
            "--device", "cpu", "--workspace", str(workspace)]  # fmt: skip
    assert main(args) == 0
    assert "4 comparisons by ai:demo-judge#positivity" in capsys.readouterr().out
    # Pointwise, as a `judge=` reward under a preset: the positive review scores higher.
    reward = judge_from_arg(f"{DEMO_JUDGE},positivity", RewardContext(device="cpu"))
    try:
        assert reward.pointwise.text == preset_template("positivity", POINTWISE).text
        positive, negative = CLEAR_PAIRS[0][1], CLEAR_PAIRS[0][2]
        high, low = reward.score(["The movie was"] * 2, [positive, negative])
        assert high > low
    finally:
        reward.unload()
