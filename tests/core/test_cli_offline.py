"""`dpo`, `kto` and `sft` from the command line on a tiny model: data counts, metrics
stream, checkpoints, resume, and the final adapter folder as the last line of stdout."""

import json
from pathlib import Path

import pytest

from core.cli import main
from core.store import Store

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def fill_store(workspace: Path, n: int = 10) -> None:
    """n decided comparisons (one by an AI judge), one tie, one 'both bad', two thumbs."""
    with Store.open(workspace) as store:
        prompt_ids = store.add_prompts([f"Review {i}:" for i in range(n + 2)])
        for i, prompt_id in enumerate(prompt_ids):
            good = store.add_generation(prompt_id, "I loved the story.", "tiny")
            bad = store.add_generation(prompt_id, "Boring plot, a waste.", "tiny")
            verdict = "tie" if i == n else "both_bad" if i == n + 1 else "left"
            rater, soft = ("ai:judge", 0.9) if i == 0 else ("ann", None)
            store.add_comparison(prompt_id, good, bad, verdict, rater, soft_label=soft)
            if i < 2:
                store.add_rating(good, 1.0, "ann")
                store.add_rating(bad, 0.0, "ann")


def common(model: Path, workspace: Path) -> list[str]:
    return ["--model", str(model), "--device", "cpu", "--workspace", str(workspace),
            "--batch-size", "2", "--learning-rate", "0.005", "--seed", "1"]  # fmt: skip


def last_line(capsys) -> tuple[str, str]:
    captured = capsys.readouterr()
    return captured.out.strip().splitlines()[-1], captured.err


def test_dpo_counts_its_data_streams_metrics_and_resumes(
    tiny_model_dir, workspace, tmp_path, capsys
):
    fill_store(workspace)
    out = tmp_path / "metrics.jsonl"
    args = ["dpo", *common(tiny_model_dir, workspace), "--steps", "3", "--checkpoint-every", "2"]
    assert main([*args, "--metrics-out", str(out)]) == 0
    adapter, err = last_line(capsys)
    assert "dpo: 10 pairs (skipped: 1 both bad, 1 ties)" in err
    assert Path(adapter).name == "adapter" and (Path(adapter) / "adapter_config.json").is_file()
    assert Path(adapter).parent.name == "step-3"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2, 3]
    assert {"loss", "rewards/margins", "eval/rewards/accuracy"} <= set(rows[-1])

    step_2 = Path(adapter).parents[1] / "step-2"
    resume = ["dpo", *common(tiny_model_dir, workspace), "--resume", str(step_2), "--steps", "4"]
    assert main([*resume, "--metrics-out", str(out)]) == 0
    adapter, _ = last_line(capsys)
    assert Path(adapter).parent.name == "step-4"
    assert [json.loads(line)["step"] for line in out.read_text().splitlines()] == [1, 2, 3, 3, 4]
    with Store.open(workspace) as store:
        run = store.runs("dpo")[0]
        assert run.status == "finished" and run.config["data"]["skipped"] == {
            "both bad": 1,
            "ties": 1,
        }


def test_ipo_soft_ties_and_epochs(tiny_model_dir, workspace, capsys):
    fill_store(workspace)
    args = ["dpo", *common(tiny_model_dir, workspace), "--loss", "ipo", "--ties", "soft"]
    assert main([*args, "--epochs", "1", "--eval-fraction", "0.2"]) == 0
    adapter, err = last_line(capsys)
    assert "11 pairs (skipped: 1 both bad)" in err
    # 11 pairs, 2 held out, batches of 2: one epoch is 5 steps.
    assert Path(adapter).parent.name == "step-5"


def test_kto_and_sft(tiny_model_dir, workspace, tmp_path, capsys):
    fill_store(workspace)
    assert main(["kto", *common(tiny_model_dir, workspace), "--steps", "2"]) == 0
    adapter, err = last_line(capsys)
    # 4 thumbs + 10 decided pairs x 2 sides + 'both bad' x 2; the tie is skipped.
    assert "kto: 26 answers (skipped: 1 ties)" in err and Path(adapter).is_dir()

    demos = tmp_path / "demos.jsonl"
    demos.write_text("".join(json.dumps({"prompt": f"P{i}", "response": "Lovely."}) + "\n"
                             for i in range(6)))  # fmt: skip
    assert (
        main(["sft", *common(tiny_model_dir, workspace), "--steps", "2", "--data", str(demos)]) == 0
    )
    sft_adapter, err = last_line(capsys)
    assert "sft: 6 demonstrations" in err
    # Continue from the SFT adapter with DPO (a warm start).
    args = ["dpo", *common(tiny_model_dir, workspace), "--steps", "1", "--adapter", sft_adapter]
    assert main(args) == 0
    assert Path(last_line(capsys)[0]).is_dir()


def test_too_little_data_and_bad_flags_fail_in_one_line(
    tiny_model_dir, workspace, tmp_path, capsys
):
    assert main(["dpo", *common(tiny_model_dir, workspace)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[0] == "dpo: 0 pairs" and "error: Only 0 usable pairs" in err[-1]
    with pytest.raises(SystemExit):  # argparse checks the declared range
        main(["dpo", *common(tiny_model_dir, workspace), "--beta", "0"])
    assert "--beta: 0 is out of range" in capsys.readouterr().err
    assert main(["sft", *common(tiny_model_dir, workspace), "--data", str(tmp_path / "x.txt")]) == 2
    assert ".jsonl or .csv" in capsys.readouterr().err
