"""The type checker: resolves every rule's expressions (bare words, literal coercions), types every
node, and reports what keeps the mapping from running as errors with their file:line:col.
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import replace
from decimal import Decimal

from mysql2dynamo.keymap.ast import BinOp, Call, Col, Expr, In, IsNull, Lit, Location, Not, Template
from mysql2dynamo.keymap.checked import Attr, CheckedRule, Diagnostic
from mysql2dynamo.keymap.function_entry import Arg, Param, text_of
from mysql2dynamo.keymap.functions import FUNCTIONS
from mysql2dynamo.keymap.item_rules import KEY_KINDS, NATURAL_TYPES
from mysql2dynamo.keymap.schema import TableSchema
from mysql2dynamo.keymap.spec import Rule, ValueSpec
from mysql2dynamo.keymap.types import Kind, VType, value_type


class _TypeError(Exception):
    def __init__(self, message: str, pos: int):
        super().__init__(message)
        self.pos = pos


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
    def __init__(self, schema: TableSchema):
        self.schema = schema
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
            unsupported = self.schema.unsupported_type(e.name)
            if col is None and unsupported is not None:
                raise _TypeError(unsupported_message(self.schema, e.name, unsupported), e.pos)
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
            size = text_of(*(Arg(t) for t in types))
            return VType(Kind.STRING, nullable=nullable, max_bytes=None if size is None else bound + size)
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
        if (arity := fn.arity_error(len(e.args))) is not None:
            raise _TypeError(arity, e.pos)
        types = [self.type(a) for a in e.args]
        for i, (arg, t) in enumerate(zip(e.args, types, strict=True)):
            self._check_arg(fn.param(i), arg, t, f"{e.name}() argument {i + 1}")
        try:
            result = fn.result(types)
        except TypeError as err:
            raise _TypeError(f"{e.name}(): {err}", e.pos) from None
        args = [Arg(t, a.value if isinstance(a, Lit) else None) for a, t in zip(e.args, types, strict=True)]
        return result.but(max_bytes=fn.size(args), nullable=fn.nullable(types) or result.kind is Kind.NULL)

    @staticmethod
    def _check_arg(param: Param, arg: Expr, t: VType, where: str) -> None:
        if param.literal is not None:
            if not (isinstance(arg, Lit) and type(arg.value) is param.literal):
                raise _TypeError(f"expected {param.what} for {where}", arg.pos)
            problem = param.check(arg.value, where) if param.check else None
            if problem:
                raise _TypeError(problem, arg.pos)
        elif param.kinds is not None and t.kind not in param.kinds | {Kind.NULL}:
            raise _TypeError(f"expected {param.what} for {where}, got {t}", arg.pos)


def _bare_word(spec: ValueSpec, schema: TableSchema) -> Expr:
    """`SK: PROFILE` is the text PROFILE unless the table has a column of exactly that name
    (case-sensitive here, so the sample's `profile` column does not capture `PROFILE`)."""
    e = spec.expr
    if isinstance(e, Col) and isinstance(spec.raw, str) and spec.raw.strip() == e.name \
            and e.name not in schema.names and schema.unsupported_type(e.name) is None:
        return Lit(e.name, e.pos)
    return e


def unsupported_message(schema: TableSchema, name: str, column_type: str) -> str:
    return (f"column {schema.full_name}.{name} is {column_type}, a type mysql2dynamo cannot carry: exclude it "
            f"(exclude: [{name}]) or convert it in the source")


def typecheck_rule(rule: Rule, schema: TableSchema, version_attribute: str
                   ) -> tuple[CheckedRule | None, list[Diagnostic]]:
    """Resolve and type every expression of `rule`: the checked rule (None on errors) and the errors."""
    errors: list[Diagnostic] = []
    rc = _RuleChecker(schema)
    attrs: list[Attr] = []

    def typed(spec_expr: Expr, loc: Location) -> tuple[Expr, VType] | None:
        try:
            e = rc.resolve(spec_expr)
            return e, rc.type(e)
        except _TypeError as err:
            errors.append(Diagnostic("error", f"{rule.name}: {err}", loc.at(err.pos)))
            return None

    for name, spec in rule.key.items():
        r = typed(_bare_word(spec, schema), spec.loc)
        if r is None:
            continue
        e, t = r
        if t.kind not in KEY_KINDS:
            errors.append(Diagnostic("error", f"{rule.name}: key attribute {name} must be S, N or B, "
                                     f"got {NATURAL_TYPES[t.kind]} from {t}", spec.loc))
        attrs.append(Attr(name, e, t, is_key=True))
    for name, spec in rule.attributes.items():
        if name in rule.key:
            errors.append(Diagnostic("error", f"{rule.name}: attribute {name} is also a key attribute", spec.loc))
            continue
        r = typed(_bare_word(spec, schema), spec.loc)
        if r is None:
            continue
        e, t = r
        if t.kind is Kind.NUMBER and t.precision > 38 and not isinstance(e, Template):
            errors.append(Diagnostic("error", f"{rule.name}: attribute {name} is {t}: more than 38 digits do not "
                                     f"fit a DynamoDB number; map it with str()", spec.loc))
        attrs.append(Attr(name, e, t))
    if rule.ttl is not None:
        ttl = next((a for a in attrs if a.name == rule.ttl), None)
        if ttl is None:
            errors.append(Diagnostic("error", f"{rule.name}: ttl attribute {rule.ttl!r} is not an attribute of "
                                     f"this rule", rule.loc))
        elif ttl.type.kind is not Kind.NUMBER or ttl.type.scale:
            errors.append(Diagnostic("error", f"{rule.name}: ttl attribute {rule.ttl} must be an integer number "
                                     f"(epoch seconds, e.g. epoch_s(expires_at)), got {ttl.type}", rule.loc))
    for c in rule.exclude:
        if schema.column(c) is None and schema.unsupported_type(c) is None:
            errors.append(Diagnostic("error", f"{rule.name}: excluded column {c!r} does not exist in "
                                     f"{schema.full_name}", rule.loc))
    if rule.rest:
        taken = {a.name for a in attrs} | {version_attribute}
        excluded = {c.lower() for c in rule.exclude}
        errors += [Diagnostic("error", f"{rule.name}: {unsupported_message(schema, name, type_)}", rule.loc)
                   for name, type_ in schema.unsupported if name.lower() not in excluded and name not in taken]
        for col in schema.columns:
            if col.name not in taken and col.name.lower() not in excluded:
                t = value_type(col)
                if t.kind is Kind.NUMBER and t.precision > 38:
                    errors.append(Diagnostic("error", f"{rule.name}: rest column {col.name} is {col.column_type}: "
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
                errors.append(Diagnostic("error", f"{rule.name}: where must be a condition, got {t}", rule.where.loc))
    if version_attribute in {a.name for a in attrs}:
        errors.append(Diagnostic("error", f"{rule.name}: attribute {version_attribute} is reserved for the version",
                                 rule.loc))
    if errors:
        return None, errors
    return CheckedRule(rule, schema, attrs, where, rc.types, version_attribute), errors


