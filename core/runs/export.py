"""Export a run as a self-contained folder that trains it again on a cluster.

`export_run` writes, for one on-policy run of the workspace (PPO, GRPO, RLOO):

    export.json             what was exported: run, workspace, kind, model, when
    config.yaml             the run's trainer settings (core.config.io reads it as --config)
    prompts.jsonl           the run's prompts, with their reference answers
    rewards.txt             its reward specs, one per line; files they name are copied
    rewards/                ... here (py= scorers, rm= reward-model folders), named
                            relative to the folder
    rubrics/                the rubric texts that shaped the run, as <rubric id>.txt:
                            judge= rubric files, and the rubrics of the AI raters whose
                            labels trained its reward models (core.runs.bundle_rubrics)
    adapter/                the adapter the run started from, if it started from one
    accelerate/ddp.yaml     accelerate configs: multi-GPU DDP, and FSDP full-shard for
    accelerate/fsdp.yaml    bases that do not fit one GPU
    launch.sh               runs the same trainer under `accelerate launch` here
    slurm.sbatch            a SLURM batch script: one launch.sh per node

The trainer writes into `workspace/` inside the folder (or $WORKSPACE); `import-run`
(core.runs.import_run) brings its runs back. The scripts' text is core.runs.export_files.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from core import __version__
from core.algorithms import exportable_kinds
from core.atomic import folder_written_atomically
from core.data.run_prompts import read_run_prompts
from core.errors import StudioError
from core.rewards.judge_templates import RUBRICS_FOLDER, RubricTemplate
from core.runs.bundle_rubrics import (
    checked_raters,
    judge_rubric_file,
    raters_behind,
    read_rubric_file,
    workspace_rubrics,
    write_rubrics,
)
from core.runs.export_files import (
    ACCELERATE_DIR,
    DDP_CONFIG,
    DDP_HEADER,
    FSDP_CONFIG,
    FSDP_HEADER,
    LAUNCH_SCRIPT,
    SLURM_SCRIPT,
    accelerate_ddp_config,
    accelerate_fsdp_config,
    launch_script,
    slurm_script,
)
from core.store import Store
from core.store.rows import RunRow

MANIFEST_FILE = "export.json"
CONFIG_FILE = "config.yaml"
PROMPTS_FILE = "prompts.jsonl"
REWARDS_FILE = "rewards.txt"
REWARDS_DIR = "rewards"
ADAPTER_DIR = "adapter"
WORKSPACE_DIR = "workspace"
EXPORT_FORMAT = 1
EXPORTABLE_KINDS = exportable_kinds()
"""The registry's exportable kinds: runs trained on prompts. The trainers from stored
feedback train on the workspace's feedback, which an export does not carry (yet)."""


@dataclass
class RunExport:
    """What export_run wrote."""

    folder: Path
    run_id: int
    kind: str
    files: list[str] = field(default_factory=list)
    """The paths written, relative to the folder, sorted."""
    copied: list[str] = field(default_factory=list)
    """The reward files and folders copied in (as named inside the folder)."""
    notes: list[str] = field(default_factory=list)
    """What the export left out on purpose, one line each (the CLI prints them)."""


def export_run(
    store: Store,
    run_id: int,
    out: Path,
    force: bool = False,
    prompts_file: Path | None = None,
) -> RunExport:
    """Write run `run_id`'s export folder at `out` (see the module docstring).

    Refused in one line, before anything is written: an unknown run, a run that is not
    an on-policy one, a non-empty `out` (unless `force` and it is an earlier export with
    no cluster results in it), a reward spec naming a file that is missing, a run that
    recorded no prompts when no `prompts_file` is given.
    """
    out = Path(out)
    run = store.run(run_id)  # an unknown id: "no run with id N in workspace ..."
    kind = _exportable_kind(run)
    prompts = _run_prompts(store, run, prompts_file)
    rewards = _planned_rewards(run)
    raters, rubrics = _rubrics_behind(store, run, rewards)
    adapter = _start_adapter(run)
    _refuse_results_inside(out)
    notes: list[str] = []
    with folder_written_atomically(out, force, _is_earlier_export) as folder:
        model_flags = _model_flags(run, has_adapter=adapter is not None, notes=notes)
        _write_manifest(folder, store, run, kind, raters)
        _write_yaml(folder / CONFIG_FILE, run.config[kind])
        _write_prompts(folder / PROMPTS_FILE, prompts, _references(store))
        copied = _copy_rewards(folder, rewards)
        copied += write_rubrics(folder, rubrics)
        if adapter is not None:
            _copy_in(adapter, folder / ADAPTER_DIR, imported_folder(run))
        _write_launchers(folder, run, kind, model_flags)
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    return RunExport(out, run_id, kind, files, copied, notes)


def _exportable_kind(run: RunRow) -> str:
    kind = run.config.get("algorithm", run.kind)
    if kind not in EXPORTABLE_KINDS or not isinstance(run.config.get(kind), dict):
        raise StudioError(
            f"run {run.id} is a {run.kind} run; export-run exports runs trained on prompts "
            f"({', '.join(EXPORTABLE_KINDS)}), whose settings it can write out"
        )
    return kind


def _run_prompts(store: Store, run: RunRow, prompts_file: Path | None) -> list[str]:
    """The prompts the run trained on: those it recorded, else `prompts_file`'s."""
    if prompts_file is not None:
        from core.data.prompts_io import read_prompts

        return [record.text for record in read_prompts(Path(prompts_file))]
    recorded = read_run_prompts(store.workspace, run.id)
    if recorded is None:
        raise StudioError(
            f"run {run.id} did not record its prompts (it predates run export); pass "
            "--prompts FILE with the prompts it trained on"
        )
    return recorded


def _references(store: Store) -> dict[str, str]:
    return {row.text: row.reference for row in store.prompts() if row.reference}


# ----------------------------------------------------------------- reward specs


@dataclass(frozen=True)
class _PlannedReward:
    spec: str
    """The spec as the folder's rewards.txt writes it."""
    source: Path | None = None
    """A file or folder to copy into the folder..."""
    inside: str = ""
    """... as this path (relative to the folder), which `spec` names."""
    bundle: Path | None = None
    """The folder an imported run came from, whose files alone it may copy."""
    rubric: RubricTemplate | None = None
    """A judge= reward's rubric, written to rubrics/<id>.txt (which `spec` names)."""


def _planned_rewards(run: RunRow) -> list[_PlannedReward]:
    """The run's reward specs with the files they name checked and given a place inside
    the folder (rewards/<name>); a missing py= file is refused."""
    from core.rewards import parse_reward_spec
    from core.rewards.spec import format_reward_spec

    planned: list[_PlannedReward] = []
    taken: set[str] = set()
    bundle = imported_folder(run)
    base = bundle or Path.cwd()  # relative paths: the bundle's, else as when it trained
    for text in run.config.get("reward_specs") or ["sentiment"]:
        spec = parse_reward_spec(text)
        if spec.kind == "judge":
            planned.append(_planned_judge(run, text, spec, base, bundle))
            continue
        source = _reward_source(text, spec.kind, spec.arg, base)
        if source is None:
            planned.append(_PlannedReward(text))
            continue
        if bundle is not None:
            source = _inside_import(run, f"reward spec {text!r}", source, bundle)
        name = _free_name(source.name, taken)
        inside = f"{REWARDS_DIR}/{name}"
        moved = replace(spec, arg=inside)  # a watched reward stays watched
        planned.append(_PlannedReward(format_reward_spec(moved), source, inside, bundle))
    return planned


def _planned_judge(run: RunRow, text: str, spec, base: Path, bundle: Path | None) -> _PlannedReward:
    """A judge= reward: its rubric file (if it names one) goes to rubrics/<rubric id>.txt
    and the spec names that copy, which keeps the rubric's id (the judge's identity)."""
    from core.rewards.spec import format_reward_spec

    named = judge_rubric_file(spec.arg, base)
    if named is None:
        return _PlannedReward(text)
    model, path = named
    if bundle is not None:
        path = _inside_import(run, f"reward spec {text!r}", path, bundle)
    try:
        rubric = read_rubric_file(path, bundle)
    except StudioError as error:
        raise StudioError(f"reward spec {text!r}: {error}") from None
    inside = f"{RUBRICS_FOLDER}/{rubric.rubric_id}.txt"
    moved = replace(spec, arg=f"{model},{inside}")
    return _PlannedReward(format_reward_spec(moved), rubric=rubric)


def _rubrics_behind(
    store: Store, run: RunRow, rewards: list[_PlannedReward]
) -> tuple[list[str], list[RubricTemplate]]:
    """(the AI raters behind the run's reward models and rounds, every rubric to carry)."""
    if imported_folder(run) is not None:  # its reward models' labels are another store's
        raters = checked_raters((run.config.get("imported_from") or {}).get("raters"))
    else:
        folders = [r.source for r in rewards if r.source is not None and r.source.is_dir()]
        raters = raters_behind(store, run, folders)
    rubrics = {r.rubric.rubric_id: r.rubric for r in rewards if r.rubric is not None}
    for template in workspace_rubrics(store.workspace, raters):
        rubrics.setdefault(template.rubric_id, template)
    return raters, list(rubrics.values())


def imported_folder(run: RunRow) -> Path | None:
    """The folder an imported run came from (its `imported_from`, written by import-run,
    never by the bundle), None for a run trained here."""
    origin = run.config.get("imported_from")
    if isinstance(origin, dict) and origin.get("folder"):
        return Path(origin["folder"])
    return None


def _inside_import(run: RunRow, what: str, path: Path, bundle: Path) -> Path:
    """`path` if it lies inside the imported run's folder with no link on the way: a
    bundle never decides which local files an export ships."""
    from core.runs.bundle_files import BundleError, inside_bundle

    try:
        return inside_bundle(bundle, path)
    except BundleError:
        raise StudioError(
            f"run {run.id} was imported from {bundle}; its {what} names {path}, outside "
            "that folder or through a link: an imported run's export ships only files of "
            "its own folder (a bundle never chooses local files); export the run it was "
            "trained from instead"
        ) from None


def _reward_source(text: str, kind: str, arg: str | None, base: Path) -> Path | None:
    """The local file or folder a spec needs copied, None when it names none."""
    if arg is None:
        return None
    path = base / Path(arg).expanduser()  # an absolute arg stays as it is
    if kind == "py":
        if not path.is_file():
            raise StudioError(
                f"reward spec {text!r} names {path}, which is missing; put the file back "
                "and export again"
            )
        return path
    if kind == "rm" and path.is_dir():
        return path  # not a folder: a hub id, left as it is
    return None


def _free_name(name: str, taken: set[str]) -> str:
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        stem, dot, suffix = name.partition(".")
        candidate = f"{stem}-{number}{dot}{suffix}"
    taken.add(candidate)
    return candidate


def _copy_rewards(folder: Path, rewards: list[_PlannedReward]) -> list[str]:
    """rewards.txt, and each reward's file or folder under rewards/."""
    copied = []
    for reward in rewards:
        if reward.source is None:
            continue
        target = folder / reward.inside
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy_in(reward.source, target, reward.bundle)
        copied.append(str(target.relative_to(folder)))
    text = "".join(reward.spec + "\n" for reward in rewards)
    (folder / REWARDS_FILE).write_text(text, encoding="utf-8")
    return copied


def _copy_in(source: Path, target: Path, bundle: Path | None) -> None:
    """Copy a file or folder into the export; from an imported run's folder, as bundle
    data (core.runs.bundle_files: no link followed, nothing but regular files)."""
    from core.runs.bundle_files import copy_bundle_file, copy_bundle_tree

    if bundle is not None:
        copier = copy_bundle_tree if source.is_dir() else copy_bundle_file
        copier(bundle, source, target)
    elif source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)


# ------------------------------------------------------------------ the model


def _start_adapter(run: RunRow) -> Path | None:
    """The adapter folder the run started from (copied in), None for a fresh adapter."""
    path = (run.config.get("model_spec") or {}).get("adapter_path")
    if not path:
        return None
    bundle = imported_folder(run)
    folder = Path(path) if bundle is None else bundle / Path(path)
    if not folder.is_dir():
        raise StudioError(
            f"run {run.id} started from the adapter {folder}, which is missing; put it back "
            "and export again"
        )
    if bundle is not None:
        _inside_import(run, f"starting adapter {path!r}", folder, bundle)
    return folder


def _model_flags(run: RunRow, has_adapter: bool, notes: list[str]) -> list[str]:
    """The trainer's model flags but --model (launch.sh's $MODEL): dtype, prompt format,
    LoRA shape, remote code (never from an imported run's config: said in `notes`), the
    starting adapter."""
    spec = run.config.get("model_spec") or {}
    flags = ["--dtype", str(spec.get("dtype", "auto"))]
    flags += ["--prompt-format", str(spec.get("prompt_format", "plain"))]
    lora = spec.get("lora") or {}
    for key in ("r", "alpha"):
        if key in lora:
            flags += [f"--lora-{key}", str(lora[key])]
    if lora.get("target_modules"):
        flags += ["--lora-targets", ",".join(lora["target_modules"])]
    if spec.get("trust_remote_code") and imported_folder(run) is not None:
        notes.append(
            f"run {run.id} was imported and its config asks for --trust-remote-code; "
            "left out of launch.sh (a bundle never turns it on): if you trust the model's "
            "code, run ./launch.sh --trust-remote-code"
        )
    elif spec.get("trust_remote_code"):
        flags.append("--trust-remote-code")
    if has_adapter:
        flags += ["--adapter", ADAPTER_DIR]
    return flags


def model_of(run: RunRow) -> str:
    """The base model a run trained: 'demo', a folder or a hub id."""
    spec = run.config.get("model_spec") or {}
    return str(spec.get("name_or_path") or run.config.get("model") or "demo")


# ---------------------------------------------------------------------- files


def _refuse_results_inside(out: Path) -> None:
    """--force replaces an earlier export, never the cluster results written into it."""
    store_file = out / WORKSPACE_DIR / "studio.db"
    if store_file.exists():
        raise StudioError(
            f"{out} holds a trained workspace ({store_file}); bring it back with "
            f"`import-run {out}` or move it, or choose another --out"
        )


def _is_earlier_export(folder: Path) -> bool:
    return (folder / MANIFEST_FILE).is_file()


def _write_manifest(folder: Path, store: Store, run: RunRow, kind: str, raters: list[str]) -> None:
    manifest = {
        "format": EXPORT_FORMAT,
        "run_id": run.id,
        "run_name": run.name,
        "kind": kind,
        "workspace_id": store.workspace_id,
        "workspace": str(store.workspace),
        "model": model_of(run),
        "exported": datetime.now(UTC).isoformat(timespec="seconds"),
        "app_version": __version__,
        "raters": raters,
    }
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """An export folder's export.json, or None where there is none (or it is unreadable)."""
    try:
        data = json.loads((Path(folder) / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _write_yaml(path: Path, data: dict[str, Any], header: str = "") -> None:
    path.write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _write_prompts(path: Path, prompts: list[str], references: dict[str, str]) -> None:
    lines = []
    for prompt in prompts:
        row = {"prompt": prompt}
        if prompt in references:
            row["reference"] = references[prompt]
        lines.append(json.dumps(row) + "\n")
    path.write_text("".join(lines), encoding="utf-8")


def _write_launchers(folder: Path, run: RunRow, kind: str, model_flags: list[str]) -> None:
    accelerate = folder / ACCELERATE_DIR
    accelerate.mkdir()
    _write_yaml(accelerate / DDP_CONFIG, accelerate_ddp_config(), DDP_HEADER)
    _write_yaml(accelerate / FSDP_CONFIG, accelerate_fsdp_config(), FSDP_HEADER)
    launch = folder / LAUNCH_SCRIPT
    launch.write_text(launch_script(run.id, run.name, kind, model_of(run), model_flags))
    slurm = folder / SLURM_SCRIPT
    slurm.write_text(slurm_script(run.id, kind))
    for script in (launch, slurm):
        script.chmod(0o755)
