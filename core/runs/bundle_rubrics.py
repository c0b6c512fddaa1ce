"""Rubrics travel with a run bundle, so an imported run keeps its judge+rubric identity.

The rubric is part of the judge (`ai:<model>#<rubric id>`), and its text lives in the
workspace (`<workspace>/rubrics/<rubric id>.txt`, core.rewards.judge_templates). A run
bundle (core.runs.export) of a run that a rubric shaped carries that text as
`rubrics/<rubric id>.txt`:

- a `judge=MODEL,FILE` reward's rubric file (the spec is rewritten to the bundle's copy,
  which keeps the rubric id);
- the rubrics of the AI raters whose labels trained the run's reward models, or that
  labelled its RLAIF rounds (listed in export.json's `raters`).

`import-run` (core.runs.import_run) brings them into the local workspace's rubrics/. They are
data from elsewhere: read without following a link, only regular files, at most
MAX_RUBRIC_BYTES of UTF-8 text without control characters, and only under the id that
their text has (core.rewards.judge_templates.saved_rubric). All are checked before any is
written.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import InputFileError
from core.rewards.judge_templates import (
    POINTWISE,
    PRESETS,
    RUBRICS_FOLDER,
    RubricTemplate,
    read_template,
    save_rubric,
    saved_rubric,
)
from core.runs.bundle_files import BundleError, check_bundle_file, inside_bundle

if TYPE_CHECKING:
    from core.store import Store
    from core.store.rows import RunRow

MAX_RUBRIC_BYTES = 64 * 1024
"""The largest rubric file a bundle may bring (the shipped ones are a few hundred bytes)."""
_RATER = re.compile(r"^ai:[^#\n]{1,200}#[A-Za-z0-9_-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)


# ------------------------------------------------------------------ export side


def split_judge_arg(arg: str | None, base: Path | None = None) -> tuple[str, str | None]:
    """(MODEL, RUBRIC) of a `judge=MODEL,RUBRIC` argument, as core.rewards.judge reads it:
    RUBRIC only when the part after the last comma is a preset or an existing file
    (relative paths against `base`, default the current folder)."""
    model = (arg or "").strip()
    head, comma, tail = model.rpartition(",")
    tail = tail.strip()
    path = (base or Path.cwd()) / Path(tail).expanduser()  # an absolute tail stays itself
    if comma and (tail in PRESETS or path.is_file()):
        return head.strip(), tail
    return model, None


def judge_rubric_file(arg: str | None, base: Path) -> tuple[str, Path] | None:
    """(MODEL, the rubric file) of a judge argument that names a rubric file (relative
    paths against `base`), None for a preset or no rubric."""
    model, rubric = split_judge_arg(arg, base)
    if rubric is None or rubric in PRESETS:
        return None
    return model, base / Path(rubric).expanduser()


def read_rubric_file(path: Path, bundle: Path | None = None) -> RubricTemplate:
    """A judge reward's pointwise rubric file: from a bundle, read as bundle data."""
    if bundle is not None:
        return read_bundle_rubric(bundle, path, kind=POINTWISE)
    return read_template(path, POINTWISE)


def raters_behind(store: Store, run: RunRow, reward_folders: Iterable[Path]) -> list[str]:
    """The AI raters whose labels shaped the run: those that trained its reward models
    (rm_meta.json's comparison ids) and those that labelled its RLAIF rounds."""
    from core.reward_model.folder import read_meta
    from core.rlaif.loop import rounds_of

    wanted: set[int] = set()
    for folder in reward_folders:
        meta = read_meta(folder)
        if not isinstance(meta, dict):
            continue  # not a reward model of ours: no labels to name
        for key in ("train_comparison_ids", "eval_comparison_ids"):
            wanted.update(int(i) for i in meta.get(key) or [] if isinstance(i, int))
    raters = {row.rater for row in store.comparisons("ai") if row.id in wanted}
    raters.update(record.labelled_by for record in rounds_of(store, run.id))
    return sorted(rater for rater in raters if _RATER.match(rater))


def workspace_rubrics(workspace: Path, raters: Iterable[str]) -> list[RubricTemplate]:
    """The texts the workspace kept for these raters' rubrics (those it has)."""
    from core.judge.rubrics import rubric_of_rater

    found = {}
    for rater in raters:
        rubric_id = rubric_of_rater(rater)
        path = Path(workspace) / RUBRICS_FOLDER / f"{rubric_id}.txt"
        if rubric_id and path.is_file() and not path.is_symlink():
            found[rubric_id] = read_bundle_rubric(Path(workspace), path)
    return list(found.values())


def write_rubrics(folder: Path, templates: Iterable[RubricTemplate]) -> list[str]:
    """Each rubric as `rubrics/<id>.txt` in an export folder; the paths written."""
    return [str(save_rubric(folder, t).relative_to(folder)) for t in templates]


# ------------------------------------------------------------------ import side


def read_bundle_rubric(root: Path, path: Path, kind: str | None = None) -> RubricTemplate:
    """A rubric file of a bundle, read as data: no link, a regular file of at most
    MAX_RUBRIC_BYTES, UTF-8 text without control characters, a template; a file named
    `<id>.txt` under a rubrics/ folder must hold the text of that id."""
    check_bundle_file(root, path)
    try:
        fd = os.open(path, os.O_RDONLY | _NO_FOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise BundleError(f"rubric {path} cannot be opened ({error.strerror})") from error
    with os.fdopen(fd, "rb") as reader:
        info = os.fstat(reader.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise BundleError(f"rubric {path} is not a regular file; a bundle holds plain files")
        data = reader.read(MAX_RUBRIC_BYTES + 1)
    if len(data) > MAX_RUBRIC_BYTES:
        raise BundleError(
            f"rubric {path} is larger than {MAX_RUBRIC_BYTES // 1024} KiB; a rubric is a short "
            "text: shorten it, or remove it from the bundle"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BundleError(f"rubric {path} is not UTF-8 text; save it as plain text") from None
    if _CONTROL.search(text):
        raise BundleError(f"rubric {path} holds control characters; a rubric is plain text")
    try:
        if path.parent.name == RUBRICS_FOLDER:
            template = saved_rubric(path.name, text)
        else:
            from core.rewards.judge_templates import parse_template

            template = parse_template(text, source=str(path), kind=kind)
    except InputFileError as error:
        raise BundleError(str(error)) from None
    if kind is not None and template.kind != kind:
        raise BundleError(f"rubric {path} is a {template.kind} template; a {kind} one is needed")
    return template


def bundle_rubrics(root: Path, folders: Iterable[Path]) -> list[RubricTemplate]:
    """Every rubric the bundle `root` carries in `folders` (its rubrics/ and its trained
    workspace's), checked; BundleError on the first that is not plain rubric data."""
    found: dict[str, RubricTemplate] = {}
    for folder in folders:
        inside_bundle(root, folder)
        if folder.is_symlink():
            raise BundleError(
                f"{folder} in {root} is a symbolic link; a bundle holds plain folders"
            )
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.is_dir() and not path.is_symlink():
                raise BundleError(
                    f"{path} is a folder; a bundle's rubrics/ holds rubric files only"
                )
            found.setdefault(path.name, read_bundle_rubric(root, path))
    return list(found.values())


def import_rubrics(workspace: Path, templates: Iterable[RubricTemplate]) -> list[str]:
    """Keep each rubric's text in the local workspace (once per id); the ids added."""
    added = []
    for template in templates:
        path = Path(workspace) / RUBRICS_FOLDER / f"{template.rubric_id}.txt"
        if not path.exists():
            save_rubric(workspace, template)
            added.append(template.rubric_id)
    return added


def checked_raters(value: object) -> list[str]:
    """A manifest's `raters`, kept only where each is an AI rater name (data, not trusted)."""
    if not isinstance(value, list):
        return []
    return [rater for rater in value if isinstance(rater, str) and _RATER.match(rater)]
