"""Spark SQL expression text built in Python, with the API of `pyspark.sql.functions` and `Column`.

Invariant: a `Column`'s `sql` parses (Spark's `selectExpr`/`expr`) to the expression the same call of
pyspark's `functions`/`Column` builds: the same function, argument order and literal types (an int is
INT, or BIGINT past 32 bits; a float DOUBLE; a Decimal its exact DECIMAL; a str STRING; a date DATE). A Python str
argument is always a literal, never a column name: columns are named with `col`.

Why: the keymap's Spark generator builds one large expression tree per rule. Built with pyspark
Columns, every node is a py4j round trip to the JVM (about 45,000 for the sample shop's mapping:
10-25 s before a job starts); built here, a projection is one `selectExpr` call. No pyspark import:
the replay Lambda, which ships without pyspark, imports the keymap.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any


def quote(name: str) -> str:
    """`name` as a quoted identifier."""
    return "`" + name.replace("`", "``") + "`"


def _string(s: str) -> str:
    # Spark unescapes backslash sequences in literals (spark.sql.parser.escapedStringLiterals=false)
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _literal(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return f"CAST('{'NaN' if math.isnan(v) else 'Infinity' if v > 0 else '-Infinity'}' AS DOUBLE)"
        return f"{v!r}D"
    if isinstance(v, Decimal):
        return f"{v:f}BD"
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, dt.datetime):  # pyspark: a TIMESTAMP in the session time zone
        return f"TIMESTAMP {_string(v.isoformat(' '))}"
    if isinstance(v, dt.date):
        return f"DATE {_string(v.isoformat())}"
    raise TypeError(f"no Spark SQL literal for {v!r}")


def _sql(v: Any) -> str:
    """The text of an argument: a Column's expression, anything else a literal."""
    return v.sql if isinstance(v, Column) else _literal(v)


def _binary(op: str) -> Callable[[Column, Any], Column]:
    return lambda self, other: self._op(op, other)


class Column:
    """An expression as Spark SQL text (`sql`), optionally named (`alias`)."""

    __slots__ = ("sql", "name")
    __hash__ = None  # type: ignore[assignment]  # == builds an expression, as in pyspark

    def __init__(self, sql: str, name: str | None = None):
        self.sql, self.name = sql, name

    def __bool__(self) -> bool:
        raise TypeError("a Column has no truth value: use & | ~ for and, or, not")

    def __repr__(self) -> str:
        return f"Column({self.named()!r})"

    def alias(self, name: str) -> Column:
        return Column(self.sql, name)

    def named(self) -> str:
        """The select-list text: `expr AS name` when aliased."""
        return self.sql if self.name is None else f"{self.sql} AS {quote(self.name)}"

    def _op(self, op: str, other: Any) -> Column:
        return Column(f"`{op}`({self.sql}, {_sql(other)})")

    # operators as the functions Spark registers for them (`=`(a, b)): one form for every node, no
    # precedence to get right
    __eq__ = _binary("=")  # type: ignore[assignment]
    __lt__, __le__, __gt__, __ge__ = _binary("<"), _binary("<="), _binary(">"), _binary(">=")
    __and__, __or__ = _binary("and"), _binary("or")
    __add__, __sub__, __mul__, __truediv__, __mod__ = (_binary("+"), _binary("-"), _binary("*"), _binary("/"),
                                                       _binary("%"))

    def __ne__(self, other: Any) -> Column:  # type: ignore[override]
        return ~(self == other)  # pyspark's NOT (a = b)

    def __invert__(self) -> Column:
        return Column(f"`!`({self.sql})")

    def __getitem__(self, key: str) -> Column:
        return Column(f"{self.sql}[{_literal(key)}]")

    def isNull(self) -> Column:  # noqa: N802 - pyspark's name
        return Column(f"isnull({self.sql})")

    def isNotNull(self) -> Column:  # noqa: N802 - pyspark's name
        return Column(f"isnotnull({self.sql})")

    def cast(self, type_: str) -> Column:
        return Column(f"CAST({self.sql} AS {type_})")

    def isin(self, *items: Any) -> Column:
        return call("`in`", self, *items)

    def startswith(self, prefix: Any) -> Column:
        return Column(f"startswith({self.sql}, {_sql(prefix)})")

    def rlike(self, pattern: str) -> Column:
        return call("rlike", self, pattern)


class _Case(Column):
    """CASE WHEN ... END, extended by `when` and closed by `otherwise` as in pyspark."""

    __slots__ = ("branches",)

    def __init__(self, branches: tuple[tuple[str, str], ...], default: str | None = None):
        whens = " ".join(f"WHEN {c} THEN {v}" for c, v in branches)
        super().__init__(f"CASE {whens}{'' if default is None else ' ELSE ' + default} END")
        self.branches = branches

    def when(self, cond: Column, value: Any) -> _Case:
        return _Case((*self.branches, (cond.sql, _sql(value))))

    def otherwise(self, value: Any) -> Column:
        return Column(_Case(self.branches, _sql(value)).sql)


def when(cond: Column, value: Any) -> _Case:
    return _Case(((cond.sql, _sql(value)),))


def lit(v: Any) -> Column:
    return Column(_literal(v))


def col(name: str) -> Column:
    """A column by its (quoted, see `quote`) name."""
    return Column(name)


def call(name: str, *args: Any) -> Column:
    """`name(args)`: the Spark SQL function of that name."""
    return Column(f"{name}({', '.join(_sql(a) for a in args)})")


def struct(*fields: Column) -> Column:
    unnamed = [f.sql for f in fields if f.name is None]
    if unnamed:
        raise ValueError(f"struct fields need names (alias): {unnamed[0][:80]}")
    return call("named_struct", *[x for f in fields for x in (lit(f.name), f.alias(None))])


def to_json(c: Column, options: dict[str, str] | None = None) -> Column:
    return call("to_json", c, *([call("map", *[x for kv in options.items() for x in kv])] if options else []))


def timestamp_diff(unit: str, start: Column, end: Column) -> Column:
    return Column(f"timestampdiff({unit}, {start.sql}, {end.sql})")


def call_function(name: str, *args: Any) -> Column:
    return call(quote(name), *args)  # quoted: `div` is also a keyword


_names = itertools.count()


def _lambda(f: Callable[..., Column], arity: int) -> str:
    names = [f"__x{next(_names)}" for _ in range(arity)]
    body = f(*[Column(n) for n in names])
    params = names[0] if arity == 1 else f"({', '.join(names)})"  # Spark's grammar: `x -> ...`, `(x, y) -> ...`
    return f"{params} -> {body.sql}"


def transform(c: Column, f: Callable[[Column], Column]) -> Column:
    return Column(f"transform({c.sql}, {_lambda(f, 1)})")


def filter(c: Column, f: Callable[[Column], Column]) -> Column:  # noqa: A001 - pyspark's name
    return Column(f"filter({c.sql}, {_lambda(f, 1)})")


def aggregate(c: Column, zero: Column, merge: Callable[[Column, Column], Column]) -> Column:
    return Column(f"aggregate({c.sql}, {zero.sql}, {_lambda(merge, 2)})")


def __getattr__(name: str) -> Callable[..., Column]:
    """Every other function: `name(args)`, as pyspark's function of the same name."""
    if name.startswith("__"):
        raise AttributeError(name)
    return lambda *args: call(name, *args)
