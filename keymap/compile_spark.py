"""Compile checked rules to ONE Spark select of native expressions (the bulk load, verify).

`compile_spark(checked, source)` returns a `SparkRules`; `rules.apply(df, version=...)` maps
a snapshot DataFrame (Spark types of `keymap.types.spark_type`) to one row per (source row,
rule) with columns:

    _rule, _target     which rule made the row, and its DynamoDB table
    _item              the item as compact DynamoDB JSON (null when rejected) -- the text the
                       EMR connector's JSON converter reads
    _key               DynamoDB JSON of the key attributes only (collision checks)
    _size              item size in bytes (DynamoDB rules, see keymap.item_rules)
    _reject_reason     null, or null_key / empty_key / key_too_large / bad_value /
                       number_too_large / item_too_large
    _reject_message    "<rule>: <detail>; source key <pk=...>"
    + `keep` columns passed through unchanged

No Python UDF, pandas UDF or RDD map: the texts are built by Spark's own to_json, cast,
date_format, lpad..., and they equal what `compile_python` produces byte for byte. The expressions are
written as Spark SQL text (keymap.spark_sql, pyspark's `functions` API) and each projection is applied
with one `selectExpr`: a pyspark Column per node cost a py4j round trip each (~45,000 for the sample
shop's mapping, 10-25 s of a cold verify).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mysql2dynamo.keymap import spark_sql as F
from mysql2dynamo.keymap.ast import BinOp, Call, Col, Expr, In, IsNull, Lit, Not, Template
from mysql2dynamo.keymap.checked import CheckedMapping, CheckedRule
from mysql2dynamo.keymap.functions import FUNCTIONS
from mysql2dynamo.keymap.item_rules import KEY_LIMITS, MAX_ITEM_BYTES, value_bound
from mysql2dynamo.keymap.spark_sql import Column, quote
from mysql2dynamo.keymap.spark_value import SV, first_error, null_text
from mysql2dynamo.keymap.text import float_error_spark, to_text_spark
from mysql2dynamo.keymap.types import JSON_MAX_DEPTH, Kind, VType

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

JSON_OPTIONS = {"ignoreNullFields": "true"}


def float_reason(c: Column, t: VType) -> Column:
    """Reason code where a FLOAT/DOUBLE value has no portable number text (see keymap.values)."""
    return (F.when(c.isNull(), null_text())
            .when(F.isnan(c) | (F.abs(c) == float("inf")), F.lit("bad_value"))
            .when(float_error_spark(c, t), F.lit("number_too_large")))


# --- JSON text -> DynamoDB JSON, natively, through Spark's variant ----------------------------------


def _json_key(k: Column) -> Column:
    j = F.to_json(F.struct(k.alias("k")))  # {"k":"..."} with Jackson's escaping
    return F.substring(j, F.lit(6), F.length(j) - 6)


def _variant_scalar(v: Column) -> Column:
    kind = F.schema_of_variant(v)
    as_double = F.try_variant_get(v, "$", "double")
    a = F.abs(as_double)
    number = F.concat(F.lit('{"N":"'), F.to_json(v), F.lit('"}'))
    return (F.when(F.is_variant_null(v), F.lit('{"NULL":true}'))
            .when(kind == "STRING", F.concat(F.lit('{"S":'), F.to_json(v), F.lit("}")))
            .when(kind == "BOOLEAN", F.concat(F.lit('{"BOOL":'), F.to_json(v), F.lit("}")))
            .when(kind == "DOUBLE", F.when((a == 0) | ((a >= 2.0**-1022) & (a < 2.0**63)), number))
            .otherwise(number))


def _variant_ddb(v: Column, depth: int) -> Column:
    """DynamoDB JSON of a variant, unrolled to JSON_MAX_DEPTH levels (deeper: null = bad value)."""
    if depth > JSON_MAX_DEPTH:
        return null_text()
    obj = F.try_variant_get(v, "$", "map<string,variant>")
    arr = F.try_variant_get(v, "$", "array<variant>")
    entries = F.when(obj.isNotNull(), F.transform(F.map_entries(obj), lambda e: F.struct(
        F.concat(_json_key(e["key"]), F.lit(":")).alias("p"), e["value"].alias("v")))) \
        .otherwise(F.transform(arr, lambda x: F.struct(F.lit("").alias("p"), x.alias("v"))))
    # one reference to the next level only (a second one would double the tree per level);
    # concat propagates a null child (too deep / unsupported number) to the whole value
    body = F.aggregate(entries, F.lit(""), lambda acc, e: F.concat(
        acc, F.when(acc == "", F.lit("")).otherwise(F.lit(",")), e["p"], _variant_ddb(e["v"], depth + 1)))
    open_ = F.when(obj.isNotNull(), F.lit('{"M":{')).otherwise(F.lit('{"L":['))
    close = F.when(obj.isNotNull(), F.lit("}}")).otherwise(F.lit("]}"))
    return F.when(obj.isNotNull() | arr.isNotNull(), F.concat(open_, body, close)).otherwise(_variant_scalar(v))


def json_to_dynamo(text: Column, stage: Callable[[str, Column], Column]) -> SV:
    """DynamoDB JSON text of a JSON text column; the error is bad_value for invalid/unsupported JSON.

    The unrolled conversion is a large tree (about 1 MB serialized, seconds to plan): `stage` computes it
    once, in a projection of its own, and the four expressions of the attribute that use it reference it
    by name (copied into each, it made every Spark job of a JSON mapping ship a 4 MB task binary per column).
    """
    ddb = stage("j", _variant_ddb(F.try_parse_json(text), 1))
    return SV(ddb, F.when(stage("jn", text.isNotNull()) & ddb.isNull(), F.lit("bad_value")))


# --- expressions ----------------------------------------------------------------------------------


def _lit(v, t: VType) -> Column:
    import datetime as dt
    from decimal import Decimal

    if v is None:
        return F.lit(None)
    if isinstance(v, dt.datetime):
        return F.lit(v.isoformat(" ")).cast("timestamp_ntz")
    if isinstance(v, int) and not isinstance(v, bool) and not -(2**63) <= v < 2**63:
        return F.lit(Decimal(v)).cast(f"decimal({t.precision},0)")
    if isinstance(v, Decimal):
        return F.lit(v).cast(f"decimal({t.precision},{t.scale})")
    return F.lit(v)


def _as_decimal(c: Column, t: VType) -> Column:
    return c.cast(f"decimal({max(t.precision, 1)},{t.scale})")


class _Compiler:
    def __init__(self, cr: CheckedRule):
        self.cr = cr

    def expr(self, e: Expr) -> SV:
        t = self.cr.type_of(e)
        if isinstance(e, Col):
            return SV(F.col(quote(self.cr.schema.column(e.name).name)))
        if isinstance(e, Lit):
            return SV(_lit(e.value, t))
        if isinstance(e, Template):
            parts = [SV(F.lit(p)) if isinstance(p, str) else self.text(p) for p in e.parts]
            return SV(F.concat(*[p.col for p in parts]), first_error(*[p.err for p in parts]))
        if isinstance(e, Not):
            a = self.expr(e.operand)
            return SV(~a.col, a.err)
        if isinstance(e, IsNull):
            a = self.expr(e.operand)
            return SV(a.col.isNotNull() if e.negated else a.col.isNull(), a.err)
        if isinstance(e, In):
            a, items = self.expr(e.operand), [self.expr(i) for i in e.items]
            c = a.col.isin(*[i.col for i in items])
            return SV(~c if e.negated else c, first_error(a.err, *[i.err for i in items]))
        if isinstance(e, BinOp):
            return self._binop(e, t)
        if isinstance(e, Call):
            return self._call(e, t)
        raise AssertionError(e)

    def text(self, e: Expr) -> SV:
        """The text form of `e` (see keymap.text.to_text_spark), with float errors."""
        v, t = self.expr(e), self.cr.type_of(e)
        err = float_reason(v.col, t) if t.kind in (Kind.FLOAT, Kind.DOUBLE) else None
        return SV(to_text_spark(v.col, t), first_error(v.err, err))

    def _binop(self, e: BinOp, t: VType) -> SV:
        a, b = self.expr(e.left), self.expr(e.right)
        err = first_error(a.err, b.err)
        op = e.op
        if op == "and":
            return SV(a.col & b.col, err)
        if op == "or":
            return SV(a.col | b.col, err)
        if op in ("=", "!=", "<", "<=", ">", ">="):
            x, y = a.col, b.col
            col = {"=": x == y, "!=": x != y, "<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]
            return SV(col, err)
        if t.kind is Kind.NULL:
            return SV(F.lit(None), err)
        if op == "/":
            return SV(F.try_divide(a.col.cast("double"), b.col.cast("double")), err)
        if t.kind is Kind.NUMBER:
            ta, tb = self.cr.type_of(e.left), self.cr.type_of(e.right)
            x, y = _as_decimal(a.col, ta), _as_decimal(b.col, tb)
            col = {"+": x + y, "-": x - y, "*": x * y}.get(op) if op != "%" else F.try_mod(x, y)
            return SV(col.cast(f"decimal({t.precision},{t.scale})"), err)
        x, y = a.col, b.col
        col = {"+": x + y, "-": x - y, "*": x * y}[op]
        return SV(col.cast("float") if t.kind is Kind.FLOAT else col.cast("double"), err)

    def _call(self, e: Call, t: VType) -> SV:
        """Through the function's entry (keymap.functions); lazy ones get the compiled arguments."""
        fn = FUNCTIONS[e.name]
        if fn.nulls.lazy:
            return fn.spark(*[self._cast_common(self.expr(a), self.cr.type_of(a), t) if fn.param(i).branch
                              else self.expr(a) for i, a in enumerate(e.args)])
        cols, errs = [], []
        for i, arg in enumerate(e.args):
            param = fn.param(i)
            if param.literal is not None:
                cols.append(arg.value)  # type: ignore[attr-defined]
                continue
            v = self.text(arg) if param.as_text else self.expr(arg)
            cols.append(v.col)
            errs.append(v.err)
        typed = {"types": [self.cr.type_of(a) for a in e.args]} if fn.typed else {}
        reject = fn.spark_reject(*cols, **typed) if fn.spark_reject else None
        return SV(fn.spark(*cols, **typed), first_error(*errs, reject))

    @staticmethod
    def _cast_common(v: SV, t: VType, common: VType) -> SV:
        if common.kind is Kind.NUMBER and not common.spark_text and (t.precision, t.scale) != (
                common.precision, common.scale):
            return SV(_as_decimal(v.col, common), v.err)
        if t.kind is Kind.NULL:
            return SV(F.lit(None), v.err)
        return v


# --- attributes and items -------------------------------------------------------------------------


@dataclass(frozen=True)
class _AttrCols:
    value: Column  # struct (or variant for M/L) for to_json; null = omitted
    present: Column  # boolean: the attribute is in the item
    size: Column  # bytes of the value when present
    err: Column | None
    key_text: Column | None = None  # S/B/N payload, for key checks


def _number_size(text: Column) -> Column:
    """1 + ceil(len / 2), in integer arithmetic."""
    return F.shiftright(F.length(text) + 1, 1) + 1


def _attr(c: _Compiler, e: Expr, t: VType, nulls: str, stage: Callable[[str, Column], Column]) -> _AttrCols:
    """`stage(name, col)` computes `col` in an earlier projection and returns a reference to it."""
    v = c.expr(e)
    k = t.kind
    err = v.err
    if k in (Kind.NUMBER, Kind.FLOAT, Kind.DOUBLE):
        payload = v.col.cast("string") if k is Kind.NUMBER else to_text_spark(v.col, t)
        tag, size = "N", _number_size(payload)
        if k is not Kind.NUMBER:
            err = first_error(err, float_reason(v.col, t))
    elif k is Kind.BINARY:
        payload, tag, size = v.col, "B", F.octet_length(v.col)
    elif k is Kind.BOOL:
        payload, tag, size = v.col, "BOOL", F.lit(1)
    elif k is Kind.SET:
        nonempty = F.when(F.size(v.col) > 0, v.col)
        total = F.aggregate(v.col, F.lit(0).cast("long"), lambda acc, x: acc + F.octet_length(x))
        return _AttrCols(F.when(nonempty.isNotNull(), F.struct(nonempty.alias("SS"))), nonempty.isNotNull(),
                         total, err)
    elif k is Kind.JSON:
        ddb = json_to_dynamo(v.col, stage)
        value = F.try_parse_json(ddb.col)
        present = ddb.col.isNotNull()
        if nulls == "null":
            value = F.coalesce(value, F.parse_json(F.lit('{"NULL":true}')))
            present = F.lit(True)
        size = F.coalesce(F.octet_length(ddb.col), F.lit(1))
        return _AttrCols(value, present, size, first_error(err, ddb.err))
    elif k is Kind.NULL:
        payload, tag, size = F.lit(None).cast("string"), "S", F.lit(None).cast("long")
    else:
        payload = to_text_spark(v.col, t)
        tag, size = "S", F.octet_length(payload)
    if not t.nullable:  # the checker proved it: no null tests on the hot path
        return _AttrCols(F.struct(payload.alias(tag)), F.lit(True), size, err, payload)
    # every conversion above is null exactly when its input is: test the (cheap) input, so that
    # the payload is computed once, in the struct, and not again for the test
    present = v.col.isNotNull()
    if nulls == "null":
        value = F.struct(payload.alias(tag), F.when(~present, F.lit(True)).alias("NULL"))
        return _AttrCols(value, F.lit(True), F.coalesce(size, F.lit(1)), err, payload)
    return _AttrCols(F.when(present, F.struct(payload.alias(tag))), present, size, err, payload)


def _never_empty(e: Expr) -> bool:
    """A template with literal text can never be the empty string."""
    return isinstance(e, Template) and any(isinstance(p, str) and p for p in e.parts) or \
        isinstance(e, Lit) and bool(e.value)


def _source_key(cr: CheckedRule) -> Column:
    from mysql2dynamo.keymap.types import value_type

    parts = []
    for name in cr.schema.primary_key:
        col = cr.schema.column(name)
        t = value_type(col)
        text = to_text_spark(F.col(quote(col.name)), t)
        if t.kind in (Kind.FLOAT, Kind.DOUBLE):
            text = F.when(float_reason(F.col(quote(col.name)), t).isNull(), text)
        parts.append(F.concat(F.lit(f"{name}="), F.coalesce(text, F.lit("null"))))
    return F.concat_ws(", ", *parts) if parts else F.lit("")


class _RulePlan:
    """One rule in three projections (four with a JSON attribute), so that no expensive expression is ever
    duplicated:

    0. a JSON attribute's conversion to DynamoDB JSON (a large tree, see json_to_dynamo);
    1. values: per attribute its DynamoDB value, presence, size, error (and key text);
    2. the item JSON, key JSON, total size and rejection reason, from stage-1 columns;
    3. the output struct (message only for rejected rows).
    Catalyst keeps the projections apart because their expressions are not cheap, and runs
    them in one whole-stage-codegen stage: still one narrow pass over the data.
    """

    def __init__(self, cr: CheckedRule, index: int, version: Column | None):
        self.cr, self.p, self.version = cr, f"_k{index}_", version

    def col(self, name: str) -> Column:
        return F.col(quote(self.p + name))

    def stage1(self) -> list[Column]:
        """Also fills `staged`: the columns of the projection before it (see `stage0`)."""
        c, cr, out = _Compiler(self.cr), self.cr, []
        self.names: set[str] = set()
        self.staged: list[Column] = []

        def add(name: str, col: Column) -> None:
            self.names.add(self.p + name)
            out.append(col.alias(self.p + name))

        if cr.where is not None:
            w = c.expr(cr.where)
            add("keep", F.coalesce(w.col, F.lit(False)))
            if w.err is not None:
                add("where_err", w.err)
        for j, a in enumerate(cr.attributes):
            def stage(name: str, col: Column, j: int = j) -> Column:
                self.staged.append(col.alias(f"{self.p}{name}{j}"))
                return self.col(f"{name}{j}")

            ac = _attr(c, a.expr, a.type, "omit" if a.is_key else cr.rule.nulls, stage)
            add(f"v{j}", ac.value)
            add(f"s{j}", F.when(ac.present, ac.size))
            if ac.err is not None:
                add(f"e{j}", ac.err)
            if a.is_key:
                add(f"t{j}", ac.key_text)
        if self.version is not None:
            add("ver", self.version.cast("string"))
        return out

    def stage0(self) -> list[Column]:
        """Expressions too large to copy (a JSON attribute's conversion), each computed once, before stage 1."""
        return self.staged

    def has(self, name: str) -> bool:
        return self.p + name in self.names

    def stage2(self) -> list[Column]:
        cr = self.cr
        attrs = cr.attributes
        fields = [self.col(f"v{j}").alias(a.name) for j, a in enumerate(attrs)]
        size = F.lit(0).cast("long")
        for j, a in enumerate(attrs):
            named = F.lit(len(a.name.encode())) + self.col(f"s{j}")
            size = size + (F.coalesce(named, F.lit(0)) if a.type.nullable or a.type.kind is Kind.SET else named)
        if self.version is not None:
            vtext = self.col("ver")
            fields.append(F.struct(vtext.alias("N")).alias(cr.version_attribute))
            size = size + F.lit(len(cr.version_attribute.encode())) + _number_size(vtext)
        chain: list[tuple[Column, Column, Column]] = []
        if self.has("where_err"):
            we = self.col("where_err")
            chain.append((we.isNotNull(), we, F.concat(we, F.lit(" in where"))))
        for j, a in enumerate(attrs):
            if self.has(f"e{j}"):
                e = self.col(f"e{j}")
                chain.append((e.isNotNull(), e, F.concat(e, F.lit(f" in attribute {a.name}"))))
            if a.is_key:
                t, limit = self.col(f"t{j}"), KEY_LIMITS[j]
                if a.type.nullable:
                    chain.append((t.isNull(), F.lit("null_key"), F.lit(f"key attribute {a.name} is null")))
                if a.type.kind is not Kind.NUMBER and not _never_empty(a.expr):
                    empty = F.octet_length(t) == 0 if a.type.kind is Kind.BINARY else t == ""
                    chain.append((empty, F.lit("empty_key"), F.lit(f"key attribute {a.name} is empty")))
                bound = value_bound(a.type)
                if bound is None or bound > limit:  # the checker's bound proves most keys fit
                    chain.append((self.col(f"s{j}") > limit, F.lit("key_too_large"),
                                  F.lit(f"key attribute {a.name} is larger than {limit} bytes")))
        bound = cr.item_bound()
        if bound is None or bound > MAX_ITEM_BYTES:
            total = F.col(quote(self.p + "size"))
            too_large = F.concat(F.lit("item of "), total.cast("string"),
                                 F.lit(f" bytes exceeds {MAX_ITEM_BYTES} bytes"))
            chain.append((total > MAX_ITEM_BYTES, F.lit("item_too_large"), too_large))
        self.chain = chain
        nkeys = len(cr.keys)
        return [F.to_json(F.struct(*fields), JSON_OPTIONS).alias(self.p + "item"),
                F.to_json(F.struct(*fields[:nkeys]), JSON_OPTIONS).alias(self.p + "key"),
                size.alias(self.p + "size")]

    def stage3(self) -> list[Column]:
        reason = detail = F.lit(None).cast("string")  # stays null when nothing can reject the rows
        if self.chain:
            (cond, code, text), rest = self.chain[0], self.chain[1:]
            reason, detail = F.when(cond, code), F.when(cond, text)
            for cond, code, text in rest:
                reason, detail = reason.when(cond, code), detail.when(cond, text)
        return [reason.alias(self.p + "reason"), detail.alias(self.p + "detail")]

    @property
    def filters(self) -> bool:
        return self.has("keep")

    def keep(self) -> Column:
        """Rows in the output: inside `where`, or rejected by an error in `where` itself."""
        if not self.has("keep"):
            return F.lit(True)
        return self.col("keep") | self.col("where_err").isNotNull() if self.has("where_err") else self.col("keep")

    def columns(self) -> list[Column]:
        rule = self.cr.rule
        reason = self.col("reason")
        ok = reason.isNull()
        message = F.concat(F.lit(f"{rule.name}: "), self.col("detail"), F.lit("; source key "), _source_key(self.cr))
        return [
            F.lit(rule.name).alias("_rule"),
            F.lit(rule.target).alias("_target"),
            F.when(ok, self.col("item")).alias("_item"),
            F.when(ok, self.col("key")).alias("_key"),
            F.when(ok, self.col("size")).alias("_size"),
            reason.alias("_reject_reason"),
            F.when(~ok, message).alias("_reject_message"),
        ]

    def output(self) -> Column:
        return F.when(self.keep(), F.struct(*self.columns()))


VERSION_COLUMN = "_k_version"  # a pyspark version Column, computed before the projections
OUTPUT_COLUMNS = ["_rule", "_target", "_item", "_key", "_size", "_reject_reason", "_reject_message"]


class SparkRules:
    """The compiled rules of one source table."""

    def __init__(self, rules: list[CheckedRule]):
        if not rules:
            raise ValueError("no rules to compile")
        self.rules = rules

    def apply(self, df: DataFrame, version: Column | int | None = None, keep: list[str] = ()) -> DataFrame:
        """Map the snapshot DataFrame; `version` becomes the version attribute of every item (an int, or a
        column: a pyspark Column or one of keymap.spark_sql).

        `keep` names source columns to pass through (e.g. the primary key, for collision reports).
        Each projection is one `selectExpr` of Spark SQL text (keymap.spark_sql).
        """
        if version is not None and not isinstance(version, (int, Column)):  # a pyspark Column
            df = df.withColumn(VERSION_COLUMN, version)
            version = F.col(quote(VERSION_COLUMN))
        v = F.lit(str(version)) if isinstance(version, int) else version  # any size, as text
        plans = [_RulePlan(cr, i, v) for i, cr in enumerate(self.rules)]
        stage1 = [c for p in plans for c in p.stage1()]
        names = list(df.columns)
        staged = df
        for projection in ([c for p in plans for c in p.stage0()], stage1, [c for p in plans for c in p.stage2()],
                           [c for p in plans for c in p.stage3()]):
            if projection:
                staged = staged.selectExpr(*[quote(n) for n in names], *[c.named() for c in projection])
                names += [c.name for c in projection]
        kept = [quote(k) for k in keep]
        if len(plans) == 1:  # no struct to build and unpack: plain columns and, with `where`, a filter
            plan = plans[0]
            return (staged.where(plan.keep().sql) if plan.filters else staged).selectExpr(
                *kept, *[c.named() for c in plan.columns()])
        packed = F.filter(F.array(*[p.output() for p in plans]), lambda x: x.isNotNull())
        return staged.selectExpr(*kept, F.inline(packed).sql)


def compile_spark(checked: CheckedMapping, source: str) -> SparkRules:
    """Compile the rules of `source` (`db.table`) of a checked mapping."""
    checked.raise_on_errors()
    return SparkRules(checked.rules_for(source))


