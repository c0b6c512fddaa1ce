"""Bring runs trained from an export folder (core.runs.export) back into a workspace.

`import_run` reads the workspace the folder's launch.sh wrote (`<folder>/workspace/`,
or a workspace folder named directly) without changing it, and makes each of its runs a
run of the local workspace: its config marked `imported_from` (the folder, the cluster
workspace and run, the exported run), its metrics and samples, and its checkpoints
copied under the local `checkpoints/run-<id>/`. The Runs page then lists it and
overlays its curves on the local runs'. Importing the same folder again updates the
runs it imported before (a cluster run that went on since) instead of adding copies.
The rubrics the bundle carries (its rubrics/ and its trained workspace's) join the local
workspace's rubrics/, so its judges keep their judge+rubric identity (core.runs.bundle_rubrics).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import StudioError
from core.paths import run_checkpoint_dir, run_prompts_file
from core.rewards.judge_templates import PRESETS, RUBRICS_FOLDER
from core.runs.bundle_files import (
    check_bundle_file,
    check_bundle_tree,
    copy_bundle_file,
    copy_bundle_tree,
)
from core.runs.bundle_rubrics import bundle_rubrics, checked_raters, import_rubrics
from core.runs.export import MANIFEST_FILE, REWARDS_DIR, WORKSPACE_DIR, read_manifest
from core.store import Store
from core.store.rows import ACTIVE_RUN_STATUSES, RunRow
from core.store.store import STORE_FILENAME

IMPORTED_KEY = "imported_from"
"""The run config key that marks an imported run and says where it came from."""


@dataclass
class ImportedRun:
    """One run brought back."""

    run_id: int
    """Its id in the local workspace."""
    source_run_id: int
    steps: int
    checkpoints: int
    updated: bool
    """True when it replaced an earlier import of the same run."""


@dataclass
class RunImport:
    """What import_run brought back from one folder."""

    folder: Path
    source_workspace: Path
    runs: list[ImportedRun] = field(default_factory=list)
    rubrics: list[str] = field(default_factory=list)
    """The rubric ids whose text this import added to the workspace's rubrics/."""


def trained_workspace_of(folder: Path) -> Path:
    """The workspace a folder holds: the folder itself, or its workspace/ (launch.sh's).
    A store reached through a symbolic link is refused: it would be another one's."""
    folder = Path(folder)
    for candidate in (folder, folder / WORKSPACE_DIR):
        store_file = candidate / STORE_FILENAME
        if store_file.is_file() or store_file.is_symlink():
            for part in (store_file, Path(f"{store_file}-wal"), Path(f"{store_file}-shm")):
                check_bundle_file(folder, part)
            return candidate
    if not folder.is_dir():
        raise StudioError(f"{folder} is not a folder; name an exported run's folder")
    raise StudioError(
        f"no trained workspace in {folder}: expected {folder / WORKSPACE_DIR / STORE_FILENAME} "
        "(launch.sh writes it); run launch.sh there first, or name the folder its WORKSPACE was"
    )


def import_run(store: Store, folder: Path) -> RunImport:
    """Import every run of the workspace in `folder` into `store` (see the module doc)."""
    folder = Path(folder)
    source_workspace = trained_workspace_of(folder)
    if source_workspace.resolve() == Path(store.workspace).resolve():
        raise StudioError(f"{folder} is this workspace itself; import another workspace's runs")
    manifest = _manifest(folder, source_workspace)
    report = RunImport(folder, source_workspace)
    with Store.open(source_workspace, read_only=True) as source:
        if not source.runs():
            raise StudioError(f"the workspace {source_workspace} holds no runs; train first")
        for run in source.runs():  # every file checked before the first run is written
            _check_run_files(folder, source, run.id)
        rubric_folders = {folder / RUBRICS_FOLDER, source_workspace / RUBRICS_FOLDER}
        rubrics = bundle_rubrics(folder, sorted(rubric_folders))
        for run in source.runs():
            origin = _origin(folder, source, run, manifest, store.workspace_id)
            report.runs.append(_import_one(store, source, run, origin, manifest))
    report.rubrics = import_rubrics(store.workspace, rubrics)
    return report


def _manifest(folder: Path, source_workspace: Path) -> dict[str, Any]:
    """The export.json beside the trained workspace (none where it is a link)."""
    for candidate in (folder, source_workspace.parent):
        manifest_file = candidate / MANIFEST_FILE
        if manifest_file.is_relative_to(folder):
            check_bundle_file(folder, manifest_file)
        manifest = read_manifest(candidate)
        if manifest:
            return manifest
    return {}


def _check_run_files(folder: Path, source: Store, run_id: int) -> None:
    """Refuse the import before anything is written when a file it would copy is a link,
    not a regular file, or a checkpoint name that is not a plain folder name."""
    check_bundle_tree(folder, run_checkpoint_dir(source.workspace, run_id))
    check_bundle_file(folder, run_prompts_file(source.workspace, run_id))
    for checkpoint in source.checkpoints(run_id):
        name = Path(checkpoint.path).name
        if name in ("", ".", ".."):
            raise StudioError(
                f"run {run_id} of {source.workspace} records a checkpoint {checkpoint.path!r} "
                "that is no folder name; the bundle is damaged, import another"
            )


def _origin(
    folder: Path, source: Store, run: RunRow, manifest: dict[str, Any], local_id: str
) -> dict[str, Any]:
    origin: dict[str, Any] = {
        "folder": str(folder.resolve()),
        "workspace_id": source.workspace_id,
        "run_id": run.id,
        "imported": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if manifest.get("workspace_id") == local_id:
        origin["exported_run_id"] = manifest.get("run_id")  # the local run it trains again
    raters = checked_raters(manifest.get("raters"))
    if raters:
        origin["raters"] = raters  # the AI raters (judge#rubric) behind its reward models
    return origin


def _import_one(
    store: Store, source: Store, run: RunRow, origin: dict[str, Any], manifest: dict[str, Any]
) -> ImportedRun:
    config = {**bundle_reward_paths(run.config, Path(origin["folder"])), IMPORTED_KEY: origin}
    earlier = _earlier_import(store, origin)
    if earlier is None:
        base = manifest.get("run_name") if manifest.get("run_id") else None
        run_id = store.create_run(run.kind, config, f"{base or run.name} (imported)")
    else:
        run_id = earlier
        store.update_run_config(run_id, config)
        store.delete_metrics_after(run_id, -1)  # replaced whole by the run as it is now
    steps = _copy_records(store, source, run.id, run_id)
    _copy_prompts(source.workspace, run.id, store.workspace, run_id)
    checkpoints = _copy_checkpoints(store, source, run.id, run_id)
    status, error = run.status, run.error
    if status in ACTIVE_RUN_STATUSES:
        status = "interrupted"
        error = "still training where it ran when imported; import it again for the rest"
    store.set_run_status(run_id, status, error)  # a final status: no lock kept
    return ImportedRun(run_id, run.id, steps, checkpoints, earlier is not None)


def _earlier_import(store: Store, origin: dict[str, Any]) -> int | None:
    for run in store.runs():
        mark = run.config.get(IMPORTED_KEY)
        if (
            isinstance(mark, dict)
            and mark.get("workspace_id") == origin["workspace_id"]
            and mark.get("run_id") == origin["run_id"]
        ):
            return run.id
    return None


def _copy_records(store: Store, source: Store, source_id: int, run_id: int) -> int:
    """The run's metrics and samples; returns the number of steps."""
    metrics = source.metrics(source_id)
    for row in metrics:
        store.add_metrics(run_id, int(row["step"]), {k: v for k, v in row.items() if k != "step"})
    by_step: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for sample in source.samples(source_id, split=None):
        by_step[(sample["step"], sample["split"])].append(sample)
    for (step, split), samples in sorted(by_step.items()):
        store.add_samples(run_id, step, samples, split=split)
    return len(metrics)


def _copy_checkpoints(store: Store, source: Store, source_id: int, run_id: int) -> int:
    """Copy the run's folder (checkpoints, tracker logs) into this workspace and
    record its checkpoints there; returns how many."""
    source_folder = run_checkpoint_dir(source.workspace, source_id)
    target = run_checkpoint_dir(store.workspace, run_id)
    if source_folder.is_dir():
        try:
            copy_bundle_tree(Path(source.workspace), source_folder, target)
        except OSError as error:
            raise StudioError(
                f"cannot copy the checkpoints of {source_folder} to {target}: {error}; free "
                "some space or check the workspace is writable, then import again"
            ) from error
    count = 0
    for checkpoint in source.checkpoints(source_id):
        copied = target / Path(checkpoint.path).name
        if copied.is_dir():
            store.add_checkpoint(run_id, checkpoint.step, str(copied))
            count += 1
    return count


def _copy_prompts(source: Path, source_id: int, workspace: Path, run_id: int) -> None:
    """The prompts the run recorded, so the imported run can be exported again."""
    recorded = run_prompts_file(source, source_id)
    if recorded.is_file():
        copy_bundle_file(source, recorded, run_prompts_file(workspace, run_id))


# --------------------------------------------------------------- reward files


def bundle_reward_paths(config: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The run's config with the files its reward specs name made paths inside the
    bundle `folder`: a relative path is the bundle's (launch.sh runs in the folder); an
    absolute one (the cluster's, recorded at the run's start) is the bundle's own
    rewards/<name> when the bundle has that file. Any other path is left as it is, and
    an export of the imported run refuses it (core.runs.export): the bundle never decides
    which local files are read."""
    from core.train.reward_history import HISTORY_KEY

    config = dict(config)
    if isinstance(config.get("reward_specs"), list):
        config["reward_specs"] = [_in_bundle(spec, folder) for spec in config["reward_specs"]]
    history = config.get(HISTORY_KEY)
    if isinstance(history, list):
        config[HISTORY_KEY] = [
            {**change, "reward_specs": [_in_bundle(s, folder) for s in change["reward_specs"]]}
            if isinstance(change, dict) and isinstance(change.get("reward_specs"), list)
            else change
            for change in history
        ]
    return config


def _in_bundle(text: Any, folder: Path) -> Any:
    from core.rewards.spec import format_reward_spec, parse_reward_spec, replace_path_arg

    if not isinstance(text, str):
        return text
    try:
        spec = parse_reward_spec(text)
    except StudioError:
        return text  # not a spec this app knows: left for the trainer to refuse
    if spec.kind == "judge":
        return _judge_in_bundle(text, spec, folder)
    if spec.kind not in ("py", "rm") or spec.arg is None:
        return text
    path = Path(spec.arg)
    if not path.is_absolute():
        local = folder / path
    elif path.parent.name == REWARDS_DIR:
        local = folder / REWARDS_DIR / path.name
    else:
        return text
    if spec.kind == "rm" and not local.is_dir():
        return text  # a hub id
    return format_reward_spec(replace_path_arg(spec, str(local)))


def _judge_in_bundle(text: str, spec: Any, folder: Path) -> str:
    """A judge= spec naming the bundle's rubrics/<id>.txt (launch.sh's relative path, or
    the cluster's absolute one), made to name that file inside the bundle."""
    from core.rewards.spec import format_reward_spec, replace_path_arg

    model, comma, rubric = (spec.arg or "").rpartition(",")
    path = Path(rubric.strip())
    if not comma or rubric.strip() in PRESETS:
        return text
    in_rubrics = (
        path.parent.name == RUBRICS_FOLDER
        if path.is_absolute()
        else (path.parent == Path(RUBRICS_FOLDER))
    )
    inside = folder / RUBRICS_FOLDER / path.name
    if not in_rubrics or not inside.is_file():
        return text  # any other file is the machine's it trained on: never a local one
    return format_reward_spec(replace_path_arg(spec, f"{model.strip()},{inside}"))


def imported_origin(run: RunRow) -> dict[str, Any] | None:
    """Where an imported run came from (its `imported_from`), None for a run trained here."""
    mark = run.config.get(IMPORTED_KEY)
    return mark if isinstance(mark, dict) else None
