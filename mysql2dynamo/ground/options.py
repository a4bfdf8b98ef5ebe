"""Options written once: a dataclass field carries its facts (type, default, help, choices), and the
command lines (argparse in a spark-submit job, click in the shell), the config's sections and the
job arguments an EMR step passes are all derived from it, so no default can drift.

    @dataclass
    class LoadOptions:
        manifest: str = setting(help="snapshot folder or manifest.json")        # required: no default
        sink: str = setting("emr-connector", "how items are written", choices=SINKS)
        tables: list[str] | None = setting(None, "db.table,...")                # comma-separated on a command line

Fields made with plain `field()` or a default are not options (tests, internal knobs).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import MISSING, dataclass
from typing import Any

_HELP = "m2d_help"
_CHOICES = "m2d_choices"


def setting(default: Any = MISSING, help: str = "", *, choices: tuple[str, ...] = ()) -> Any:
    """A dataclass field that is also a command-line option and a config key."""
    return dataclasses.field(default=default, metadata={_HELP: help, _CHOICES: tuple(choices)})


@dataclass(frozen=True)
class Fact:
    name: str  # the field name: config key; the flag is --name-with-dashes
    type: type  # str, int, float or bool (of each element for a list)
    default: Any  # MISSING: required
    help: str
    choices: tuple[str, ...]
    many: bool  # list[str]: "a,b" on a command line

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def required(self) -> bool:
        return self.default is MISSING

    def parse(self, value: Any) -> Any:
        """A command-line or config value as the field's type ("a,b" -> ["a", "b"] for a list)."""
        if value is None:
            return None
        if self.many:
            items = value.split(",") if isinstance(value, str) else list(value)
            return [str(x).strip() for x in items if str(x).strip()] or None
        if self.choices and value not in self.choices:
            raise ValueError(f"{self.name}: expected one of {', '.join(self.choices)}, got {value!r}")
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, self.type) or (self.type is int and isinstance(value, bool)):
            raise ValueError(f"{self.name}: expected {self.type.__name__}, got {value!r}")
        return value

    def render(self, value: Any) -> str:
        """The value as a command-line argument."""
        return ",".join(str(x) for x in value) if self.many else str(value)


def _base(hint: Any) -> tuple[type, bool]:
    args = [a for a in typing.get_args(hint) if a is not type(None)] if isinstance(hint, types.UnionType) else [hint]
    (t,) = args
    if typing.get_origin(t) is list:
        return typing.get_args(t)[0], True
    return t, False


def facts(cls: type) -> list[Fact]:
    """The option facts of a dataclass, in field order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if _HELP not in f.metadata:
            continue
        t, many = _base(hints[f.name])
        out.append(Fact(f.name, t, f.default, f.metadata[_HELP], f.metadata[_CHOICES], many))
    return out


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """One argparse argument per option of `cls` (defaults None: `from_arguments` applies the field's)."""
    for fact in facts(cls):
        if fact.type is bool:
            parser.add_argument(fact.flag, action="store_true", default=None, help=fact.help)
            continue
        parser.add_argument(fact.flag, type=str if fact.many else fact.type, required=fact.required,
                            choices=fact.choices or None, help=fact.help)


def from_values(cls: type, values: dict[str, Any], **fixed: Any) -> Any:
    """An instance of `cls` from option values (None: the field's default), plus `fixed` fields."""
    given = {f.name: f.parse(values[f.name]) for f in facts(cls) if values.get(f.name) is not None}
    return cls(**given, **fixed)


def option_values(options: Any) -> dict[str, Any]:
    """The option fields of a dataclass instance, by name."""
    return {f.name: getattr(options, f.name) for f in facts(type(options))}


def as_arguments(cls: type, values: dict[str, Any]) -> list[str]:
    """Command-line arguments that give `values` (unknown names are an error; None is left out)."""
    known = {f.name: f for f in facts(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}; expected some of {', '.join(known)}")
    missing = [n for n, f in known.items() if f.required and values.get(n) is None]
    if missing:
        raise ValueError(f"{', '.join(missing)} is required")
    args: list[str] = []
    for name, fact in known.items():
        value = values.get(name)
        if value is None or value == fact.default:
            continue
        if fact.type is bool:
            if value:
                args.append(fact.flag)
            continue
        args += [fact.flag, fact.render(value)]
    return args
