"""Judge rubric templates ("constitutions"): editable text files with placeholders.

A pairwise template holds `{prompt}`, `{response_a}` and `{response_b}`; a pointwise one
holds `{prompt}` and `{response}`. The kind is read from the placeholders, so one
`--rubric FILE` option takes either. Placeholders are filled in one pass over the template
only, so braces inside prompts or responses are never mistaken for placeholders.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputFileError
from core.judge.rubrics import PRESETS, preset_text
from resources import resource_path

PRESET_PREFIX = "preset:"
"""`source` of a built-in rubric preset ("preset:positivity")."""
PAIRWISE = "pairwise"
POINTWISE = "pointwise"

_ID_STEM = 24
"""Characters of a rubric file's name kept in its id, before the hash."""
_PLACEHOLDER = re.compile(r"\{(prompt|response_a|response_b|response)\}")
_REQUIRED: dict[str, tuple[str, ...]] = {
    PAIRWISE: ("{prompt}", "{response_a}", "{response_b}"),
    POINTWISE: ("{prompt}", "{response}"),
}


@dataclass(frozen=True)
class RubricTemplate:
    """One judge prompt template and where it came from."""

    kind: str
    """'pairwise' or 'pointwise' (from the placeholders it holds)."""
    text: str
    """The template with its placeholders."""
    source: str = "<text>"
    """The file it was read from, for messages."""

    @property
    def digest(self) -> str:
        """Short hash of the text: part of the judge cache key, so an edit re-judges."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:16]

    @property
    def rubric_id(self) -> str:
        """The rubric's short name in rater names (`ai:<judge>#<rubric id>`).

        A preset is named ("positivity"), the shipped template is "default", any other text
        is named by its file and hashed ("mine-3fa2c1"), so two texts never share an id. A
        file saved under its id (`<workspace>/rubrics/mine-3fa2c1.txt`, a bundle's copy)
        keeps that id.
        """
        if self.source.startswith(PRESET_PREFIX):
            name = self.source.removeprefix(PRESET_PREFIX)
            if name in PRESETS and preset_template(name, self.kind).digest == self.digest:
                return name  # an edited preset falls through to a hashed id
        if self.digest == _shipped_digest(self.kind):
            return "default"
        stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(self.source).stem).strip("-")
        suffix = self.digest[:6]
        if stem.endswith(f"-{suffix}") and len(stem) <= _ID_STEM + 1 + len(suffix):
            return stem
        return f"{stem[:_ID_STEM] or 'rubric'}-{suffix}"

    def fill(self, **values: str) -> str:
        """The template with each placeholder replaced by its value."""
        return _PLACEHOLDER.sub(lambda match: values[match.group(1)], self.text)


def template_kind(text: str) -> str | None:
    """'pairwise', 'pointwise' or None when the text holds neither set of placeholders."""
    if all(p in text for p in _REQUIRED[PAIRWISE]):
        return PAIRWISE
    if all(p in text for p in _REQUIRED[POINTWISE]) and "{response_a}" not in text:
        return POINTWISE
    return None


def parse_template(text: str, source: str = "<text>", kind: str | None = None) -> RubricTemplate:
    """A template from its text; InputFileError when the placeholders do not fit `kind`."""
    found = template_kind(text)
    if found is None or (kind is not None and found != kind):
        wanted = kind or "pairwise or pointwise"
        needs = _REQUIRED[kind or PAIRWISE]
        raise InputFileError(
            f"Rubric {source} is not a {wanted} judge template: it must contain "
            f"{', '.join(needs)} (pointwise: {{prompt}} and {{response}}). "
            f"Start from resources/rubrics/default.txt or pointwise.txt."
        )
    # A trailing newline would make the judge predict after '\n'; the answer follows the cue.
    return RubricTemplate(kind=found, text=text.rstrip(), source=source)


def read_template(path: str | Path, kind: str | None = None) -> RubricTemplate:
    """Read a template file; InputFileError naming the file when it is missing or unfit."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputFileError(f"Cannot read rubric {path}: {error}. Check the path.") from error
    return parse_template(text, source=str(path), kind=kind)


def default_template(kind: str) -> RubricTemplate:
    """The shipped template of `kind` (resources/rubrics/default.txt or pointwise.txt)."""
    name = "default.txt" if kind == PAIRWISE else "pointwise.txt"
    return read_template(resource_path("rubrics", name), kind=kind)


def _shipped_digest(kind: str) -> str | None:
    """Digest of the shipped default template of `kind` (None if it cannot be read)."""
    try:
        return default_template(kind).digest
    except InputFileError:
        return None


def preset_template(name: str, kind: str = PAIRWISE) -> RubricTemplate:
    """The template of a rubric preset (core.judge.rubrics), pairwise or pointwise."""
    return parse_template(preset_text(name, kind), source=f"{PRESET_PREFIX}{name}", kind=kind)


def resolve_rubric(arg: str | Path | None, kind: str = PAIRWISE) -> RubricTemplate:
    """A `--rubric` value: a preset name, a template file, or None for the shipped default."""
    if arg is None:
        return default_template(kind)
    if str(arg) in PRESETS:
        return preset_template(str(arg), kind)
    path = Path(arg).expanduser()
    if not path.is_file() and not path.suffix:
        raise InputFileError(
            f"--rubric {arg}: neither a preset ({', '.join(PRESETS)}) nor a template file; "
            "name a preset or give the path of a template."
        )
    return read_template(path, kind)


RUBRICS_FOLDER = "rubrics"
"""`<workspace>/rubrics/<rubric id>.txt`: each rubric's text, stored once."""


def save_rubric(workspace: Path, template: RubricTemplate) -> Path:
    """Keep the text of the rubric a rater used, once per rubric id (ids are unique per text)."""
    path = Path(workspace) / RUBRICS_FOLDER / f"{template.rubric_id}.txt"
    if not path.is_file():
        from core.atomic import write_file_atomically

        text = template.text + "\n"
        write_file_atomically(path, lambda file: file.write(text), force=True)
    return path


def saved_rubric(name: str, text: str) -> RubricTemplate:
    """The rubric saved as `name` (`<rubric id>.txt`) with `text`, checked: the text must be
    the one that id names (a renamed or edited file would claim another judge's identity)."""
    rubric_id = name.removesuffix(".txt")
    source = f"{PRESET_PREFIX}{rubric_id}" if rubric_id in PRESETS else name
    template = parse_template(text, source=source)
    if not name.endswith(".txt") or template.rubric_id != rubric_id:
        raise InputFileError(
            f"Rubric file {name} holds the text of rubric {template.rubric_id!r}, not of "
            f"{rubric_id!r}: a rubric is kept under its own id; restore the file or remove it."
        )
    return template
