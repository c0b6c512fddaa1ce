"""bench/judge_quality.py: its recipe choices and its free-text rubrics."""

from bench.judge_quality import RECIPE_NAMES, free_text_rubric
from core.judge.rubrics import CRITERIA, PRESETS
from core.judge.train import RECIPES


def test_every_build_recipe_can_be_named_on_the_command_line():
    assert tuple(RECIPES) == RECIPE_NAMES


def test_a_free_text_rubric_says_its_clause_in_other_words_than_the_preset():
    for name in PRESETS:
        rubric = free_text_rubric(name)
        assert CRITERIA[name].clauses[1] in rubric.text
        assert CRITERIA[name].clauses[0] not in rubric.text
