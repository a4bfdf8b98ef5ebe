"""Static checks and type checking of a mapping against source schemas.

`check(mapping, schemas)` resolves every rule (bare words, literal coercions), types every
expression node, and returns a `CheckedMapping` that both compilers consume, together with
errors (the mapping cannot run) and warnings (it runs, but a data engineer should look).
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass, field, replace
from decimal import Decimal

from mysql2dynamo.keymap.ast import (
    BinOp,
    Call,
    Col,
    Expr,
    In,
    IsNull,
    KeymapError,
    Lit,
    Location,
    Not,
    Template,
    columns,
)
from mysql2dynamo.keymap.functions import ANY_TEMPORAL, FUNCTIONS, INT_LIT, STR_LIT, TEMPORAL, strftime_tokens
from mysql2dynamo.keymap.items import KEY_LIMITS, MAX_ITEM_BYTES, number_size_bound
from mysql2dynamo.keymap.schema import TableSchema
from mysql2dynamo.keymap.spec import Mapping, Rule, ValueSpec
from mysql2dynamo.keymap.types import Kind, VType, value_type

KEY_KINDS = {Kind.NUMBER: "N", Kind.STRING: "S", Kind.BINARY: "B", Kind.DATE: "S", Kind.DATETIME: "S",
             Kind.TIME: "S", Kind.FLOAT: "N", Kind.DOUBLE: "N"}
NON_INJECTIVE = {"lower", "upper", "trim", "substr", "replace", "crc32", "md5", "hash_mod", "fmt_time",
                 "epoch_s", "epoch_ms", "length", "coalesce", "if"}


@dataclass(frozen=True)
class Diagnostic:
    level: str  # "error" | "warning"
    message: str
    location: Location | None = None

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.level}: {self.message}"


@dataclass(frozen=True)
class Attr:
    """One item attribute after checking: its expression and type (rest columns included)."""

    name: str
    expr: Expr
    type: VType
    is_key: bool = False


@dataclass
class CheckedRule:
    rule: Rule
    schema: TableSchema
    attributes: list[Attr]  # key attributes first, then declared, then rest
    where: Expr | None
    types: dict[int, VType] = field(default_factory=dict)  # id(node) -> type
    version_attribute: str = "_ver"

    @property
    def keys(self) -> list[Attr]:
        return [a for a in self.attributes if a.is_key]

    def type_of(self, e: Expr) -> VType:
        return self.types[id(e)]


@dataclass
class CheckedMapping:
    mapping: Mapping
    rules: list[CheckedRule]
    diagnostics: list[Diagnostic]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level == "warning"]

    def rules_for(self, source: str) -> list[CheckedRule]:
        return [r for r in self.rules if r.rule.source == source]

    def raise_on_errors(self) -> CheckedMapping:
        if self.errors:
            raise KeymapError("mapping has errors:\n" + "\n".join(str(d) for d in self.errors))
        return self


class _TypeError(Exception):
    def __init__(self, message: str, pos: int):
        super().__init__(message)
        self.pos = pos


def value_bound(t: VType) -> int | None:
    """Upper bound of a value's DynamoDB size in bytes (keymap.items rules), None when unknown."""
    if t.kind is Kind.NUMBER:
        return number_size_bound(t) if t.scale >= 0 else 1 + 20
    if t.kind in (Kind.FLOAT, Kind.DOUBLE):
        return 1 + 13
    if t.kind in (Kind.BOOL, Kind.NULL):
        return 1
    return t.max_bytes


def text_bound(t: VType) -> int | None:
    """Upper bound of the UTF-8 bytes of a value's text form (templates, str()), None when unknown."""
    if t.kind is Kind.NUMBER:
        return (t.precision if t.scale >= 0 else 39) + 2
    if t.kind in (Kind.FLOAT, Kind.DOUBLE):
        return 26
    if t.kind is Kind.BOOL:
        return 5
    if t.kind is Kind.NULL:
        return 0
    if t.kind is Kind.BINARY:
        return None if t.max_bytes is None else 2 * t.max_bytes
    if t.kind is Kind.SET:
        return None if t.max_bytes is None else t.max_bytes + len(t.members)
    return t.max_bytes  # strings, JSON text, DATE/DATETIME/TIME texts


def literal_type(v) -> VType:
    if v is None:
        return VType(Kind.NULL)
    if isinstance(v, bool):
        return VType(Kind.BOOL, nullable=False)
    if isinstance(v, int):
        return VType(Kind.NUMBER, nullable=False, precision=max(len(str(abs(v))), 1))
    if isinstance(v, Decimal):
        _, digits, exp = v.as_tuple()
        scale = max(-exp, 0)
        return VType(Kind.NUMBER, nullable=False, precision=max(len(digits), scale + 1), scale=scale)
    if isinstance(v, float):
        return VType(Kind.DOUBLE, nullable=False)
    if isinstance(v, dt.datetime):
        return VType(Kind.DATETIME, nullable=False, fsp=6)
    if isinstance(v, dt.date):
        return VType(Kind.DATE, nullable=False)
    return VType(Kind.STRING, nullable=False, max_bytes=len(str(v).encode()))


class _RuleChecker:
    def __init__(self, schema: TableSchema, loc: Location):
        self.schema, self.loc = schema, loc
        self.types: dict[int, VType] = {}

    # -- resolution: literal coercions that make comparisons well typed ----------------------
    def _coerce_literal(self, lit: Lit, to: VType) -> Lit:
        v = lit.value
        try:
            if to.kind is Kind.DATE and isinstance(v, str):
                return Lit(dt.date.fromisoformat(v), lit.pos)
            if to.kind is Kind.DATETIME and isinstance(v, str):
                return Lit(dt.datetime.fromisoformat(v), lit.pos)
        except ValueError:
            raise _TypeError(f"expected a {to.kind.value} literal like '2024-01-31', got {v!r}", lit.pos) from None
        if to.kind in (Kind.FLOAT, Kind.DOUBLE) and isinstance(v, (int, Decimal)) and not isinstance(v, bool):
            return Lit(float(v), lit.pos)
        return lit

    def resolve(self, e: Expr) -> Expr:
        """Rewrite literals compared with temporal/float values into those types."""
        if isinstance(e, BinOp):
            left, right = self.resolve(e.left), self.resolve(e.right)
            if e.op in ("=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/"):
                if isinstance(right, Lit) and not isinstance(left, Lit):
                    right = self._coerce_literal(right, self.infer(left))
                elif isinstance(left, Lit) and not isinstance(right, Lit):
                    left = self._coerce_literal(left, self.infer(right))
            return replace(e, left=left, right=right)
        if isinstance(e, In):
            operand = self.resolve(e.operand)
            t = self.infer(operand)
            items = tuple(self._coerce_literal(i, t) if isinstance(i, Lit) else self.resolve(i) for i in e.items)
            return replace(e, operand=operand, items=items)
        if isinstance(e, Call):
            return replace(e, args=tuple(self.resolve(a) for a in e.args))
        if isinstance(e, (Not, IsNull)):
            return replace(e, operand=self.resolve(e.operand))
        if isinstance(e, Template):
            return replace(e, parts=tuple(p if isinstance(p, str) else self.resolve(p) for p in e.parts))
        return e

    def infer(self, e: Expr) -> VType:
        """Type of `e` without recording (used while resolving)."""
        saved = dict(self.types)
        try:
            return self.type(e)
        finally:
            self.types = saved

    # -- typing ------------------------------------------------------------------------------
    def type(self, e: Expr) -> VType:
        t = self._type(e)
        self.types[id(e)] = t
        return t

    def _type(self, e: Expr) -> VType:
        if isinstance(e, Col):
            col = self.schema.column(e.name)
            if col is None:
                close = difflib.get_close_matches(e.name, self.schema.names, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise _TypeError(f"unknown column {e.name!r} in {self.schema.full_name}{hint}", e.pos)
            return value_type(col)
        if isinstance(e, Lit):
            return literal_type(e.value)
        if isinstance(e, Template):
            types = [self.type(p) for p in e.parts if isinstance(p, Expr)]
            nullable = any(t.nullable for t in types)
            bound = sum(len(p.encode()) for p in e.parts if isinstance(p, str))
            sizes = [text_bound(t) for t in types]
            return VType(Kind.STRING, nullable=nullable,
                         max_bytes=None if None in sizes else bound + sum(sizes))
        if isinstance(e, Not):
            return self._bool(self.type(e.operand), e.pos, "not")
        if isinstance(e, IsNull):
            self.type(e.operand)
            return VType(Kind.BOOL, nullable=False)
        if isinstance(e, In):
            t = self.type(e.operand)
            for item in e.items:
                self._comparable(t, self.type(item), item.pos)
            return VType(Kind.BOOL, nullable=t.nullable or any(self.types[id(i)].nullable for i in e.items))
        if isinstance(e, BinOp):
            return self._binop(e)
        if isinstance(e, Call):
            return self._call(e)
        raise AssertionError(e)

    def _bool(self, t: VType, pos: int, what: str) -> VType:
        if t.kind not in (Kind.BOOL, Kind.NULL):
            raise _TypeError(f"expected a condition for {what}, got {t}", pos)
        return VType(Kind.BOOL, nullable=t.nullable)

    def _comparable(self, a: VType, b: VType, pos: int) -> None:
        if Kind.NULL in (a.kind, b.kind):
            return
        floats = {Kind.FLOAT, Kind.DOUBLE}
        if a.kind in floats and b.kind in floats:
            return
        if a.kind != b.kind:
            raise _TypeError(f"cannot compare {a} with {b} (convert one side with str() or num())", pos)
        if a.kind is Kind.NUMBER and (a.spark_text or b.spark_text):
            raise _TypeError("numbers from num() or DECIMAL(>38) cannot be compared; compare their str()", pos)
        if a.kind in (Kind.JSON, Kind.SET):
            raise _TypeError(f"{a.kind.value} values cannot be compared", pos)

    def _binop(self, e: BinOp) -> VType:
        a, b = self.type(e.left), self.type(e.right)
        nullable = a.nullable or b.nullable
        if e.op in ("and", "or"):
            self._bool(a, e.left.pos, e.op)
            self._bool(b, e.right.pos, e.op)
            return VType(Kind.BOOL, nullable=nullable)
        if e.op in ("=", "!=", "<", "<=", ">", ">="):
            self._comparable(a, b, e.pos)
            return VType(Kind.BOOL, nullable=nullable)
        return self._arith(e.op, a, b, e.pos)

    def _arith(self, op: str, a: VType, b: VType, pos: int) -> VType:
        numeric = (Kind.NUMBER, Kind.FLOAT, Kind.DOUBLE, Kind.NULL)
        if a.kind not in numeric or b.kind not in numeric:
            raise _TypeError(f"expected numbers for '{op}', got {a} and {b} (use num() on text)", pos)
        if Kind.NULL in (a.kind, b.kind):
            return VType(Kind.NULL)
        if a.spark_text or b.spark_text:
            raise _TypeError("no arithmetic on num() results or DECIMAL(>38) columns", pos)
        if op == "/":
            for t in (a, b):
                if t.kind is Kind.NUMBER and t.precision > 15:
                    raise _TypeError(f"'/' converts to DOUBLE and needs exact numbers of at most 15 digits, "
                                     f"got {t}", pos)
            return VType(Kind.DOUBLE)
        if a.kind is Kind.NUMBER and b.kind is Kind.NUMBER:
            if op == "%":
                if a.scale or b.scale:
                    raise _TypeError("'%' needs integers", pos)
                return VType(Kind.NUMBER, precision=min(a.precision, b.precision))
            if op == "*":
                p, s = a.precision + b.precision + 1, a.scale + b.scale
            else:
                s = max(a.scale, b.scale)
                p = max(a.precision - a.scale, b.precision - b.scale) + s + 1
            if p > 38:
                raise _TypeError(f"result of '{op}' can need {p} digits (> 38), exact numbers stop at 38", pos)
            return VType(Kind.NUMBER, nullable=a.nullable or b.nullable, precision=p, scale=s)
        if a.kind is Kind.NUMBER or b.kind is Kind.NUMBER:
            raise _TypeError(f"cannot mix exact numbers and floating point in '{op}' (only with literals)", pos)
        if op == "%":
            raise _TypeError("'%' needs integers", pos)
        kind = Kind.FLOAT if a.kind is Kind.FLOAT and b.kind is Kind.FLOAT else Kind.DOUBLE
        return VType(kind, nullable=a.nullable or b.nullable)

    def _call(self, e: Call) -> VType:
        fn = FUNCTIONS.get(e.name)
        if fn is None:
            close = difflib.get_close_matches(e.name, list(FUNCTIONS), n=1)
            hint = f" (did you mean {close[0]}()?)" if close else ""
            raise _TypeError(f"unknown function {e.name}(){hint}", e.pos)
        n = len(e.args)
        max_args = None if fn.varargs else len(fn.params)
        if n < fn.min_args or (max_args is not None and n > max_args):
            want = f"at least {fn.min_args}" if fn.varargs else (
                str(fn.min_args) if fn.min_args == max_args else f"{fn.min_args} to {max_args}")
            raise _TypeError(f"{e.name}() takes {want} argument(s), got {n}", e.pos)
        types = [self.type(a) for a in e.args]
        for i, (arg, t) in enumerate(zip(e.args, types, strict=True)):
            param = fn.params[min(i, len(fn.params) - 1)]
            self._check_param(e.name, param, arg, t, i + 1)
        try:
            result = fn.result(types)
        except TypeError as err:
            raise _TypeError(f"{e.name}(): {err}", e.pos) from None
        if e.name == "coalesce":
            nullable = all(t.nullable for t in types)
        elif e.name == "if":
            nullable = types[1].nullable or types[2].nullable
        else:
            nullable = any(t.nullable for t in types) or e.name in ("num", "json")
        if e.name in ("coalesce", "if"):
            branches = types if e.name == "coalesce" else types[1:]
            bounds = [t.max_bytes for t in branches if t.kind is not Kind.NULL]
            result = result.but(max_bytes=None if None in bounds else max(bounds, default=0))
        if result.kind is Kind.STRING:
            result = result.but(max_bytes=self._text_bound(e, types) if e.name not in ("str", "iso")
                                else text_bound(types[0]))
        return result.but(nullable=nullable or result.kind is Kind.NULL)

    @staticmethod
    def _text_bound(e: Call, types: list[VType]) -> int | None:
        """Upper bound of a text result's UTF-8 bytes (None: unknown); the Spark compiler skips
        size checks that these bounds prove can never fire, so they must never be too small."""
        if e.name == "md5":
            return 32
        if e.name == "replace":
            return None
        if e.name == "fmt_time":
            return 6 * len(e.args[1].value.encode())  # type: ignore[attr-defined]  # %f -> 6 bytes
        sizes = [text_bound(t) for a, t in zip(e.args, types, strict=True)
                 if not (isinstance(a, Lit) and isinstance(a.value, int) and e.name in ("pad", "rpad", "substr"))]
        if None in sizes:
            return None
        total = sum(sizes)
        if e.name in ("lower", "upper"):
            return 3 * total  # Unicode case mapping can expand a character up to three
        if e.name in ("pad", "rpad"):
            return total + 4 * e.args[1].value  # type: ignore[attr-defined]
        return total

    def _check_param(self, fname: str, param: str, arg: Expr, t: VType, i: int) -> None:
        where = f"{fname}() argument {i}"
        if param == INT_LIT and not (isinstance(arg, Lit) and isinstance(arg.value, int)
                                     and not isinstance(arg.value, bool)):
            raise _TypeError(f"expected an integer literal for {where}", arg.pos)
        if param == INT_LIT and fname in ("pad", "rpad", "hash_mod") and arg.value <= 0:
            raise _TypeError(f"expected a positive integer for {where}", arg.pos)
        if param == STR_LIT:
            if not (isinstance(arg, Lit) and isinstance(arg.value, str)):
                raise _TypeError(f"expected a string literal for {where}", arg.pos)
            if fname in ("pad", "rpad") and not arg.value:
                raise _TypeError(f"expected a non-empty fill text for {where}", arg.pos)
            if fname == "fmt_time":
                try:
                    strftime_tokens(arg.value)
                except ValueError as err:
                    raise _TypeError(str(err), arg.pos) from None
        if param == TEMPORAL and t.kind not in (Kind.DATE, Kind.DATETIME, Kind.NULL):
            raise _TypeError(f"expected a DATE or DATETIME for {where}, got {t}", arg.pos)
        if param == ANY_TEMPORAL and t.kind not in (Kind.DATE, Kind.DATETIME, Kind.TIME, Kind.NULL):
            raise _TypeError(f"expected a DATE, DATETIME or TIME for {where}, got {t}", arg.pos)
        if param == "bool":
            self._bool(t, arg.pos, fname)


def _natural(t: VType) -> str:
    return {Kind.NUMBER: "N", Kind.FLOAT: "N", Kind.DOUBLE: "N", Kind.BINARY: "B", Kind.JSON: "M/L",
            Kind.SET: "SS", Kind.BOOL: "BOOL", Kind.NULL: "NULL"}.get(t.kind, "S")


def _bare_word(spec: ValueSpec, schema: TableSchema) -> Expr:
    """`SK: PROFILE` is the text PROFILE unless the table has a column of exactly that name
    (case-sensitive here, so the sample's `profile` column does not capture `PROFILE`)."""
    e = spec.expr
    if isinstance(e, Col) and isinstance(spec.raw, str) and spec.raw.strip() == e.name \
            and e.name not in schema.names:
        return Lit(e.name, e.pos)
    return e


def check_rule(rule: Rule, schema: TableSchema, version_attribute: str) -> tuple[CheckedRule | None,
                                                                               list[Diagnostic]]:
    diags: list[Diagnostic] = []
    rc = _RuleChecker(schema, rule.loc)
    attrs: list[Attr] = []

    def typed(spec_expr: Expr, loc: Location) -> tuple[Expr, VType] | None:
        try:
            e = rc.resolve(spec_expr)
            return e, rc.type(e)
        except _TypeError as err:
            diags.append(Diagnostic("error", f"{rule.name}: {err}", loc.at(err.pos)))
            return None

    for name, spec in rule.key.items():
        r = typed(_bare_word(spec, schema), spec.loc)
        if r is None:
            continue
        e, t = r
        if t.kind not in KEY_KINDS:
            diags.append(Diagnostic("error", f"{rule.name}: key attribute {name} must be S, N or B, "
                                    f"got {_natural(t)} from {t}", spec.loc))
        elif t.nullable:
            cols = sorted(c for c in columns(e) if (col := schema.column(c)) is not None and col.nullable)
            diags.append(Diagnostic("warning", f"{rule.name}: key attribute {name} can be null (nullable column(s) "
                                    f"{', '.join(cols) or 'in the expression'}): such rows are rejected as "
                                    f"null_key; wrap with coalesce()", spec.loc))
        attrs.append(Attr(name, e, t, is_key=True))
    for name, spec in rule.attributes.items():
        if name in rule.key:
            diags.append(Diagnostic("error", f"{rule.name}: attribute {name} is also a key attribute", spec.loc))
            continue
        r = typed(_bare_word(spec, schema), spec.loc)
        if r is None:
            continue
        e, t = r
        if t.kind is Kind.NUMBER and t.precision > 38 and not isinstance(e, Template):
            diags.append(Diagnostic("error", f"{rule.name}: attribute {name} is {t}: more than 38 digits do not "
                                    f"fit a DynamoDB number; map it with str()", spec.loc))
        attrs.append(Attr(name, e, t))
    if rule.ttl is not None:
        ttl = next((a for a in attrs if a.name == rule.ttl), None)
        if ttl is None:
            diags.append(Diagnostic("error", f"{rule.name}: ttl attribute {rule.ttl!r} is not an attribute of "
                                    f"this rule", rule.loc))
        elif ttl.type.kind is not Kind.NUMBER or ttl.type.scale:
            diags.append(Diagnostic("error", f"{rule.name}: ttl attribute {rule.ttl} must be an integer number "
                                    f"(epoch seconds, e.g. epoch_s(expires_at)), got {ttl.type}", rule.loc))
    for c in rule.exclude:
        if schema.column(c) is None:
            diags.append(Diagnostic("error", f"{rule.name}: excluded column {c!r} does not exist in "
                                    f"{schema.full_name}", rule.loc))
    if rule.rest:
        taken = {a.name for a in attrs} | {version_attribute}
        excluded = {c.lower() for c in rule.exclude}
        for col in schema.columns:
            if col.name not in taken and col.name.lower() not in excluded:
                t = value_type(col)
                if t.kind is Kind.NUMBER and t.precision > 38:
                    diags.append(Diagnostic("error", f"{rule.name}: rest column {col.name} is {col.column_type}: "
                                            f"more than 38 digits; exclude it or map it with str()", rule.loc))
                    continue
                e = Col(col.name)
                rc.types[id(e)] = t
                attrs.append(Attr(col.name, e, t))
    where = None
    if rule.where is not None:
        r = typed(rule.where.expr, rule.where.loc)
        if r is not None:
            where, t = r
            if t.kind not in (Kind.BOOL, Kind.NULL):
                diags.append(Diagnostic("error", f"{rule.name}: where must be a condition, got {t}", rule.where.loc))
    if version_attribute in {a.name for a in attrs}:
        diags.append(Diagnostic("error", f"{rule.name}: attribute {version_attribute} is reserved for the version",
                                rule.loc))
    if any(d.level == "error" for d in diags):
        return None, diags
    checked = CheckedRule(rule, schema, attrs, where, rc.types, version_attribute)
    diags += _key_warnings(checked) + _size_warnings(checked) + _fk_warnings(checked)
    return checked, diags


def _key_warnings(cr: CheckedRule) -> list[Diagnostic]:
    pk = cr.schema.primary_key
    if not pk:
        return [Diagnostic("warning", f"{cr.rule.name}: {cr.schema.full_name} has no primary key: rows cannot be "
                           f"told apart and replay cannot find their items", cr.rule.loc)]
    used = set().union(*(columns(a.expr) for a in cr.keys)) if cr.keys else set()
    missing = [c for c in pk if c not in used]
    out = []
    if missing:
        out.append(Diagnostic("warning", f"{cr.rule.name}: the key does not contain primary key column(s) "
                              f"{', '.join(missing)}: two rows can map to one item, "
                              f"{_collision_example(cr, missing)}", cr.rule.loc))
    lossy = sorted({n.name for a in cr.keys for n in _walk(a.expr) if isinstance(n, Call)
                    and n.name in NON_INJECTIVE and columns(n) & set(pk)})
    if lossy and not missing:
        out.append(Diagnostic("warning", f"{cr.rule.name}: the key passes primary key columns through "
                              f"{', '.join(f + '()' for f in lossy)}, which can map different rows to one item",
                              cr.rule.loc))
    return out


def _walk(e: Expr):
    from mysql2dynamo.keymap.ast import walk

    return walk(e)


def _collision_example(cr: CheckedRule, missing: list[str]) -> str:
    """Two sample rows that differ only in the missing primary key columns, and their key."""
    from mysql2dynamo.keymap.compile_python import compile_rule
    from mysql2dynamo.keymap.preview import sample_row

    row1 = sample_row(cr.schema, 1)
    row2 = dict(row1)
    for c in missing:
        row2[c] = sample_row(cr.schema, 2)[c]
    result = compile_rule(cr)(row1)
    pk = ", ".join(f"{c}" for c in cr.schema.primary_key)
    if result.key is None:
        return f"e.g. rows differing only in ({pk})"
    return (f"e.g. rows with ({pk}) = ({', '.join(repr(row1[c]) for c in cr.schema.primary_key)}) and "
            f"({', '.join(repr(row2[c]) for c in cr.schema.primary_key)}) both get key {result.key}")


def _size_warnings(cr: CheckedRule) -> list[Diagnostic]:
    total, unbounded = 0, []
    for a in cr.attributes:
        size = value_bound(a.type)
        if size is None:
            unbounded.append(a.name)
            continue
        total += len(a.name.encode()) + size
    out = []
    for a in cr.keys:
        limit = KEY_LIMITS[0 if a is cr.keys[0] else 1]
        if a.type.max_bytes is not None and a.type.max_bytes > limit:
            out.append(Diagnostic("warning", f"{cr.rule.name}: key attribute {a.name} can exceed DynamoDB's "
                                  f"{limit}-byte key limit (up to {a.type.max_bytes} bytes): such rows are "
                                  f"rejected as key_too_large", cr.rule.loc))
    huge = {"json", "mediumtext", "longtext", "mediumblob", "longblob"}
    from_huge = [a.name for a in cr.attributes if a.name in unbounded and any(
        (col := cr.schema.column(c)) is not None and col.data_type in huge for c in columns(a.expr))]
    if total > MAX_ITEM_BYTES or from_huge:
        extra = f" (unbounded: {', '.join(unbounded)})" if unbounded else ""
        out.append(Diagnostic("warning", f"{cr.rule.name}: items can exceed DynamoDB's 400 KB limit: known "
                              f"attributes alone reach {total} bytes{extra}; such rows are rejected as "
                              f"item_too_large", cr.rule.loc))
    return out


def item_bound(cr: CheckedRule) -> int | None:
    """Upper bound of the rule's item size (the version attribute included), None when unknown."""
    sizes = [value_bound(a.type) for a in cr.attributes]
    if None in sizes:
        return None
    return sum(len(a.name.encode()) + size for a, size in zip(cr.attributes, sizes, strict=True)) \
        + len(cr.version_attribute.encode()) + 21


def _fk_warnings(cr: CheckedRule) -> list[Diagnostic]:
    return [Diagnostic("warning", f"{cr.rule.name}: foreign key {fk.name} ({', '.join(fk.columns)}) -> {fk.parent} "
                       f"has ON DELETE {fk.on_delete} / ON UPDATE {fk.on_update}: cascaded changes are made by "
                       f"the storage engine and are NOT in the binlog, so replay will miss them", cr.rule.loc)
            for fk in cr.schema.foreign_keys if fk.cascades]


def check(mapping: Mapping, schemas: dict[str, TableSchema]) -> CheckedMapping:
    """Type-check every rule of `mapping` against `schemas` (keyed by `db.table`)."""
    rules, diags = [], []
    for rule in mapping.rules:
        schema = schemas.get(rule.source)
        if schema is None:
            diags.append(Diagnostic("error", f"{rule.name}: source table {rule.source} not found", rule.loc))
            continue
        checked, d = check_rule(rule, schema, mapping.version_attribute)
        diags += d
        if checked:
            rules.append(checked)
    return CheckedMapping(mapping, rules, diags)
