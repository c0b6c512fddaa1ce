"""The one algorithm registry (core/algorithms.py): every part that names algorithms asks
it, an unknown kind is an error everywhere, and the data selection (core/data_selection)
is the same for the CLI and the GUI, resume included."""

import ast
import json
import re
from pathlib import Path

import pytest

from core import algorithms
from core.algorithms import ALGORITHMS, UnknownAlgorithm, kind_of_checkpoint, spec_of
from core.data_selection import DataChoice, dataset_for, noun_of
from core.errors import StudioError
from core.offline.config import DPOConfig, SimPOConfig
from core.store import Store

ROOT = Path(__file__).resolve().parents[2]


def test_every_spec_is_complete_and_agrees_with_its_trainer():
    assert list(ALGORITHMS)[:6] == ["ppo", "grpo", "rloo", "dpo", "kto", "sft"]
    assert {"simpo", "orpo"} <= set(ALGORITHMS)
    for kind, spec in ALGORITHMS.items():
        trainer = spec.trainer_class()
        assert trainer.kind == kind and trainer.config_class is spec.config_class
        assert spec.algorithm().kind == kind
        assert spec.data in algorithms.DATA_KINDS and spec.label and spec.help
        assert spec.exportable == spec.on_policy  # export-run carries prompts, not feedback
        spec.check_config(spec.config_class())  # the defaults pass their own check


def test_an_unknown_kind_is_an_error_not_a_fallback(workspace):
    with pytest.raises(UnknownAlgorithm, match="'nope' is not an algorithm.*known: ppo"):
        spec_of("nope")
    assert issubclass(UnknownAlgorithm, StudioError)
    step = workspace / "step-1"
    step.mkdir(parents=True)
    (step / "meta.json").write_text('{"algorithm": "nope"}', encoding="utf-8")
    with pytest.raises(UnknownAlgorithm):
        kind_of_checkpoint(step)
    (step / "meta.json").write_text("{}", encoding="utf-8")
    assert kind_of_checkpoint(step) == "ppo"  # checkpoints from before meta named it
    with Store.open(workspace) as store, pytest.raises(UnknownAlgorithm):
        dataset_for("nope", store, DataChoice())
    with Store.open(workspace) as store, pytest.raises(StudioError, match="not from stored"):
        dataset_for("grpo", store, DataChoice())
    with pytest.raises(StudioError, match="takes a DPOConfig"):
        spec_of("dpo").check_config(SimPOConfig())


def test_the_gui_job_refuses_an_unknown_kind_instead_of_training_sft(workspace):
    """app/jobs/offline.py used to send any kind it did not know to SFT demonstrations."""
    from app.jobs.offline import OfflineRequest, load_offline_data

    with Store.open(workspace) as store, pytest.raises(UnknownAlgorithm):
        load_offline_data(store, OfflineRequest(workspace, "nope", DPOConfig()))


def test_the_cli_the_planner_export_and_the_train_page_list_the_registry():
    from app.algorithms import ALGORITHMS as CHOICES
    from app.algorithms import offline
    from core.cli import build_parser
    from core.memory_plan import ALGORITHMS as PLANNED
    from core.memory_plan import PlanRequest, rows_per_pass
    from core.runs.export import EXPORTABLE_KINDS

    commands = build_parser()._subparsers._group_actions[0].choices
    assert set(ALGORITHMS) <= set(commands)
    assert tuple(ALGORITHMS) == PLANNED and list(CHOICES) == list(ALGORITHMS)
    assert EXPORTABLE_KINDS == ("ppo", "grpo", "rloo")
    assert set(offline()) == {"dpo", "kto", "sft", "simpo", "orpo"}
    pair_kinds = [kind for kind, spec in ALGORITHMS.items() if spec.data == "pairs"]
    for kind in pair_kinds:  # chosen and rejected through one pass
        assert rows_per_pass(PlanRequest(algorithm=kind, mini_batch_size=4)) == 8
    assert rows_per_pass(PlanRequest(algorithm="kto", mini_batch_size=4)) == 4


def test_reference_free_dashboards_have_no_drift_plot_and_orpo_shows_its_terms():
    from app.algorithms import ALGORITHMS as CHOICES

    def names(kind):
        return [plot.name for plot in CHOICES[kind].plots]

    assert "driftPlot" in names("dpo") and "driftPlot" not in names("simpo")
    assert "lossTermsPlot" in names("orpo") and "lossTermsPlot" not in names("dpo")
    assert "preferenceAccuracyPlot" in names("simpo")


def test_metric_keys_are_documented():
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`([a-z_/]+)`", text))
    for spec in ALGORITHMS.values():
        missing = set(spec.metric_keys) - documented
        assert not missing, (spec.kind, missing)


def _names_written_in(source: Path) -> set[str]:
    """The string constants of a source file, less the names of GRPO's loss aggregations
    (`LOSS_TYPES`: TRL's names, one of them "grpo", a loss's name and not the kind's)."""
    tree = ast.parse(source.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "LOSS_TYPES" for t in targets):
                skipped |= {id(n) for n in ast.walk(node)}
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in skipped
    }


def test_each_kind_is_named_in_at_most_three_product_files():
    """A kind's name as a string literal: the registry, its trainer and at most one more
    (app/algorithms.py's visuals, or the export format that KTO reads)."""
    sources = [*ROOT.glob("core/**/*.py"), *ROOT.glob("app/**/*.py")]
    # The screenshot tours drive the window as a person would, picking kinds by name like
    # the tests and the docs do: users of the registry, not declarations of an algorithm.
    sources = [p for p in sources if not p.name.startswith("screenshot_")]
    written = {source: _names_written_in(source) for source in sources}
    for kind in ALGORITHMS:
        files = sorted(str(p.relative_to(ROOT)) for p, names in written.items() if kind in names)
        assert len(files) <= 3, (kind, files)
        assert "core/algorithms.py" in files, kind


# ----------------------------------------------------------------- data selection


def _store_with_a_tie(workspace: Path) -> None:
    with Store.open(workspace) as store:
        prompt_ids = store.add_prompts(["Review 0:", "Review 1:", "Review 2:"])
        for i, prompt_id in enumerate(prompt_ids):
            good = store.add_generation(prompt_id, "I loved it.", "tiny")
            bad = store.add_generation(prompt_id, "Dull.", "tiny")
            store.add_comparison(prompt_id, good, bad, "tie" if i == 2 else "left", "ann")
            store.add_rating(good, 1.0, "ann")


def _checkpoint(folder: Path, kind: str, config) -> Path:
    from core.config.io import save_json

    folder.mkdir(parents=True)
    (folder / "meta.json").write_text(json.dumps({"algorithm": kind}), encoding="utf-8")
    save_json(config, folder / f"{kind}_config.json")
    return folder


def test_dataset_for_each_data_kind(workspace, tmp_path):
    _store_with_a_tie(workspace)
    demos = tmp_path / "demos.jsonl"
    demos.write_text('{"prompt": "Hi", "response": "Hello."}\n', encoding="utf-8")
    with Store.open(workspace) as store:
        for kind in ("dpo", "simpo", "orpo"):
            pairs, report = dataset_for(kind, store, DataChoice(), DPOConfig())
            assert len(pairs) == 2 and report.skipped == {"ties": 1}
            assert noun_of(kind) == "pairs"
        soft, _ = dataset_for("dpo", store, DataChoice(), DPOConfig(ties="soft"))
        assert len(soft) == 3
        answers, _ = dataset_for("kto", store, DataChoice(with_pairs=False))
        assert len(answers) == 3 and noun_of("kto") == "answers"
        from_file, _ = dataset_for("sft", store, DataChoice(data_file=demos))
        assert [e.response for e in from_file] == ["Hello."]
        chosen, _ = dataset_for("sft", store, DataChoice(source="human"))
        assert len(chosen) == 2


def test_resume_reads_ties_from_the_checkpoint_in_cli_and_gui(workspace, tmp_path):
    """The form (or the flags) may say skip: the run was trained with soft ties, and its
    data fingerprint needs the same pairs."""
    from app.jobs.offline import OfflineRequest, load_offline_data

    _store_with_a_tie(workspace)
    folder = _checkpoint(tmp_path / "step-2", "simpo", SimPOConfig(ties="soft"))
    with Store.open(workspace) as store:
        pairs, _ = dataset_for("simpo", store, DataChoice(), SimPOConfig(), folder)
        assert len(pairs) == 3
        request = OfflineRequest(workspace, "simpo", SimPOConfig(ties="skip"), resume_from=folder)
        gui_pairs, _ = load_offline_data(store, request)
        assert gui_pairs == pairs
        with pytest.raises(StudioError, match="is a simpo checkpoint"):
            dataset_for("dpo", store, DataChoice(), None, folder)


def test_a_checkpoint_from_before_meta_named_its_algorithm_resumes_as_ppo_only(workspace):
    from core.train.launch import check_checkpoint_algorithm

    step = workspace / "step-2"
    step.mkdir(parents=True)
    (step / "meta.json").write_text("{}", encoding="utf-8")
    check_checkpoint_algorithm(step, spec_of("ppo").algorithm())  # PPO's: accepted
    with pytest.raises(StudioError, match="before checkpoints named their algorithm.*ppo --resume"):
        check_checkpoint_algorithm(step, spec_of("grpo").algorithm())


def test_a_spec_checks_a_checkpoint_written_before_checkpoints_named_their_algorithm(tmp_path):
    """Resume through a spec (the data selection does) of a checkpoint whose meta names no
    algorithm: PPO's, which PPO resumes and every other algorithm refuses in one line."""
    from core.train.checkpoints import META_FILE
    from core.train.launch import check_checkpoint_algorithm

    (tmp_path / META_FILE).write_text(json.dumps({"step": 3}), encoding="utf-8")
    assert spec_of("ppo").reads_unnamed_checkpoints
    assert not spec_of("dpo").reads_unnamed_checkpoints
    check_checkpoint_algorithm(tmp_path, spec_of("ppo"))
    with pytest.raises(StudioError, match="ppo --resume"):
        check_checkpoint_algorithm(tmp_path, spec_of("dpo"))
