"""`export-run RUN --out DIR` and `import-run DIR`: a run to a cluster and back.

export-run writes a self-contained folder (core.runs.export) whose launch.sh trains the
run again under `accelerate launch` and whose slurm.sbatch does so over several nodes;
import-run brings the runs trained there back (core.runs.import_run), to overlay their
curves on the local ones."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.cli import add_workspace_argument, workspace_of
from core.store import Store


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the export-run and import-run subcommands."""
    export = subparsers.add_parser(
        "export-run",
        help="write a run as a folder that trains it on a cluster (accelerate, SLURM)",
        description="Write run RUN as a self-contained folder: config.yaml, prompts.jsonl, "
        "rewards.txt (with the reward files it names, copied under rewards/), accelerate "
        "configs for DDP and FSDP, launch.sh (runs the trainer with accelerate on the "
        "machine it is on; NUM_PROCESSES, NUM_MACHINES, MACHINE_RANK, MAIN_PROCESS_IP, "
        "WORKSPACE from the environment) and slurm.sbatch. Bring the results back with "
        "import-run. See docs/scaling.md.",
    )
    export.add_argument("run", type=int, metavar="RUN", help="the run's id (Runs page, ID)")
    export.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder to write")
    export.add_argument(
        "--force",
        action="store_true",
        help="replace DIR if it is an earlier export (never one holding trained results)",
    )
    export.add_argument(
        "--prompts",
        type=Path,
        default=None,
        help="the prompts file to ship (default: the prompts the run recorded; needed for "
        "runs older than export-run)",
    )
    add_workspace_argument(export)
    export.set_defaults(func=run_export)

    bring_back = subparsers.add_parser(
        "import-run",
        help="bring back the runs trained from an export folder (metrics, checkpoints)",
        description="Import the runs of DIR's workspace (DIR/workspace, as launch.sh writes "
        "it, or DIR itself when it is a workspace) as runs of this workspace, marked "
        "imported with their origin: metrics, samples and checkpoints. Importing the "
        "same folder again updates them.",
    )
    bring_back.add_argument("folder", type=Path, metavar="DIR", help="the export folder")
    add_workspace_argument(bring_back)
    bring_back.set_defaults(func=run_import)


def run_export(args: argparse.Namespace) -> int:
    from core.runs.export import export_run

    with Store.open_for_reading(workspace_of(args)) as store:
        report = export_run(store, args.run, args.out, force=args.force, prompts_file=args.prompts)
    for name in report.copied:
        print(f"copied {name}")
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"wrote run {report.run_id} ({report.kind}) to {report.folder}: {len(report.files)} files"
    )
    print(
        f"train it: {report.folder / 'launch.sh'}   (or: cd {report.folder} && sbatch slurm.sbatch)"
    )
    return 0


def run_import(args: argparse.Namespace) -> int:
    from core.runs.import_run import import_run

    with Store.open(workspace_of(args)) as store:
        report = import_run(store, args.folder)
        for run in report.runs:
            verb = "updated" if run.updated else "imported"
            name = store.run(run.run_id).name
            print(
                f"{verb} run {run.run_id} ({name}): {run.steps} steps, "
                f"{run.checkpoints} checkpoints from {report.source_workspace}"
            )
    return 0
