"""Smoke test of bench/interop.py: every figure line is printed, on a tiny run."""

from bench import interop


def test_the_bench_prints_its_four_figures(capsys):
    assert interop.main(["--pairs", "20", "--steps", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == [
        "import-pairs",
        "import-pairs",
        "export",
        "tensorboard",
    ]
    assert "20 duplicates" in lines[1] and "export pairs 20 rows" in lines[2]
