"""Bundles carry rubrics: a run shaped by a workspace rubric (a judge= reward's rubric file,
or AI labels that trained its reward model) exports the rubric text, and import-run brings
it into the local workspace under the same id, so the judge+rubric identity is the same
there. Imported rubric files are data: no link, size-limited, plain text, the id's text."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.config import ModelSpec, PPOConfig, to_dict
from core.data.run_prompts import record_run_prompts
from core.errors import StudioError
from core.judge.rubrics import rubric_of_rater
from core.rewards.judge_templates import (
    PAIRWISE,
    POINTWISE,
    parse_template,
    read_template,
    save_rubric,
)
from core.runs.bundle_rubrics import MAX_RUBRIC_BYTES
from core.runs.export import export_run, read_manifest
from core.runs.import_run import IMPORTED_KEY, import_run
from core.store import Store

POINT_RUBRIC = "Score the warmth of the review.\nPrompt: {prompt}\nAnswer: {response}\nScore 1-10:"
PAIR_RUBRIC = (
    "Prefer the kinder review.\nPrompt: {prompt}\nA: {response_a}\nB: {response_b}\nBetter:"
)


def _run(workspace: Path, specs: list[str]) -> int:
    """A finished PPO run as start_run records it (not trained here)."""
    with Store.open(workspace) as store:
        run_id = store.create_run("ppo", {
            "ppo": to_dict(PPOConfig(steps=1)), "algorithm": "ppo", "model": "demo",
            "model_spec": to_dict(ModelSpec()), "reward_specs": specs, "prompts": 1,
        })  # fmt: skip
        store.add_metrics(run_id, 1, {"reward/mean": 0.1})
        store.set_run_status(run_id, "finished")
    record_run_prompts(workspace, run_id, ["The movie was"])
    return run_id


def _cluster_trains(folder: Path, specs: list[str]) -> None:
    """What launch.sh leaves in the bundle: its workspace with a run of these specs."""
    _run(folder / "workspace", specs)


def test_a_judge_rewards_rubric_file_travels_and_keeps_its_id(tmp_path, workspace):
    rubric_file = tmp_path / "my rubrics" / "warmth.txt"
    rubric_file.parent.mkdir()
    rubric_file.write_text(POINT_RUBRIC + "\n", encoding="utf-8")
    rubric = read_template(rubric_file, POINTWISE)
    run_id = _run(workspace, [f"judge=demo-judge,{rubric_file}@0.5", "judge=demo-judge,concision"])
    with Store.open(workspace) as store:
        report = export_run(store, run_id, tmp_path / "bundle")
    folder = report.folder
    inside = f"rubrics/{rubric.rubric_id}.txt"
    assert inside in report.copied and inside in report.files
    assert (folder / "rewards.txt").read_text().splitlines() == [
        f"judge=demo-judge,{inside}@0.5",
        "judge=demo-judge,concision",
    ]
    # The copy keeps the judge's identity: the same id, from the same text.
    copy = read_template(folder / inside, POINTWISE)
    assert copy.rubric_id == rubric.rubric_id and copy.text == rubric.text

    # The cluster trained with the specs as launch.sh passes them (relative to the folder);
    # another machine imports the bundle (its workspace never saw the rubric file).
    _cluster_trains(folder, [f"judge=demo-judge,{inside}@0.5", "judge=demo-judge,concision"])
    rubric_file.unlink()
    elsewhere = tmp_path / "elsewhere"
    with Store.open(elsewhere) as store:
        result = import_run(store, folder)
        [imported] = result.runs
        specs = store.run(imported.run_id).config["reward_specs"]
    assert result.rubrics == [rubric.rubric_id]
    assert specs == [f"judge=demo-judge,{folder / inside}@0.5", "judge=demo-judge,concision"]
    kept = elsewhere / "rubrics" / f"{rubric.rubric_id}.txt"
    assert read_template(kept, POINTWISE).rubric_id == rubric.rubric_id
    assert read_template(kept).text == rubric.text

    # The imported run exports again with the same rubric, under the same id.
    with Store.open(elsewhere) as store:
        again = export_run(store, imported.run_id, tmp_path / "again")
    assert (again.folder / inside).read_text(encoding="utf-8") == rubric.text + "\n"


def _labelled_reward_model(workspace: Path, tmp_path: Path) -> tuple[Path, str]:
    """Comparisons by a judge under a workspace rubric, and a reward model trained on them
    (its rm_meta.json lists their ids, as train-rm writes it)."""
    rubric = parse_template(PAIR_RUBRIC, source=str(tmp_path / "kind.txt"), kind=PAIRWISE)
    rater = f"ai:demo-judge#{rubric.rubric_id}"
    with Store.open(workspace) as store:
        save_rubric(workspace, rubric)
        [prompt] = store.add_prompts(["The movie was"])
        ids = [store.add_generation(prompt, text, "demo") for text in ("lovely", "awful")]
        human = store.add_comparison(prompt, *ids, "left", "ann")
        labels = [store.add_comparison(prompt, *ids, "left", rater, soft_label=0.9)]
    folder = tmp_path / "reward_models" / "rm-1"
    folder.mkdir(parents=True)
    meta = {"format": "rlhf-studio-reward-model", "train_comparison_ids": [human, *labels],
            "eval_comparison_ids": []}  # fmt: skip
    (folder / "rm_meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder, rater


def test_the_rubrics_of_the_labels_behind_a_reward_model_travel(tmp_path, workspace):
    reward_model, rater = _labelled_reward_model(workspace, tmp_path)
    rubric_id = rubric_of_rater(rater)
    run_id = _run(workspace, [f"rm={reward_model}"])
    with Store.open(workspace) as store:
        report = export_run(store, run_id, tmp_path / "bundle")
    folder = report.folder
    assert read_manifest(folder)["raters"] == [rater]  # the people ("ann") are not named
    assert (folder / "rubrics" / f"{rubric_id}.txt").read_text(encoding="utf-8") == (
        PAIR_RUBRIC + "\n"
    )
    _cluster_trains(folder, ["rm=rewards/rm-1"])
    elsewhere = tmp_path / "elsewhere"
    with Store.open(elsewhere) as store:
        result = import_run(store, folder)
        origin = store.run(result.runs[0].run_id).config[IMPORTED_KEY]
    assert origin["raters"] == [rater] and result.rubrics == [rubric_id]
    # The rater's rubric id names the same text there as here.
    kept = read_template(elsewhere / "rubrics" / f"{rubric_id}.txt")
    assert kept.rubric_id == rubric_id and kept.text == PAIR_RUBRIC
    # Importing again adds nothing new; exported again, the run names the same raters
    # (its reward model's comparison ids are the first store's, never looked up here).
    with Store.open(elsewhere) as store:
        assert import_run(store, folder).rubrics == []
        again = export_run(store, result.runs[0].run_id, tmp_path / "again")
    assert read_manifest(again.folder)["raters"] == [rater]
    assert (again.folder / "rubrics" / f"{rubric_id}.txt").is_file()


def _bundle_with(tmp_path: Path, name: str, write) -> Path:
    """A trained bundle whose rubrics/ holds one entry made by `write(path)`."""
    folder = tmp_path / "bundle"
    _cluster_trains(folder, ["sentiment"])
    (folder / "rubrics").mkdir()
    write(folder / "rubrics" / name)
    return folder


VALID_NAME = parse_template(PAIR_RUBRIC, source="kind.txt").rubric_id + ".txt"


@pytest.mark.parametrize(
    ("name", "write", "refusal"),
    [
        (VALID_NAME, lambda p: p.symlink_to(Path.home() / ".bashrc"), "symbolic link"),
        (VALID_NAME, lambda p: p.write_text(PAIR_RUBRIC + " x" * MAX_RUBRIC_BYTES), "larger"),
        (VALID_NAME, lambda p: p.write_bytes(b"\xff\xfe" + PAIR_RUBRIC.encode()), "not UTF-8"),
        (VALID_NAME, lambda p: p.write_text(PAIR_RUBRIC.replace("kinder", "kind\x00er")),
         "control characters"),
        (VALID_NAME, lambda p: p.write_text(PAIR_RUBRIC.replace("kinder", "harsher")),
         "holds the text of rubric"),  # edited under its old id: another judge's identity
        ("notes.txt", lambda p: p.write_text("no placeholders at all"), "not a"),
        ("sub", lambda p: p.mkdir(), "is a folder"),
        (VALID_NAME, lambda p: os.mkfifo(p), "not a regular file"),
    ],
    ids=["link", "too-large", "binary", "control", "renamed", "not-a-template", "folder",
         "fifo"],
)  # fmt: skip
def test_imported_rubric_files_are_plain_checked_data(tmp_path, workspace, name, write, refusal):
    folder = _bundle_with(tmp_path, name, write)
    with Store.open(workspace) as store, pytest.raises(StudioError, match=refusal):
        import_run(store, folder)
    with Store.open(workspace) as store:
        assert store.runs() == []  # refused before anything was written
    assert not (workspace / "rubrics").exists()


def test_a_rubric_saved_under_its_id_keeps_it(tmp_path):
    mine = parse_template(PAIR_RUBRIC, source=str(tmp_path / "My kind rubric.txt"))
    path = save_rubric(tmp_path, mine)
    assert path.name == f"{mine.rubric_id}.txt"
    assert read_template(path).rubric_id == mine.rubric_id  # not "<id>-<hash>" again
    renamed = tmp_path / "other-abcdef.txt"
    renamed.write_text(PAIR_RUBRIC, encoding="utf-8")
    assert read_template(renamed).rubric_id != "other-abcdef"  # the hash is the text's
