"""The one AST both compilers and the checker walk.

Every node records `pos`, its character offset inside the source string, so the checker can
point at the exact place of a problem (`Location.at(pos)`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Location:
    """Where a DSL string starts: file, 1-based line and column of its first character."""

    file: str = "<mapping>"
    line: int = 1
    column: int = 1

    def at(self, offset: int) -> Location:
        return Location(self.file, self.line, self.column + offset)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class KeymapError(Exception):
    """A mapping problem with its location: `file:line:col: message`."""

    def __init__(self, message: str, location: Location | None = None):
        self.message = message
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


class Expr:
    pos: int


@dataclass(frozen=True)
class Col(Expr):
    name: str
    pos: int = 0


@dataclass(frozen=True)
class Lit(Expr):
    value: str | int | Decimal | bool | None
    pos: int = 0


@dataclass(frozen=True)
class Call(Expr):
    name: str
    args: tuple[Expr, ...]
    pos: int = 0


@dataclass(frozen=True)
class BinOp(Expr):
    op: str  # + - * / % = != < <= > >= and or
    left: Expr
    right: Expr
    pos: int = 0


@dataclass(frozen=True)
class Not(Expr):
    operand: Expr
    pos: int = 0


@dataclass(frozen=True)
class IsNull(Expr):
    operand: Expr
    negated: bool
    pos: int = 0


@dataclass(frozen=True)
class In(Expr):
    operand: Expr
    items: tuple[Expr, ...]
    negated: bool
    pos: int = 0


@dataclass(frozen=True)
class Template(Expr):
    """`"ORDER#{pad(id, 10)}"`: literal text and expression holes, always a string."""

    parts: tuple[str | Expr, ...]
    pos: int = 0


def walk(e: Expr):
    """Yield `e` and every node below it."""
    yield e
    children: tuple = ()
    if isinstance(e, Call):
        children = e.args
    elif isinstance(e, BinOp):
        children = (e.left, e.right)
    elif isinstance(e, (Not, IsNull)):
        children = (e.operand,)
    elif isinstance(e, In):
        children = (e.operand, *e.items)
    elif isinstance(e, Template):
        children = tuple(p for p in e.parts if isinstance(p, Expr))
    for c in children:
        yield from walk(c)


def columns(e: Expr) -> set[str]:
    return {n.name for n in walk(e) if isinstance(n, Col)}
