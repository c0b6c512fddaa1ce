"""Settings declared once, on the config dataclasses, for every surface that shows them.

A config field declared with `setting(...)` carries its label, help, range (or choices)
and form group in its dataclass metadata. From that one declaration:

- the CLI adds a flag per field (`add_setting_flags`) and reads back what the user set
  (`user_values_from_args`, `config_from_sources`);
- the GUI builds a widget per field (app/widgets/settings_form.py);
- `setting_problems` checks a config against the ranges, choices and ties;
- `follow_user_settings` makes a setting the user left alone fit one they set
  (e.g. the minibatch follows the batch), through the `Follow` rules a config class lists
  in its `FOLLOWS` class attribute.

A new trainer's config gets its flags, form fields and checks by declaring its fields
this way; a setting it shares with another config is that config's declaration, reused
with `as_in` (same flag, label and range; a new default or help where they differ). This module is headless (no Qt, no torch).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config.io import ConfigT, Dataclass
from core.errors import TrainingError

METADATA_KEY = "setting"
HIDDEN = "hidden"
"""The group of fields that are neither a flag nor a form field (documented, not tuned)."""

NameOf = Callable[[str], str]
"""Field name -> the name a user sees (a flag on the CLI, a label in the form)."""


@dataclass(frozen=True)
class Setting:
    """How one config field is shown, asked for and checked."""

    label: str
    """Form label, short (e.g. 'Minibatch size')."""
    help: str
    """What the setting does and how to choose it: the tooltip, the flag's help."""
    group: str = "main"
    """Which part of a form shows it ('main', 'advanced'...); HIDDEN: nowhere."""
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    """Spin-box step of float settings (default 1)."""
    decimals: int | None = None
    """Decimals shown for float settings."""
    choices: tuple[str, ...] | None = None
    """The allowed values of a text setting (a combo box, argparse choices)."""
    min_text: str | None = None
    """What the minimum means, shown in its place (e.g. 'off'). On a `float | None`
    field the minimum stands for None."""
    none_text: str = "off"
    """What None means, for fields that may be None."""
    flag: str | None = None
    """The flag without dashes and prefix; default: the field name with dashes."""
    widget_name: str | None = None
    """The form widget's objectName; default: camelCase field name + Spin/Combo/Check/Edit."""
    why: str | None = None
    """Why the allowed values are what they are, added to a refusal ('a group needs at
    least 2 answers to compare'): the friendlier message lives on the declaration, so no
    check restates the rule."""
    active_when: tuple[str, str, Any] | None = None
    """(another field, '==' or '>', a value): the setting acts only while that holds (the
    form greys it out otherwise), e.g. ('kl_mode', '==', 'adaptive')."""


def setting(default: Any, *, label: str, help: str, **options: Any) -> Any:
    """A dataclass field declared as a user setting (see Setting for the options)."""
    return dataclasses.field(
        default=default, metadata={METADATA_KEY: Setting(label, help, **options)}
    )


def as_in(cls: type, name: str, default: Any = dataclasses.MISSING, **changes: Any) -> Any:
    """A dataclass field declared as `cls` declares `name` (its label, help, range, flag,
    widget), with `changes` to the declaration and, if given, another default.

    How one config reuses another's setting (GRPO's and DPO's learning rate are PPO's),
    so the flag, the form field and the checks cannot drift apart.
    """
    original = {f.name: f for f in dataclasses.fields(cls)}[name]
    declared = original.metadata[METADATA_KEY]
    if changes:
        declared = dataclasses.replace(declared, **changes)
    value = original.default if default is dataclasses.MISSING else default
    return dataclasses.field(default=value, metadata={METADATA_KEY: declared})


def hidden(default: Any, *, help: str) -> Any:
    """A documented field that neither the CLI nor the form offers."""
    return dataclasses.field(
        default=default, metadata={METADATA_KEY: Setting("", help, group=HIDDEN)}
    )


@dataclass(frozen=True)
class SettingField:
    """A declared field with what its type says: kind (int, float, bool, str or tuple)
    and whether None is allowed."""

    name: str
    kind: type
    optional: bool
    default: Any
    setting: Setting

    @property
    def flag_stem(self) -> str:
        """The flag without dashes and prefix ('batch-size')."""
        return self.setting.flag or self.name.replace("_", "-")

    def flag(self, prefix: str = "") -> str:
        """The command-line flag ('--batch-size'; with prefix 'lora-': '--lora-r')."""
        return f"--{prefix}{self.flag_stem}"

    def dest(self, prefix: str = "") -> str:
        """The argparse attribute the flag fills ('batch_size', 'lora_r')."""
        return f"{prefix}{self.flag_stem}".replace("-", "_")

    def widget_name(self) -> str:
        """The form widget's objectName (declared, or e.g. 'warmupStepsSpin')."""
        if self.setting.widget_name:
            return self.setting.widget_name
        head, *rest = self.name.split("_")
        return head + "".join(part.title() for part in rest) + self.widget_suffix()

    def widget_suffix(self) -> str:
        if self.kind is bool:
            return "Check"
        if self.setting.choices:
            return "Combo"
        return "Spin" if self.kind in (int, float) else "Edit"


def declared_fields(cls: type) -> list[SettingField]:
    """Every field of `cls` declared with setting() or hidden(), in declaration order."""
    return list(_declared_fields(cls))


@functools.cache  # a class's fields never change; forms ask on every edit
def _declared_fields(cls: type) -> tuple[SettingField, ...]:
    hints = typing.get_type_hints(cls)
    found = []
    for f in dataclasses.fields(cls):
        declared = f.metadata.get(METADATA_KEY)
        if declared is not None:
            kind, optional = _kind_of(hints[f.name])
            found.append(SettingField(f.name, kind, optional, f.default, declared))
    return tuple(found)


def settings_of(cls: type, group: str | None = None) -> list[SettingField]:
    """The fields the user can set (all groups but HIDDEN, or one group)."""
    fields = [f for f in declared_fields(cls) if f.setting.group != HIDDEN]
    return fields if group is None else [f for f in fields if f.setting.group == group]


def inactive_settings(cls: type, values: dict[str, Any]) -> set[str]:
    """The settings of `cls` that do nothing with these values (their `active_when` does
    not hold); a rule on a field `values` lacks counts as holding."""
    inactive = set()
    for field in settings_of(cls):
        rule = field.setting.active_when
        if rule is None or rule[0] not in values:
            continue
        other, operator, value = rule
        holds = values[other] == value if operator == "==" else values[other] > value
        if not holds:
            inactive.add(field.name)
    return inactive


def undeclared_fields(cls: type) -> list[str]:
    """Fields of `cls` that are neither declared nor a nested config (should be none)."""
    declared = {f.name for f in declared_fields(cls)}
    hints = typing.get_type_hints(cls)
    return [
        f.name
        for f in dataclasses.fields(cls)
        if f.name not in declared and not _nested_config(hints[f.name])
    ]


def _kind_of(hint: Any) -> tuple[type, bool]:
    """(int | float | bool | str | tuple, may be None) of a field's type hint."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    optional = type(None) in options
    (kind,) = [option for option in options if option is not type(None)]
    kind = typing.get_origin(kind) or kind
    if kind not in (int, float, bool, str, tuple):
        raise TypeError(f"setting of unsupported type {hint!r}")
    return kind, optional


def _nested_config(hint: Any) -> bool:
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return any(dataclasses.is_dataclass(option) for option in options)


# ---------------------------------------------------------------- checks


def show(value: Any) -> str:
    """A value as a message shows it (floats without trailing noise)."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def value_problem(field: SettingField, value: Any, name: str | None = None) -> str | None:
    """Why `value` is not allowed for `field` (None: it is), naming the allowed values."""
    name = name or field.name
    declared = field.setting
    if value is None:
        return None if field.optional else f"{name} must be set"
    because = f" ({declared.why})" if declared.why else ""
    if declared.choices is not None:
        if value not in declared.choices:
            return f"{name} is {value!r}; use one of {', '.join(declared.choices)}{because}"
        return None
    if field.kind not in (int, float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{name} is {value}; use a finite number"
    if out_of_range(field, value):
        return f"{name} is {show(value)}; use {range_text(field)}{because}"
    return None


def out_of_range(field: SettingField, value: float) -> bool:
    """Whether a number lies outside the field's minimum and maximum."""
    low, high = field.setting.minimum, field.setting.maximum
    return (low is not None and value < low) or (high is not None and value > high)


def range_text(field: SettingField) -> str:
    """'1 to 4096', 'at least 0', ... (the allowed values of a number setting)."""
    low, high = field.setting.minimum, field.setting.maximum
    if low is not None and high is not None:
        return f"{show(low)} to {show(high)}"
    if low is not None:
        return f"at least {show(low)}"
    return f"at most {show(high)}" if high is not None else "any number"


def setting_problems(config: Dataclass, name_of: NameOf | None = None) -> list[str]:
    """Everything wrong with `config`'s settings: out of range, not a choice, or two
    settings that do not fit each other (its class's FOLLOWS rules)."""
    name_of = name_of or (lambda name: name)
    problems = []
    for field in declared_fields(type(config)):
        problem = value_problem(field, getattr(config, field.name), name_of(field.name))
        if problem:
            problems.append(problem)
    for rule in follows_of(type(config)):
        if not rule.holds(config):
            problems.append(rule.conflict(config, name_of))
    return list(dict.fromkeys(problems))


# ---------------------------------------------------------------- following


@dataclass(frozen=True)
class Follow:
    """`follower` changes to fit `leader` when the user set the leader but not the follower.

    fits(follower_value, leader_value) says whether the pair may run; adjust(follower_value,
    leader_value) gives the follower value that fits. `how` says how it was picked (with
    {leader}, {leader_value}, {old}, {new}); `rule` says what must hold (with {follower},
    {follower_value}, {leader}, {leader_value}).
    """

    follower: str
    leader: str
    fits: Callable[[Any, Any], bool]
    adjust: Callable[[Any, Any], Any]
    how: str
    rule: str

    def holds(self, config: Dataclass) -> bool:
        """Whether `config`'s follower and leader fit each other."""
        return self.fits(getattr(config, self.follower), getattr(config, self.leader))

    def conflict(self, config: Dataclass, name_of: NameOf) -> str:
        """The rule `config` breaks, with the names and values of both settings."""
        return self.rule.format(
            follower=name_of(self.follower),
            leader=name_of(self.leader),
            follower_value=show(getattr(config, self.follower)),
            leader_value=show(getattr(config, self.leader)),
        )


@dataclass(frozen=True)
class Adjustment:
    """A setting the user left alone, changed to fit one they set."""

    field: str
    old: Any
    new: Any
    rule: Follow
    leader_value: Any

    def describe(self, name_of: NameOf | None = None) -> str:
        name_of = name_of or (lambda name: name)
        how = self.rule.how.format(
            leader=name_of(self.rule.leader),
            leader_value=show(self.leader_value),
            old=show(self.old),
            new=show(self.new),
        )
        return (
            f"{name_of(self.field)} follows {name_of(self.rule.leader)}: "
            f"{show(self.new)} instead of {show(self.old)} ({how})"
        )


def follows_of(cls: type) -> tuple[Follow, ...]:
    """The following rules a config class declares (its FOLLOWS class attribute)."""
    return tuple(getattr(cls, "FOLLOWS", ()))


def follow_user_settings(
    config: ConfigT, user_set: Iterable[str]
) -> tuple[ConfigT, list[Adjustment]]:
    """`config` with each setting outside `user_set` changed where needed to fit the ones
    in it (the class's FOLLOWS rules, in order). Settings the user set never change: if
    two of them contradict each other, setting_problems names the contradiction."""
    user_set = set(user_set)
    adjustments = []
    for rule in follows_of(type(config)):
        if rule.follower in user_set or rule.holds(config):
            continue
        old, leader_value = getattr(config, rule.follower), getattr(config, rule.leader)
        new = rule.adjust(old, leader_value)
        config = dataclasses.replace(config, **{rule.follower: new})
        adjustments.append(Adjustment(rule.follower, old, new, rule, leader_value))
    return config, adjustments


# ---------------------------------------------------------------- command line


def add_setting_flags(parser: argparse._ActionsContainer, cls: type, *, prefix: str = "") -> None:
    """One flag per user setting of `cls`; every flag defaults to None (= not set)."""
    for field in settings_of(cls):
        options: dict[str, Any] = {"dest": field.dest(prefix), "default": None}
        if field.kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif field.setting.choices is not None:
            options["choices"] = field.setting.choices
        else:
            options["type"] = _flag_parser(field)
            options["metavar"] = "NAME,..." if field.kind is tuple else field.kind.__name__.upper()
        parser.add_argument(field.flag(prefix), help=_flag_help(field), **options)


def _flag_help(field: SettingField) -> str:
    declared = field.setting
    facts = [f"default: {_default_text(field)}"]
    if field.kind in (int, float) and declared.choices is None:
        facts.append(range_text(field))
    if declared.min_text and declared.minimum is not None:
        facts.append(f"{show(declared.minimum)}: {declared.min_text}")
    text = f"{declared.help} ({'; '.join(facts)})"
    return text.replace("%", "%%")  # argparse formats help with %


def _default_text(field: SettingField) -> str:
    if field.default is None:
        return field.setting.none_text
    if field.kind is bool:
        return "on" if field.default else "off"
    return show(field.default)


def _flag_parser(field: SettingField) -> Callable[[str], Any]:
    """argparse type= for a number or list setting: converts, then checks the range."""

    def parse(text: str) -> Any:
        if field.kind is tuple:
            names = tuple(part.strip() for part in text.split(",") if part.strip())
            return names or None
        if field.kind is str:
            return text
        try:
            value = field.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'a whole number' if field.kind is int else 'a number'}"
            ) from None
        if not math.isfinite(value) or out_of_range(field, value):
            raise argparse.ArgumentTypeError(f"{text} is out of range; use {range_text(field)}")
        return value

    parse.__name__ = field.kind.__name__  # argparse names the type in its own messages
    return parse


def user_values_from_args(
    cls: type, args: argparse.Namespace, *, prefix: str = ""
) -> dict[str, Any]:
    """The settings of `cls` given on the command line (flags left out are not here)."""
    values = {}
    for field in settings_of(cls):
        value = getattr(args, field.dest(prefix), None)
        if value is not None:
            values[field.name] = _none_at_minimum(field, value)
    return values


def _none_at_minimum(field: SettingField, value: Any) -> Any:
    """A `float | None` setting at its minimum means None, as in the form."""
    at_minimum = field.optional and field.setting.minimum is not None
    return None if at_minimum and value == field.setting.minimum else value


def load_config_file(cls: type[ConfigT], path: Path) -> tuple[ConfigT, set[str]]:
    """A config file (JSON, or YAML by its .yaml/.yml name), and the settings it names
    (they count as set by the user)."""
    from core.config.io import from_file_data, read_config_file

    data = settings_part(cls, read_config_file(cls, path))
    return from_file_data(cls, data, path), set(data)


def settings_part(cls: type, data: Any) -> Any:
    """The settings of `cls` in a config file's data: a run's recorded config (as the
    store and export-run keep it: {"algorithm": KIND, KIND: {...}, "model_spec": ...})
    gives its algorithm's settings; a "lora" mapping is the model's (read by the CLI's
    model options), not a setting of a config without one."""
    if not isinstance(data, dict):
        return data
    algorithm = data.get("algorithm")
    if isinstance(algorithm, str) and isinstance(data.get(algorithm), dict):
        data = data[algorithm]
    names = {field.name for field in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k != "lora" or "lora" in names}


def config_from_sources(
    cls: type[ConfigT],
    args: argparse.Namespace,
    config_file: Path | None = None,
    *,
    prefix: str = "",
) -> tuple[ConfigT, list[str]]:
    """(config, notes): defaults, overridden by `config_file`, overridden by the flags;
    then the settings set in neither follow those that were (each change is a note).
    Raises TrainingError naming every setting out of range or contradicting another."""
    config, user_set = load_config_file(cls, config_file) if config_file else (cls(), set())
    values = user_values_from_args(cls, args, prefix=prefix)
    config = dataclasses.replace(config, **values)
    config, adjustments = follow_user_settings(config, user_set | set(values))
    flag_of = flag_namer(cls, prefix)
    problems = setting_problems(config, flag_of)
    if problems:
        raise TrainingError(
            f"Invalid settings: {'; '.join(problems)}. Change one of the flags (or the "
            "config file), or leave a setting out to have it follow the others."
        )
    notes = [f"{a.describe(flag_of)}; pass {flag_of(a.field)} to choose it" for a in adjustments]
    return config, notes


def flag_namer(cls: type, prefix: str = "") -> NameOf:
    """Field name -> its flag (for messages); fields without a flag keep their name."""
    flags = {field.name: field.flag(prefix) for field in settings_of(cls)}
    return lambda name: flags.get(name, name)
