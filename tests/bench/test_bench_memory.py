"""bench/memory_options.py: one PPO step per memory variant, each in its own process, as a
table (a figure, not a timed test: only its shape is checked here)."""

from __future__ import annotations

from bench.memory_options import main


def test_each_variant_runs_in_its_own_process_and_lands_in_the_table(tiny_model_dir, capsys):
    argv = ["--model", str(tiny_model_dir), "--batch-size", "2", "--mini-batch-size", "2",
            "--max-new-tokens", "4", "--chunk", "2", "--variants", "default,both"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr()
    rows = [line for line in out.out.splitlines() if line.startswith("| ")]
    assert [row.split("|")[1].strip() for row in rows[1:]] == ["default", "both"]
    assert "(x1.00)" in rows[1] and '"step_peak_bytes"' in out.err
