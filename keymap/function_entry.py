"""The shape of a keymap function entry: every fact about one function, checked when it is made.

As sqlglot keeps a function's facts on its expression class (`arg_types`, `null_if_any`), keymap
keeps them on one `Function` entry in keymap/functions.py: parameters and their checks, type rule,
null behaviour, injectivity, size bound and both implementations. The type checker, the lints and
both compilers read nothing else. Each fact is a required keyword: an entry that leaves one out, or
gives one of the wrong kind, fails when keymap.functions is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from mysql2dynamo.keymap.text import text_bound
from mysql2dynamo.keymap.types import Kind, VType


class FunctionEntryError(TypeError):
    """A function entry that lacks a fact or gives one of the wrong kind."""


@dataclass(frozen=True)
class Param:
    """One parameter: what it accepts, and what the implementations receive for it."""

    what: str  # for messages: "expected <what> for f() argument i"
    kinds: frozenset[Kind] | None = None  # value kinds accepted (null always is); None: any kind
    literal: type | None = None  # int or str: the argument must be such a literal; implementations get its value
    as_text: bool = False  # the implementations receive the value's text form (keymap.text)
    branch: bool = False  # one of the values the result is chosen from: Spark casts it to the result type
    check: Callable[[Any, str], str | None] | None = None  # (literal, "f() argument i") -> error message


class Nulls(Enum):
    """When the result is null; it also says how the compilers call the implementations."""

    ANY = "null when any argument is null (sqlglot's null_if_any)"
    ANY_OR_BAD = "null when any argument is null, and where a bad value rejects the row"
    ALL = "null when every argument is null"
    BRANCH = "null when the chosen branch is null"

    @property
    def lazy(self) -> bool:
        """ALL and BRANCH evaluate arguments on demand: their implementations take compiled arguments
        (Python: `row -> value` functions; Spark: `SV`s) and return one, instead of values."""
        return self in (Nulls.ALL, Nulls.BRANCH)


@dataclass(frozen=True)
class Arg:
    """An argument as a size rule sees it: its type and, for a literal, its value."""

    type: VType
    value: Any = None


SizeRule = Callable[[list[Arg]], "int | None"]


@dataclass(frozen=True, kw_only=True)
class Function:
    """One keymap function and everything the checker, the lints and the compilers know about it.

    `py` and `spark` take the argument values / Columns (text for `as_text` parameters, the literal
    for literal parameters; with `typed`, also `types=` the argument types); with `Nulls.ANY*`
    they never see a null. `spark_reject` gives the reason-code Column where Spark's value is bad
    (the Python implementation raises `BadValue` there). `size` bounds the result's `max_bytes`;
    the Spark compiler leaves out size checks this bound proves cannot fire, so it must never be
    too small (`unbounded` when unsure).
    """

    name: str
    params: tuple[Param, ...]  # the last one repeats when `varargs`
    min_args: int
    result: Callable[[list[VType]], VType]  # argument types -> result type (TypeError: message)
    nulls: Nulls
    injective: bool  # different arguments always give different results (lints: lossy keys)
    size: SizeRule
    py: Callable[..., Any]
    spark: Callable[..., Any]
    doc: str
    example: str
    varargs: bool = False
    typed: bool = False
    spark_reject: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        def need(ok: bool, fact: str) -> None:
            if not ok:
                raise FunctionEntryError(f"keymap function {self.name!r}: {fact}")

        need(isinstance(self.name, str) and self.name.isidentifier(), "name must be an identifier")
        need(isinstance(self.params, tuple) and bool(self.params)
             and all(isinstance(p, Param) for p in self.params), "params must be a tuple of Param")
        need(isinstance(self.min_args, int) and 1 <= self.min_args <= len(self.params),
             "min_args must be between 1 and the number of params")
        need(isinstance(self.nulls, Nulls), "nulls must be a Nulls member")
        for fact in ("injective", "varargs", "typed"):
            need(isinstance(getattr(self, fact), bool), f"{fact} must be True or False")
        for fact in ("result", "size", "py", "spark"):
            need(callable(getattr(self, fact)), f"{fact} must be callable")
        need(self.spark_reject is None or callable(self.spark_reject), "spark_reject must be callable or None")
        need(isinstance(self.doc, str) and bool(self.doc), "doc must be a text")
        need(isinstance(self.example, str) and f"{self.name}(" in self.example, "example must call the function")

    def param(self, i: int) -> Param:
        """The parameter of the 0-based argument `i`."""
        return self.params[min(i, len(self.params) - 1)]

    def arity_error(self, n: int) -> str | None:
        most = None if self.varargs else len(self.params)
        if self.min_args <= n and (most is None or n <= most):
            return None
        want = f"at least {self.min_args}" if most is None else (
            str(most) if self.min_args == most else f"{self.min_args} to {most}")
        return f"{self.name}() takes {want} argument(s), got {n}"

    def nullable(self, types: list[VType]) -> bool:
        if self.nulls is Nulls.ANY:
            return any(t.nullable for t in types)
        if self.nulls is Nulls.ALL:
            return all(t.nullable for t in types)
        if self.nulls is Nulls.BRANCH:
            return any(t.nullable for i, t in enumerate(types) if self.param(i).branch)
        return True


def registry(*entries: Function) -> dict[str, Function]:
    """The function table by name; anything but distinct `Function` entries is an error."""
    table: dict[str, Function] = {}
    for f in entries:
        if not isinstance(f, Function):
            raise FunctionEntryError(f"expected a Function entry, got {f!r}")
        if f.name in table:
            raise FunctionEntryError(f"keymap function {f.name!r} has two entries")
        table[f.name] = f
    return table


# --- size rules ----------------------------------------------------------------------------------


def text_of(*args: Arg) -> int | None:
    """The summed text bounds of `args` (None when one is unknown)."""
    sizes = [text_bound(a.type) for a in args]
    return None if None in sizes else sum(sizes)  # type: ignore[arg-type]


def unbounded(_: list[Arg]) -> None:
    """No bound: every size check on the result runs (numbers are bounded by their precision)."""
    return None


def largest(args: list[Arg]) -> int | None:
    """The largest `max_bytes` of the non-null arguments: the result is one of them."""
    bounds = [a.type.max_bytes for a in args if a.type.kind is not Kind.NULL]
    return None if None in bounds else max(bounds, default=0)  # type: ignore[type-var]
