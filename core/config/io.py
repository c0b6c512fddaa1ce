"""Configs to and from plain data and JSON (or YAML) files, with errors that name the setting.

`--config` files may be JSON or YAML (`.yaml`/`.yml`, as TRL and LLaMA-Factory users
write them): YAML is read safely (plain data only) and with YAML 1.2's numbers, so
`learning_rate: 1e-5` is the number 1e-5, not the string PyYAML's YAML 1.1 makes of it.

Kept apart from core/config.py so that core/config/settings.py (which the configs' field
declarations use) can read config files without an import cycle.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

from core.errors import InputFileError


class Dataclass(Protocol):
    """What every config is: a dataclass (so `dataclasses.fields`/`replace` take it)."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]


ConfigT = TypeVar("ConfigT", bound=Dataclass)


def to_dict(config: Dataclass) -> dict[str, Any]:
    """A config as plain JSON-ready data (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def from_dict(cls: type[ConfigT], data: dict[str, Any]) -> ConfigT:
    """Rebuild a config; unknown keys are an error naming the key, missing keys take defaults."""
    if not isinstance(data, dict):
        raise InputFileError(
            f"{cls.__name__}: expected a JSON object (or YAML mapping) of settings, got "
            f"{type(data).__name__}."
        )
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputFileError(
            f"{cls.__name__}: unknown setting(s) {', '.join(unknown)}. "
            f"Known settings: {', '.join(sorted(known))}."
        )
    values = {name: _coerce(cls, name, hints[name], value) for name, value in data.items()}
    return cls(**values)


def _coerce(cls: type, name: str, hint: Any, value: Any) -> Any:
    """Turn JSON data back into the field's type (nested dataclasses, tuples, int -> float);
    a value of another type is an error naming the setting, not a crash mid-run."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None and type(None) in options:
        return None
    for option in options:
        if (
            isinstance(option, type)
            and dataclasses.is_dataclass(option)
            and isinstance(value, dict)
        ):
            return from_dict(option, value)
        if typing.get_origin(option) is tuple and isinstance(value, list | tuple):
            return tuple(value)
        if option is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if option in (int, str, bool) and type(value) is option:
            return value
    expected = " or ".join(_type_name(option) for option in options)
    raise InputFileError(
        f"{cls.__name__}: {name} must be {expected}, got {value!r}; fix it in the config file."
    )


def _type_name(option: Any) -> str:
    if option is type(None):
        return "null"
    return {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}.get(
        option, getattr(option, "__name__", str(option))
    )


def save_json(config: Dataclass, path: Path) -> None:
    """Write a config as indented JSON."""
    path.write_text(json.dumps(to_dict(config), indent=2) + "\n", encoding="utf-8")


def load_json(cls: type[ConfigT], path: Path) -> ConfigT:
    """Read a config written by save_json, with a clear error for a bad file."""
    return from_file_data(cls, read_json_object(cls, path), path)


def from_file_data(cls: type[ConfigT], data: Any, path: Path) -> ConfigT:
    """from_dict, with the file named in its error (a checkpoint's config is one of many)."""
    try:
        return from_dict(cls, data)
    except InputFileError as error:
        raise InputFileError(f"{path}: {error}") from error


YAML_SUFFIXES = (".yaml", ".yml")


def read_config_file(cls: type, path: Path) -> Any:
    """The data of a `cls` config file: YAML for .yaml/.yml, else JSON; a clear error for
    an unreadable one."""
    if Path(path).suffix.lower() not in YAML_SUFFIXES:
        try:
            return read_json_object(cls, path)
        except InputFileError as error:
            if not isinstance(error.__cause__, json.JSONDecodeError):
                raise
            raise InputFileError(f"{error} (A YAML file needs a .yaml or .yml name.)") from error
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
        return yaml.load(text, Loader=_yaml_loader())  # a SafeLoader: plain data only
    except OSError as error:
        raise InputFileError(f"Cannot read {cls.__name__} from {path}: {error}.") from error
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        problem = getattr(error, "problem", None) or error
        raise InputFileError(
            f"Cannot read {cls.__name__} from {path}{line}: not valid YAML ({problem}); fix "
            "the file."
        ) from error


def _yaml_loader() -> type:
    """PyYAML's SafeLoader with YAML 1.2 floats (1e-5 and 1.0e-5 alike are numbers)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    float_pattern = re.compile(
        r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
        r"|[0-9][0-9_]*[eE][-+]?[0-9]+|\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    )
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", float_pattern, list("-+0123456789."))
    return Loader


def read_json_object(cls: type, path: Path) -> Any:
    """The JSON data of a `cls` config file, with a clear error for an unreadable one."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as error:  # ValueError: JSON, UTF-8
        raise InputFileError(f"Cannot read {cls.__name__} from {path}: {error}.") from error
