"""Package data: icons, style sheets, prompt sets, rubric templates, corpus templates."""

from importlib import resources
from pathlib import Path


def resource_path(*parts: str) -> Path:
    """Path of a file shipped in resources/ (works installed, editable and frozen)."""
    return Path(str(resources.files(__name__).joinpath(*parts)))
