"""Differential property test: the Python engine and the Spark engine give byte-identical items
and identical rejections for generated schemas and rows over every supported type and every
function. Each example batches all its rows into one DataFrame (one Spark job per example).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Context, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mysql2dynamo.keymap.checker import check
from mysql2dynamo.keymap.compile_python import compile_python
from mysql2dynamo.keymap.functions import FUNCTIONS
from mysql2dynamo.keymap.preview import preview_rows, preview_spark
from mysql2dynamo.keymap.schema import TableSchema
from mysql2dynamo.keymap.spec import mapping_from_dict
from mysql2dynamo.keymap.types import Column
from mysql2dynamo.keymap.values import to_float32

# --- schemas ------------------------------------------------------------------------------------

TEXT_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",))
ODD_TEXT = st.sampled_from(["", " ", "a", "A-b", "O'Brien", 'q"uote', "back\\slash", "tab\tnl\n", "\x00\x1f\x7f",
                            "é", "ÄÖÜß", "😀👍🏽", "İstanbul", "ΣΑΣ", "ﬁ", "\u2028", "0012.50", "-7", "+3.0"])


@st.composite
def schemas(draw) -> TableSchema:
    nul = lambda: draw(st.booleans())  # noqa: E731
    fsp_dt, fsp_tm = draw(st.integers(0, 6)), draw(st.integers(0, 6))
    precision = draw(st.integers(1, 30))  # wide DECIMAL(50,10) covers the rest
    scale = draw(st.integers(0, min(precision, 12)))
    cols = (
        Column("id", "bigint", False),
        Column("i", "int", nul()),
        Column("ui", "int", nul(), unsigned=True),
        Column("ti", "tinyint", nul()),
        Column("si", "smallint", nul()),
        Column("mi", "mediumint", nul()),
        Column("ubig", "bigint", nul(), unsigned=True),
        Column("dec", "decimal", nul(), precision=precision, scale=scale),
        Column("dec12", "decimal", nul(), precision=12, scale=2),
        Column("wide", "decimal", nul(), precision=50, scale=10),
        Column("flt", "float", nul()),
        Column("dbl", "double", nul()),
        Column("s", "varchar", nul(), length=40),
        Column("c", "char", nul(), length=3),
        Column("txt", "text", nul()),
        Column("en", "enum", nul(), members=("free", "pro", "enterprise")),
        Column("st", "set", nul(), members=("newsletter", "beta", "vip")),
        Column("bin", "binary", nul(), length=4),
        Column("vb", "varbinary", nul(), length=10),
        Column("blob", "blob", nul()),
        Column("d", "date", nul()),
        Column("dt", "datetime", nul(), fsp=fsp_dt),
        Column("ts", "timestamp", nul(), fsp=6),
        Column("tm", "time", nul(), fsp=fsp_tm),
        Column("js", "json", nul()),
        Column("yr", "year", nul()),
        Column("bt", "bit", nul(), length=8),
        Column("numtext", "varchar", nul(), length=60),
    )
    return TableSchema("db", "t", cols, ("id",))


# --- rows ---------------------------------------------------------------------------------------


def json_docs(max_leaves: int = 6):
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                        st.floats(allow_nan=False, allow_infinity=False), st.text(TEXT_CHARS, max_size=5))
    tree = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                      st.dictionaries(st.text(TEXT_CHARS, max_size=4), kids,
                                                                      max_size=3)), max_leaves=max_leaves)
    raw = tree.map(lambda v: json.dumps(v, ensure_ascii=False))
    odd = st.sampled_from(['{"a":1,"a":2}', "nope", "", "[1,", '{"x": NaN}', "1e400", '"s"', "3", "-0", "0.0",
                           "1.50", "12345678901234567890123", "1e20", "1.5E-3", '{"k": 1.0E-320}',
                           "[" * 17 + "]" * 17, "[" * 16 + "]" * 16, '{"z":1,"Z":2,"é":3,"aa":{},"😀":4,"\uffee":5}',
                           '"\\u001f\\ud83d\\ude00"', "123456789012345678901234567890123456789012", "true", "null"])
    return st.one_of(raw, odd)


def floats32():
    odd = st.sampled_from([0.0, -0.0, float("nan"), float("inf"), 1e30, 1.5e-40, 123456789.0, 0.1, 3.4e38, 16777217.0])
    return st.one_of(st.floats(width=32), odd).map(to_float32)


def doubles():
    odd = st.sampled_from([0.0, -0.0, float("nan"), -float("inf"), 1e23, 9.3e18, 5e-324, 2.5e-308, 0.002, 1e7,
                           123456789012345680.0, 2.0**62])
    return st.one_of(st.floats(), odd)


def decimals(precision: int, scale: int):
    limit = 10 ** precision - 1
    return st.integers(-limit, limit).map(lambda n: Decimal(n).scaleb(-scale, context=Context(prec=100)))


def datetimes(fsp: int):
    step = 10 ** (6 - fsp)
    return st.builds(lambda d, us: d.replace(microsecond=us - us % step),
                     st.datetimes(dt.datetime(1000, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59)),
                     st.integers(0, 999_999))


def times(fsp: int):
    step = 10 ** (6 - fsp)
    limit = (838 * 3600 + 59 * 60 + 59) * 10**6
    return st.integers(-limit // step, limit // step).map(lambda n: dt.timedelta(microseconds=n * step))


def value_strategy(col: Column):
    d = col.data_type
    if d == "bigint":
        return st.integers(0, 2**64 - 1) if col.unsigned else st.integers(-(2**63), 2**63 - 1)
    if d in ("int", "tinyint", "smallint", "mediumint"):
        bits = {"int": 32, "tinyint": 8, "smallint": 16, "mediumint": 24}[d]
        return st.integers(0, 2**bits - 1) if col.unsigned else st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if d == "decimal":
        return decimals(col.precision, col.scale)
    if d == "float":
        return floats32()
    if d == "double":
        return doubles()
    if d in ("varchar", "char", "text"):
        if col.name == "numtext":
            return st.one_of(st.from_regex(r"\A[+-]?[0-9]{1,45}(\.[0-9]{1,10})?\Z"), ODD_TEXT)
        size = min(col.length or 20, 20)
        return st.one_of(st.text(TEXT_CHARS, max_size=size), ODD_TEXT.filter(lambda s: len(s) <= size))
    if d == "enum":
        return st.sampled_from(col.members)
    if d == "set":
        return st.frozensets(st.sampled_from(col.members)).flatmap(
            lambda s: st.sampled_from([s, ",".join(sorted(s))]))  # decoders give a set or the MySQL text
    if d == "binary":
        return st.binary(max_size=col.length)  # replay may see BINARY without its trailing zeros
    if d in ("varbinary", "blob"):
        return st.binary(max_size=min(col.length or 12, 12))
    if d == "date":
        return st.dates(dt.date(1000, 1, 1), dt.date(9999, 12, 31))
    if d in ("datetime", "timestamp"):
        return datetimes(col.fsp)
    if d == "time":
        return times(col.fsp)
    if d == "json":
        return json_docs()
    if d == "year":
        return st.integers(1901, 2155)
    if d == "bit":
        return st.integers(0, 255)
    raise AssertionError(d)


def rows_for(schema: TableSchema, n: int, skip: tuple[str, ...] = ()):
    cols = [c for c in schema.columns if c.name != "id" and c.name not in skip]
    row = st.fixed_dictionaries({c.name: (st.one_of(st.none(), value_strategy(c)) if c.nullable
                                          else value_strategy(c)) for c in cols})
    return st.lists(row, min_size=n, max_size=n).map(
        lambda rows: [{"id": i + 1, **r} for i, r in enumerate(rows)])


# --- mappings -----------------------------------------------------------------------------------

# every function and operator appears in at least one expression; each example draws a subset
EXPRESSIONS = [
    "{lower(s)}", "{upper(s)}", "{trim(c)}", "{substr(s, 2, 3)}", "{substr(txt, -2)}", "{replace(s, 'a', 'xy')}",
    "{pad(i, 6)}", "{rpad(c, 5, '_')}", "{concat(s, '-', i, '-', dec)}", "{coalesce(s, txt, 'none')}",
    "{coalesce(dec, dec12)}", "{if(i > 5, 'big', 'small')}", "{if(flt > 0.5, dbl, dbl * 2)}",
    "{fmt_time(dt, '%Y/%m/%d %H:%M:%S.%f %j %y %%')}", "{fmt_time(d, 'D%Y%m%d')}", "{iso(dt)}", "{iso(d)}",
    "{iso(tm)}", "{epoch_s(dt)}", "{epoch_ms(ts)}", "{epoch_s(d)}", "{crc32(s)}", "{md5(txt)}",
    "{hash_mod(id, 7)}", "{str(dbl)}", "{str(flt)}", "{str(dec)}", "{str(wide)}", "{num(numtext)}",
    "{num(s)}", "{num(i > 0)}", "{length(s)}", "{dec * 2 + i}", "{i % 7}", "{ui - ubig}", "{dbl / 3}",
    "{dec12 / 4}", "{flt * 2.5}", "{flt + flt}", "{i * si - mi}", "{-dec}", "{ubig + 1}",
    "X#{s}#{dec}#{dt}#{tm}#{bin}#{st}#{flt}#{en}#{yr}#{bt}", "{{braces}} {s}", "{d >= '2000-01-01'}",
    "{s in ('a', 'b', '') or i is null}", "{not (dec < 0) and ubig != 5}", "{dt < '2024-02-03 04:05:06.5'}",
    "{vb}", "{blob}", "{st}", "'literal'", "{null}", "{true}", "{12.50}",
]
WHERES = ["i >= 0 or s is null", "s not in ('a', 'b')", "d >= '2000-01-01' or d is null", "not (dec < 0)",
          "flt > 0 or dbl is not null", "en != 'pro'", "length(s) > 2 or txt is null", "num(numtext) is null"]
KEYS = ["{id}", "T#{pad(id, 8)}", "{s}", "{c}", "{bin}", "{vb}", "{dec}", "{coalesce(s, 'none')}", "{dt}",
        "{ubig}", "{flt}", "{tm}#{d}"]


GEOMETRY_FUNCTIONS = {"geojson"}  # need a geometry column: tests/keymap/test_functions.py compares both engines


def test_expression_pools_cover_every_function():
    used = {name for name in FUNCTIONS if any(f"{name}(" in e for e in EXPRESSIONS + JSON_EXPRESSIONS)}
    assert used == set(FUNCTIONS) - GEOMETRY_FUNCTIONS


@st.composite
def mappings(draw):
    attrs = draw(st.permutations(EXPRESSIONS))  # all of them, every example: full coverage per Spark job
    rule = {
        "target": "t",
        "key": {"PK": draw(st.sampled_from(KEYS))} | ({"SK": draw(st.sampled_from(KEYS))} if draw(st.booleans())
                                                     else {}),
        "attributes": {f"a{i}": e for i, e in enumerate(attrs)},
        "rest": True,
        "exclude": ["wide", "js"],  # JSON has its own property below (its Spark plan is large)
        "nulls": draw(st.sampled_from(["omit", "null"])),
    }
    if draw(st.booleans()):
        rule["where"] = draw(st.sampled_from(WHERES))
    rules = [rule]
    if draw(st.booleans()):  # a second rule for the same row (adjacency edge)
        rules.append({"name": "edge", "target": "t", "key": {"PK": "EDGE#{id}", "SK": draw(st.sampled_from(KEYS))},
                      "attributes": {"x": draw(st.sampled_from(EXPRESSIONS))}})
    return {"db.t": rules if len(rules) > 1 else rule}


SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                          HealthCheck.large_base_example])


def assert_engines_agree(spark, schema: TableSchema, tables: dict, rows: list[dict], version: int | None):
    checked = check(mapping_from_dict(tables), {"db.t": schema})
    assert not checked.errors, checked.errors
    py = preview_rows(compile_python(checked), "db.t", rows, version)
    sp = preview_spark(spark, checked, schema, rows, version)
    ids = lambda results: [(row["id"], r.rule) for row, r in results]  # noqa: E731
    assert ids(py) == ids(sp), (set(ids(py)) ^ set(ids(sp)), tables, [r for r in rows if r["id"] in
                                                                   {i for i, _ in set(ids(py)) ^ set(ids(sp))}])
    for (row, a), (_, b) in zip(py, sp, strict=True):
        assert a == b, _difference(row, a, b)


@settings(SETTINGS, max_examples=6)
@given(data=st.data())
def test_python_and_spark_engines_agree(spark, data):
    schema = data.draw(schemas())
    rows = data.draw(rows_for(schema, 30, skip=("js",)))
    version = data.draw(st.one_of(st.none(), st.integers(0, 10**30)))
    assert_engines_agree(spark, schema, data.draw(mappings()), rows, version)


JSON_EXPRESSIONS = ["{json(txt)}", "{str(js)}"]
JSON_SCHEMA = TableSchema("db", "t", (Column("id", "bigint", False), Column("js", "json"),
                                      Column("txt", "text")), ("id",))


@settings(SETTINGS, max_examples=3)
@given(data=st.data())
def test_json_to_map_and_list_agrees(spark, data):
    """JSON -> M/L/scalars, invalid JSON, duplicate keys, deep nesting, odd numbers, in one job."""
    docs = data.draw(st.lists(st.one_of(st.none(), json_docs(12)), min_size=150, max_size=150))
    rows = [{"id": i, "js": d, "txt": d} for i, d in enumerate(docs)]
    nulls = data.draw(st.sampled_from(["omit", "null"]))
    tables = {"db.t": {"target": "t", "key": {"PK": "{id}"}, "nulls": nulls,
                       "attributes": {f"a{i}": e for i, e in enumerate(JSON_EXPRESSIONS)}, "rest": True}}
    assert_engines_agree(spark, JSON_SCHEMA, tables, rows, None)


def _difference(row: dict, a, b) -> str:
    """The first differing field, with the differing attribute pair when it is an item."""
    for field in ("rule", "status", "reason", "message", "key", "item", "size"):
        x, y = getattr(a, field), getattr(b, field)
        if x != y:
            if field == "item" and x and y:
                xa, ya = json.loads(x), json.loads(y)
                diff = {k: (xa.get(k), ya.get(k)) for k in xa.keys() | ya.keys() if xa.get(k) != ya.get(k)}
                return f"{field} differs (python, spark): {diff}; row={row}"
            return f"{field} differs: python={x!r} spark={y!r}; row={row}"
    return "results differ"
