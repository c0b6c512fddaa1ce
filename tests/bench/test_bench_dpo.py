"""bench/dpo_vs_trl.py leaves our held-out evaluation off our clock, as TRL's evaluate()
after its training loop is off TRL's."""

from bench import dpo_vs_trl


class _Trainer:
    def __init__(self):
        self.calls = 0

    def _evaluate(self):
        self.calls += 1
        return {"eval/rewards/accuracy": sum(i * i for i in range(20_000)) and 1.0}


def test_the_evaluations_time_is_counted_apart_and_their_figures_pass_through():
    trainer = _Trainer()
    spent = dpo_vs_trl._timed_evaluation(trainer)
    assert spent == [0.0, 0.0]

    assert trainer._evaluate() == {"eval/rewards/accuracy": 1.0}
    assert trainer._evaluate() == {"eval/rewards/accuracy": 1.0}

    assert trainer.calls == 2
    assert spent[0] > 0 and spent[1] >= 0  # wall and CPU seconds of both calls
