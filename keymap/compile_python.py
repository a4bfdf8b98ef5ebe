"""Compile checked rules to plain Python closures over decoded row dicts (the replay engine).

`compile_python(checked)` returns a `PythonMapper`; `mapper.map_row("db.t", row, version=v)`
gives one `Result` per rule of that table: an item (ordered DynamoDB-JSON text and its key),
a rejection (reason code + message naming table, rule, attribute and source key) or
"filtered" (the row is outside the rule's `where`). No pyspark import on this path.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from mysql2dynamo.keymap.ast import BinOp, Call, Col, Expr, In, IsNull, Lit, Not, Template
from mysql2dynamo.keymap.checked import CheckedMapping, CheckedRule
from mysql2dynamo.keymap.functions import FUNCTIONS
from mysql2dynamo.keymap.item_rules import KEY_LIMITS, MAX_ITEM_BYTES, AttrValue, item_json, item_size
from mysql2dynamo.keymap.text import number_py_text, set_members, to_text_py
from mysql2dynamo.keymap.types import Column, Kind, VType, set_order, value_type
from mysql2dynamo.keymap.values import _CTX, BadValue, dynamo_json_value, float_text, parse_json, to_float32

Row = dict[str, Any]
Fn = Callable[[Row], Any]


@dataclass(frozen=True)
class Result:
    """The outcome of one rule for one row."""

    rule: str
    target: str
    status: str  # "item" | "rejected" | "filtered"
    item: str | None = None  # DynamoDB JSON, attributes in item order
    key: str | None = None  # DynamoDB JSON of the key attributes only
    size: int | None = None  # item size in bytes (DynamoDB rules, conservative for N and M/L)
    reason: str | None = None
    message: str | None = None
    # a rejected row's key when every key attribute could be made: replay tombstones its old item (Python only)
    rejected_key: str | None = field(default=None, compare=False)


def normalize_input(col: Column, t: VType, v):
    """Bring a decoded MySQL value into the engine's canonical Python form."""
    if v is None:
        return None
    if t.kind is Kind.FLOAT:
        return to_float32(float(v))
    if t.kind is Kind.DOUBLE:
        return float(v)
    if t.kind is Kind.BINARY:
        v = bytes(v)
        return v.ljust(col.length, b"\x00") if col.data_type == "binary" and col.length else v
    if t.kind is Kind.SET:
        return frozenset(set_members(v))
    if t.kind is Kind.NUMBER and isinstance(v, bool):
        return int(v)
    if t.kind is Kind.NUMBER and isinstance(v, (bytes, bytearray)):  # BIT(n) as pymysql returns it
        return int.from_bytes(v, "big")
    return v


def attr_value(v, t: VType) -> AttrValue | None:
    """The natural DynamoDB value of `v` (None: attribute omitted)."""
    if v is None:
        return None
    k = t.kind
    if k in (Kind.NUMBER, Kind.FLOAT, Kind.DOUBLE):
        return AttrValue("N", number_py_text(v, t) if k is Kind.NUMBER else float_text(v, k is Kind.FLOAT))
    if k is Kind.BINARY:
        return AttrValue("B", bytes(v))
    if k is Kind.JSON:
        return AttrValue("J", dynamo_json_value(parse_json(v)))
    if k is Kind.SET:
        members = sorted(v, key=set_order(t.members))
        return AttrValue("SS", members) if members else None
    if k is Kind.BOOL:
        return AttrValue("BOOL", bool(v))
    return AttrValue("S", to_text_py(v, t))


# --- expressions ----------------------------------------------------------------------------------

_COMPARE = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
            ">=": operator.ge}


def _spark_order(x):
    """Spark's float ordering: NaN equals NaN and is larger than every other value."""
    x = float(x)
    return (1, 0.0) if math.isnan(x) else (0, x)


def _same(x):
    return x


def _arith(op: str, a, b, t: VType):
    if op == "/":
        b = float(b)
        return None if b == 0 else float(a) / b
    if t.kind is Kind.NUMBER:
        if op == "%":
            if b == 0:
                return None
            r = abs(a) % abs(b)
            return -r if a < 0 else r
        if isinstance(a, int) and isinstance(b, int):
            return {"+": a + b, "-": a - b, "*": a * b}[op]
        a, b = _CTX.create_decimal(a), _CTX.create_decimal(b)
        return {"+": _CTX.add, "-": _CTX.subtract, "*": _CTX.multiply}[op](a, b)
    r = {"+": operator.add, "-": operator.sub, "*": operator.mul}[op](float(a), float(b))
    return to_float32(r) if t.kind is Kind.FLOAT else r


class _Compiler:
    def __init__(self, cr: CheckedRule):
        self.cr = cr

    def expr(self, e: Expr) -> Fn:
        t = self.cr.type_of(e)
        if isinstance(e, Col):
            col = self.cr.schema.column(e.name)
            name = col.name
            return lambda row: normalize_input(col, t, row.get(name))
        if isinstance(e, Lit):
            v = e.value
            return lambda row: v
        if isinstance(e, Template):
            return self._template(e)
        if isinstance(e, Not):
            f = self.expr(e.operand)
            return lambda row: None if (v := f(row)) is None else not v
        if isinstance(e, IsNull):
            f, neg = self.expr(e.operand), e.negated
            return lambda row: (f(row) is None) != neg
        if isinstance(e, In):
            return self._in(e)
        if isinstance(e, BinOp):
            return self._binop(e, t)
        if isinstance(e, Call):
            return self._call(e, t)
        raise AssertionError(e)

    def _text(self, e: Expr) -> Fn:
        f, t = self.expr(e), self.cr.type_of(e)
        return lambda row: to_text_py(f(row), t)

    def _template(self, e: Template) -> Fn:
        parts = [p if isinstance(p, str) else self._text(p) for p in e.parts]

        def run(row: Row):
            # every hole is evaluated (a bad value anywhere rejects, as in Spark), then nulls propagate
            out = [p if isinstance(p, str) else p(row) for p in parts]
            return None if None in out else "".join(out)
        return run

    def _floats(self, *es: Expr) -> bool:
        return any(self.cr.type_of(x).kind in (Kind.FLOAT, Kind.DOUBLE) for x in es)

    def _in(self, e: In) -> Fn:
        f, items, neg = self.expr(e.operand), [self.expr(i) for i in e.items], e.negated
        key = _spark_order if self._floats(e.operand, *e.items) else _same

        def run(row: Row):
            v = f(row)
            values = [i(row) for i in items]
            if v is None:
                return None
            if any(x is not None and key(x) == key(v) for x in values):
                return not neg
            return None if any(x is None for x in values) else neg
        return run

    def _binop(self, e: BinOp, t: VType) -> Fn:
        fa, fb = self.expr(e.left), self.expr(e.right)
        op = e.op
        if op == "and":
            def run_and(row: Row):
                a, b = fa(row), fb(row)
                if a is False or b is False:
                    return False
                return None if a is None or b is None else True
            return run_and
        if op == "or":
            def run_or(row: Row):
                a, b = fa(row), fb(row)
                if a is True or b is True:
                    return True
                return None if a is None or b is None else False
            return run_or
        if op in _COMPARE:
            cmp = _COMPARE[op]
            key = _spark_order if self._floats(e.left, e.right) else _same

            def run_compare(row: Row):
                a, b = fa(row), fb(row)
                return None if a is None or b is None else cmp(key(a), key(b))
            return run_compare

        def run_arith(row: Row):
            a, b = fa(row), fb(row)
            return None if a is None or b is None else _arith(op, a, b, t)
        return run_arith

    def _call(self, e: Call, t: VType) -> Fn:
        """Through the function's entry (keymap.functions); lazy ones get the compiled arguments."""
        fn = FUNCTIONS[e.name]
        if fn.nulls.lazy:
            return fn.py(*[self.expr(a) for a in e.args])
        args = [self._text(a) if fn.param(i).as_text else self.expr(a) for i, a in enumerate(e.args)]
        impl = partial(fn.py, types=[self.cr.type_of(a) for a in e.args]) if fn.typed else fn.py

        def run(row: Row):
            values = [a(row) for a in args]
            return None if any(v is None for v in values) else impl(*values)
        return run


# --- rules ---------------------------------------------------------------------------------------


def _source_key(cr: CheckedRule) -> Callable[[Row], str]:
    cols = [(c, cr.schema.column(c)) for c in cr.schema.primary_key]

    def run(row: Row) -> str:
        parts = []
        for name, col in cols:
            t = value_type(col)
            try:
                text = to_text_py(normalize_input(col, t, row.get(col.name)), t)
            except BadValue:
                text = None
            parts.append(f"{name}={'null' if text is None else text}")
        return ", ".join(parts)
    return run


def compile_rule(cr: CheckedRule, version: int | None = None) -> Callable[..., Result]:
    """A function `(row, version=None) -> Result` for one checked rule."""
    c = _Compiler(cr)
    rule = cr.rule
    where = c.expr(cr.where) if cr.where is not None else None
    attrs = [(a, c.expr(a.expr)) for a in cr.attributes]
    source_key = _source_key(cr)
    null_attr = AttrValue("NULL", True)

    nkeys = len(cr.keys)

    def reject(row: Row, reason: str, detail: str, out: list[tuple[str, AttrValue]] | None = None) -> Result:
        """A rejection; with the key when every key attribute was made (replay tombstones its old item)."""
        key = item_json(out[:nkeys]) if out is not None and len(out) >= nkeys else None
        return Result(rule.name, rule.target, "rejected", reason=reason,
                      message=f"{rule.name}: {detail}; source key {source_key(row)}", rejected_key=key)

    def run(row: Row, version: int | None = version) -> Result:
        if where is not None:
            try:
                keep = where(row)
            except BadValue as e:
                return reject(row, e.reason, f"{e.reason} in where")
            if keep is not True:
                return Result(rule.name, rule.target, "filtered")
        out: list[tuple[str, AttrValue]] = []
        for i, (a, f) in enumerate(attrs):
            try:
                av = attr_value(f(row), a.type)
            except BadValue as e:
                return reject(row, e.reason, f"{e.reason} in attribute {a.name}", out)
            if a.is_key:
                limit = KEY_LIMITS[i]
                if av is None:
                    return reject(row, "null_key", f"key attribute {a.name} is null")
                if av.is_empty_key():
                    return reject(row, "empty_key", f"key attribute {a.name} is empty")
                if av.size() > limit:
                    return reject(row, "key_too_large", f"key attribute {a.name} is larger than {limit} bytes")
            if av is None and rule.nulls == "null" and a.type.kind is not Kind.SET:
                av = null_attr
            if av is not None:
                out.append((a.name, av))
        if version is not None:
            out.append((cr.version_attribute, AttrValue("N", str(int(version)))))
        size = item_size(out)
        if size > MAX_ITEM_BYTES:
            return reject(row, "item_too_large", f"item of {size} bytes exceeds {MAX_ITEM_BYTES} bytes", out)
        return Result(rule.name, rule.target, "item", item_json(out), item_json(out[:nkeys]), size)
    return run


class PythonMapper:
    """All rules of a checked mapping, compiled; `map_row` is what the replay Lambda calls."""

    def __init__(self, checked: CheckedMapping):
        checked.raise_on_errors()
        self.checked = checked
        self._rules = {s: [compile_rule(cr) for cr in checked.rules_for(s)] for s in checked.mapping.sources}

    @property
    def sources(self) -> list[str]:
        return list(self._rules)

    def map_row(self, source: str, row: Row, version: int | None = None) -> list[Result]:
        """One Result per rule of `source` (`db.table`) for a decoded row dict."""
        if source not in self._rules:
            raise KeyError(f"no mapping rule for {source}")
        return [f(row, version) for f in self._rules[source]]


def compile_python(checked: CheckedMapping) -> PythonMapper:
    return PythonMapper(checked)


