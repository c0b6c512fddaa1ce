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


def test_the_summary_gives_samples_per_cpu_second_and_keeps_the_ratio_line_last(
    monkeypatch, capsys
):
    from bench import ppo_vs_trl

    monkeypatch.setattr(dpo_vs_trl, "make_pairs", lambda *_args: [])
    monkeypatch.setattr(ppo_vs_trl, "resolve_model", lambda model, _cache: model)
    figures = {"ours": (2.0, 4.0, 100), "trl": (1.0, 2.5, 200)}  # wall, CPU, peak

    def runner(side, _argv, _pairs_file):
        wall, cpu, peak = figures[side]
        return {"side": side, "samples_per_s": wall, "samples_per_cpu_s": cpu,
                "peak_mem_bytes": peak, "eval_accuracy": 1.0, "eval_margin": 0.5}  # fmt: skip

    assert dpo_vs_trl.main(["--repeats", "1", "--device", "cpu"], runner=runner) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "samples/CPU-s: ours 4.00, TRL 2.50, ours/TRL 1.60" in lines[-2]
    assert lines[-1] == "ours/trl samples_per_s=2.00 peak_mem=0.50"
