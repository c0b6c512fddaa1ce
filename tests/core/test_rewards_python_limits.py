"""py=FILE in its own process: a time limit per call, and no way to end the caller."""

import os
import textwrap
import time

import pytest

from core.cli import main
from core.errors import RewardError
from core.rewards.python_fn import TIME_LIMIT_ENV, PythonFunctionReward, time_limit_from_env
from core.store import Store


def write(tmp_path, body, name="my_reward.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


SLEEPY = """
import time

def reward(prompts, responses):
    if responses[0] == "slow":
        time.sleep(60)
    return [1.0] * len(responses)
"""


def test_a_function_that_sleeps_is_stopped_at_the_limit_and_the_next_call_works(tmp_path):
    source = PythonFunctionReward(write(tmp_path, SLEEPY), time_limit_s=1.0)
    started = time.monotonic()
    with pytest.raises(RewardError) as error:
        source.score(["p"], ["slow"])
    assert time.monotonic() - started < 20  # loose: the limit is 1 s, the sleep 60 s
    message = str(error.value)
    assert "my_reward.py" in message and "1 s limit" in message and TIME_LIMIT_ENV in message
    assert "\n" not in message
    assert source.score(["p", "q"], ["fast", "x"]) == [1.0, 1.0]  # a fresh worker
    source.close()


def test_sys_exit_in_the_function_is_an_error_and_the_caller_lives_on(tmp_path):
    path = write(
        tmp_path,
        """
        import sys

        def reward(prompts, responses):
            if responses[0] == "quit":
                sys.exit(3)
            return [len(r) for r in responses]
        """,
    )
    source = PythonFunctionReward(path)
    with pytest.raises(RewardError, match=rf"{path.name}, line 6: reward\(\) called sys.exit\(3\)"):
        source.score(["p"], ["quit"])
    assert source.score(["p"], ["four"]) == [4.0]  # same worker, still serving
    source.close()


def test_a_function_that_kills_its_process_is_an_error_and_a_new_worker_follows(tmp_path):
    path = write(
        tmp_path,
        """
        import os

        def reward(prompts, responses):
            if responses[0] == "die":
                os._exit(7)
            return [0.5] * len(responses)
        """,
    )
    source = PythonFunctionReward(path)
    with pytest.raises(RewardError, match="ended with exit status 7.*must return its scores"):
        source.score(["p"], ["die"])
    assert source.score(["p"], ["live"]) == [0.5]
    source.close()


def test_sys_exit_while_importing_is_an_error_naming_the_file(tmp_path):
    path = write(tmp_path, "import sys\nsys.exit(3)\n")
    with pytest.raises(RewardError, match=r"importing the reward file called sys.exit\(3\)"):
        PythonFunctionReward(path)


def test_an_import_that_hangs_is_stopped_at_the_limit(tmp_path):
    path = write(tmp_path, "import time\ntime.sleep(60)\n")
    with pytest.raises(RewardError, match=r"importing the reward file did not finish.*1 s limit"):
        PythonFunctionReward(path, time_limit_s=1)


def test_the_limit_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(TIME_LIMIT_ENV, raising=False)
    assert time_limit_from_env() == 30.0
    monkeypatch.setenv(TIME_LIMIT_ENV, "2.5")
    assert PythonFunctionReward(write(tmp_path, SLEEPY)).time_limit_s == 2.5
    for bad in ("soon", "0", "-1", "inf"):
        monkeypatch.setenv(TIME_LIMIT_ENV, bad)
        with pytest.raises(RewardError, match=f"{TIME_LIMIT_ENV}=.*positive number of seconds"):
            time_limit_from_env()


def test_the_function_runs_in_another_process(tmp_path):
    path = write(tmp_path, "import os\n\ndef reward(p, r):\n    return [os.getpid()] * len(r)\n")
    source = PythonFunctionReward(path)
    assert source.score(["p"], ["x"]) != [float(os.getpid())]
    source.close()


def test_score_command_with_a_sleeping_reward_is_a_one_line_error(
    capsys, monkeypatch, tmp_path, workspace
):
    with Store.open(workspace) as store:
        [prompt_id] = store.add_prompts(["Review:"])
        store.add_generation(prompt_id, "slow", "demo")
    monkeypatch.setenv(TIME_LIMIT_ENV, "1")
    path = write(tmp_path, SLEEPY)
    status = main(["score", "--reward", f"py={path}", "--workspace", str(workspace)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and "1 s limit" in err
    with Store.open(workspace) as store:
        assert store.scores() == []
