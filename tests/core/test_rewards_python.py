"""py=FILE: a user's `reward(prompts, responses)` imported in isolation, with clear errors."""

import sys
import textwrap

import pytest

from core.errors import RewardError
from core.rewards import RewardContext, build_reward
from core.rewards.python_fn import PythonFunctionReward


def write(tmp_path, body, name="my_reward.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_good_function_scores_each_response(tmp_path):
    path = write(
        tmp_path,
        """
        import math

        def reward(prompts, responses):
            return [len(r) - len(p) + math.pi for p, r in zip(prompts, responses)]
        """,
    )
    source = build_reward([f"py={path}"], RewardContext())
    assert source.name == "py_my_reward"
    assert source.score(["ab", "a"], ["abcd", ""]) == pytest.approx(
        [2 + 3.141592653589793, -1 + 3.141592653589793]
    )


def test_function_may_return_a_tuple_of_ints(tmp_path):
    path = write(
        tmp_path, "def reward(prompts, responses):\n    return tuple(1 for _ in responses)\n"
    )
    assert PythonFunctionReward(path).score(["p", "q"], ["x", "y"]) == [1.0, 1.0]


def test_the_file_is_imported_under_its_own_name(tmp_path):
    # A file named like a real module must not replace it, nor land on sys.path.
    body = "def reward(prompts, responses):\n    return [0.0] * len(responses)\n"
    path = write(tmp_path, body, "json.py")
    PythonFunctionReward(path)
    assert sys.modules["json"].__file__ != str(path)
    assert hasattr(sys.modules["json"], "dumps")
    assert str(tmp_path) not in sys.path


def test_edits_are_picked_up_when_built_again(tmp_path):
    path = write(tmp_path, "def reward(prompts, responses):\n    return [1.0]\n")
    assert PythonFunctionReward(path).score(["p"], ["x"]) == [1.0]
    write(tmp_path, "def reward(prompts, responses):\n    return [2.0]\n")
    assert PythonFunctionReward(path).score(["p"], ["x"]) == [2.0]
    assert not (tmp_path / "__pycache__").exists()  # nothing written beside the user's file


def test_arguments_are_copies(tmp_path):
    path = write(
        tmp_path, "def reward(prompts, responses):\n    responses.clear()\n    return []\n"
    )
    responses = ["x"]
    with pytest.raises(RewardError):
        PythonFunctionReward(path).score(["p"], responses)
    assert responses == ["x"]


def test_missing_file(tmp_path):
    with pytest.raises(RewardError, match=r"no such file.*def reward\(prompts, responses\)"):
        build_reward([f"py={tmp_path / 'nope.py'}"], RewardContext())


def test_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path, "x = 1\n\ndef reward(prompts, responses)\n    return []\n")
    with pytest.raises(RewardError, match=rf"{path.name}, line 3: syntax error"):
        PythonFunctionReward(path)


def test_error_while_importing_names_file_and_line(tmp_path):
    path = write(tmp_path, "x = 1\ny = x / 0\n")
    with pytest.raises(RewardError, match=rf"{path.name}, line 2: importing.*ZeroDivisionError"):
        PythonFunctionReward(path)


def test_missing_function(tmp_path):
    path = write(tmp_path, "def score(prompts, responses):\n    return []\n")
    with pytest.raises(
        RewardError, match=r"has no `reward`; define def reward\(prompts, responses\)"
    ):
        PythonFunctionReward(path)
    path = write(tmp_path, "reward = 3\n", "not_callable.py")
    with pytest.raises(RewardError, match="not a function"):
        PythonFunctionReward(path)


def test_raising_function_names_the_line_that_raised(tmp_path):
    path = write(
        tmp_path,
        """
        def helper(text):
            return 1 / len(text)

        def reward(prompts, responses):
            return [helper(r) for r in responses]
        """,
    )
    source = PythonFunctionReward(path)
    assert source.score(["p"], ["ab"]) == [0.5]
    with pytest.raises(
        RewardError, match=rf"{path.name}, line 3: reward\(\) raised ZeroDivisionError"
    ):
        source.score(["p"], [""])


def test_wrong_length_names_file_and_def_line(tmp_path):
    path = write(tmp_path, "\n\ndef reward(prompts, responses):\n    return [1.0]\n")
    with pytest.raises(
        RewardError, match=rf"{path.name}, line 3 .*returned 1 scores for 2 responses"
    ):
        PythonFunctionReward(path).score(["p", "q"], ["x", "y"])


def test_non_number_is_rejected_with_its_index(tmp_path):
    path = write(tmp_path, "def reward(prompts, responses):\n    return [1.0, 'high']\n")
    with pytest.raises(RewardError, match=r"line 1 .*'high' \(str\) at index 1"):
        PythonFunctionReward(path).score(["p", "q"], ["x", "y"])
    path = write(tmp_path, "def reward(prompts, responses):\n    return None\n", "none.py")
    with pytest.raises(RewardError, match="NoneType, not a list of numbers"):
        PythonFunctionReward(path).score(["p"], ["x"])


def test_nan_is_rejected_with_its_index(tmp_path):
    path = write(tmp_path, "def reward(prompts, responses):\n    return [0.0, float('nan'), 1.0]\n")
    with pytest.raises(RewardError, match=r"my_reward.py, line 1 .*nan at index 1"):
        PythonFunctionReward(path).score(["p"] * 3, ["x"] * 3)


# --- TRL's signature -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        # TRL's GRPO/RLOO reward functions are called by keyword, with dataset columns too.
        "def reward(prompts, completions, **kwargs):\n"
        "    return [float(len(c) - len(p)) for p, c in zip(prompts, completions)]\n",
        "def reward(completions, prompts=None, **kwargs):\n"
        "    return [float(len(c) - len(p)) for p, c in zip(prompts, completions)]\n",
        "def reward(**kwargs):\n"
        "    return [float(len(c) - len(p)) for p, c in zip(kwargs['prompts'], kwargs['completions'])]\n",
    ],
)
def test_trl_style_functions_get_prompts_and_completions_by_keyword(tmp_path, body):
    source = build_reward([f"py={write(tmp_path, body)}"], RewardContext())
    assert source.score(["ab", "a"], ["abcd", ""]) == [2.0, -1.0]


def test_trl_style_without_prompts_and_named_by_assignment(tmp_path):
    path = write(
        tmp_path,
        """
        def reward_len(completions, **kwargs):
            return [-abs(20 - len(c)) for c in completions]

        reward = reward_len
        """,
    )
    assert PythonFunctionReward(path).score(["p"], ["x" * 18]) == [-2.0]


def test_a_trl_function_needing_a_dataset_column_is_refused_at_import(tmp_path):
    path = write(tmp_path, "def reward(completions, solution, **kwargs):\n    return []\n")
    with pytest.raises(RewardError, match=r"line 1: reward\(\) requires solution, which TRL"):
        PythonFunctionReward(path)


def test_none_scores_say_that_every_response_needs_one(tmp_path):
    path = write(tmp_path, "def reward(completions, **kwargs):\n    return [1.0, None]\n")
    with pytest.raises(RewardError, match="returned None at index 1; TRL lets a reward skip"):
        PythonFunctionReward(path).score(["p", "q"], ["x", "y"])


def test_a_missing_function_names_both_signatures(tmp_path):
    path = write(tmp_path, "def score(prompts, responses):\n    return []\n")
    with pytest.raises(RewardError, match=r"TRL's def reward\(prompts, completions, \*\*kwargs\)"):
        PythonFunctionReward(path)
