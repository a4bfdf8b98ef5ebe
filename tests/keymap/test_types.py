"""Every MySQL type: its snapshot type, its default DynamoDB value in both engines, and the item rules."""

from __future__ import annotations

import datetime as dt
import math
import random
import struct
from decimal import Decimal

import pyarrow as pa
import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mysql2dynamo.keymap.checker import check
from mysql2dynamo.keymap.compile_python import compile_python
from mysql2dynamo.keymap.preview import item_dict as attrs
from mysql2dynamo.keymap.schema import TableSchema
from mysql2dynamo.keymap.spec import mapping_from_dict
from mysql2dynamo.keymap.types import Column, arrow_type, spark_type, time_text
from mysql2dynamo.keymap.values import float_in_safe_range, java_float_text

TYPES = [
    (Column("ti", "tinyint"), -128, {"N": "-128"}, T.LongType(), pa.int64()),
    (Column("ubig", "bigint", unsigned=True), 2**64 - 1, {"N": "18446744073709551615"}, T.DecimalType(20, 0),
     pa.decimal128(20, 0)),
    (Column("big", "bigint"), -(2**63), {"N": "-9223372036854775808"}, T.LongType(), pa.int64()),
    (Column("dec", "decimal", precision=12, scale=2), Decimal("-0.50"), {"N": "-0.50"}, T.DecimalType(12, 2),
     pa.decimal128(12, 2)),
    (Column("d38", "decimal", precision=38, scale=10), Decimal("1234567890123456789012345678.0123456789"),
     {"N": "1234567890123456789012345678.0123456789"}, T.DecimalType(38, 10), pa.decimal128(38, 10)),
    (Column("flt", "float"), 0.1, {"N": "0.1"}, T.FloatType(), pa.float32()),
    (Column("dbl", "double"), 1e-5, {"N": "1.0E-5"}, T.DoubleType(), pa.float64()),
    (Column("vc", "varchar", length=10), "Zoë 😀", {"S": "Zoë 😀"}, T.StringType(), pa.string()),
    (Column("en", "enum", members=("a", "b")), "b", {"S": "b"}, T.StringType(), pa.string()),
    (Column("bin", "binary", length=4), b"ab", {"B": "YWIAAA=="}, T.BinaryType(), pa.binary()),
    (Column("blob", "blob"), b"\x00\xff", {"B": "AP8="}, T.BinaryType(), pa.binary()),
    (Column("day", "date"), dt.date(1000, 1, 1), {"S": "1000-01-01"}, T.DateType(), pa.date32()),
    (Column("dt0", "datetime", fsp=0), dt.datetime(2024, 1, 2, 3, 4, 5, 999999), {"S": "2024-01-02T03:04:05"},
     T.TimestampNTZType(), pa.timestamp("us")),
    (Column("dt3", "datetime", fsp=3), dt.datetime(2024, 1, 2, 3, 4, 5, 123000), {"S": "2024-01-02T03:04:05.123"},
     T.TimestampNTZType(), pa.timestamp("us")),
    (Column("ts", "timestamp", fsp=6), dt.datetime(1970, 1, 1, 0, 0, 0, 1), {"S": "1970-01-01T00:00:00.000001"},
     T.TimestampNTZType(), pa.timestamp("us")),
    (Column("tm", "time", fsp=2), -dt.timedelta(hours=838, minutes=59, seconds=59, microseconds=990000),
     {"S": "-838:59:59.99"}, T.StringType(), pa.string()),
    (Column("js", "json"), '{"b": [1, 2.50, "x", null], "a": {"t": true}}',
     {"M": {"a": {"M": {"t": {"BOOL": True}}}, "b": {"L": [{"N": "1"}, {"N": "2.5"}, {"S": "x"}, {"NULL": True}]}}},
     T.StringType(), pa.string()),
    (Column("st", "set", members=("newsletter", "beta", "vip")), {"vip", "newsletter"},
     {"SS": ["newsletter", "vip"]}, T.ArrayType(T.StringType(), False), pa.list_(pa.string())),
    (Column("yr", "year"), 2024, {"N": "2024"}, T.LongType(), pa.int64()),
    (Column("bit", "bit", length=8), 5, {"N": "5"}, T.LongType(), pa.int64()),
]


@pytest.mark.parametrize("col, value, expected, stype, atype", TYPES, ids=[t[0].name for t in TYPES])
def test_snapshot_types(col, value, expected, stype, atype):
    assert spark_type(col) == stype
    assert arrow_type(col) == atype


def test_default_dynamodb_values_in_both_engines(engines):
    cols = [t[0] for t in TYPES]
    results = engines(cols, {"rest": True}, [{c.name: v for c, v, *_ in TYPES}, {}])
    item = attrs(results[0])
    assert {c.name: item.get(c.name) for c in cols} == {c.name: e for c, _, e, *_ in TYPES}
    assert list(item) == ["PK", "id", *[c.name for c in cols]]  # key first, then the table's column order
    assert attrs(results[1]) == {"PK": {"N": "2"}, "id": {"N": "2"}}  # NULL -> attribute omitted


def test_null_policy_null_and_empty_sets(engines):
    cols = [Column("s", "varchar", length=5), Column("st", "set", members=("a",)), Column("js", "json")]
    results = engines(cols, {"rest": True, "nulls": "null"}, [{"st": frozenset()}, {"st": ""}])
    assert attrs(results[0]) == {"PK": {"N": "1"}, "id": {"N": "1"}, "s": {"NULL": True}, "js": {"NULL": True}}
    assert results[0].item == results[1].item.replace('"N":"2"', '"N":"1"')  # '' is the empty SET too


def test_version_attribute_and_key_order(engines):
    rule = {"key": {"PK": "A#{id}", "SK": "'x'"}, "attributes": {"z": "'1'", "a": "{id}"}}
    results = engines([], rule, [{}], version=123456789012345678901234567890)
    assert results[0].item == ('{"PK":{"S":"A#1"},"SK":{"S":"x"},"z":{"S":"1"},"a":{"N":"1"},'
                               '"_ver":{"N":"123456789012345678901234567890"}}')
    assert results[0].key == '{"PK":{"S":"A#1"},"SK":{"S":"x"}}'


def test_rejections_null_empty_oversize_keys_and_items(engines):
    cols = [Column("k", "varchar", length=3000), Column("b", "varbinary", length=10), Column("big", "longtext")]
    rule = {"key": {"PK": "{k}", "SK": "{b}"}, "attributes": {"big": "big"}}
    rows = [{"k": None, "b": b"1"}, {"k": "", "b": b"1"}, {"k": "x", "b": b""}, {"k": "x" * 2049, "b": b"1"},
            {"k": "x", "b": b"1", "big": "y" * 409_600}, {"k": "é", "b": b"1", "big": "y" * 409_000}]
    results = engines(cols, rule, rows)
    assert [r.reason for r in results] == ["null_key", "empty_key", "empty_key", "key_too_large", "item_too_large",
                                           None]
    assert results[0].message == "db.t: key attribute PK is null; source key id=1"
    assert results[4].message == "db.t: item of 409609 bytes exceeds 409600 bytes; source key id=5"
    assert results[5].size == 2 + 2 + 2 + 1 + 3 + 409_000


def test_float_rejections(engines):
    rows = [{"f": v} for v in (math.nan, math.inf, 1e126, 5e-324, -0.0, 1e23 / 1e5, 2.0**63, 1e-130)]
    results = engines([Column("f", "double")], {"rest": True}, rows)
    assert [r.reason for r in results] == ["bad_value", "bad_value", "number_too_large", "number_too_large", None,
                                           None, None, None]
    assert attrs(results[4])["f"] == {"N": "-0.0"}
    assert [attrs(r)["f"] for r in results[6:]] == [{"N": "9.223372036854776E18"}, {"N": "1.0E-130"}]


def test_where_and_several_rules_per_row(engines):
    rule = [{"target": "t", "key": {"PK": "{id}"}, "where": "s != 'skip'"},
            {"name": "edge", "target": "t", "key": {"PK": "E#{s}", "SK": "{id}"}}]
    schema = TableSchema("db", "t", (Column("id", "bigint", False), Column("s", "varchar", length=9)), ("id",))
    mapper = compile_python(check(mapping_from_dict({"db.t": rule}), {"db.t": schema}))
    results = mapper.map_row("db.t", {"id": 1, "s": "skip"})
    assert [(r.rule, r.status) for r in results] == [("db.t#1", "filtered"), ("db.t#edge", "item")]
    out = engines([Column("s", "varchar", length=9)], {"where": "s != 'skip'"}, [{"s": "skip"}, {"s": "keep"}])
    assert [attrs(r)["PK"] for r in out] == [{"N": "2"}]


def test_time_text_is_canonical():
    assert time_text(dt.timedelta(hours=-1, microseconds=1)) == "-00:59:59.999999"
    assert time_text(dt.timedelta(hours=100, seconds=5)) == "100:00:05.000000"


def test_json_number_text_matches_this_jvm(spark):
    """JSON numbers go through Spark's variant, printed by the JDK: java_float_text mirrors Java 17's."""
    rnd = random.Random(7)
    values = [struct.unpack("<d", struct.pack("<Q", rnd.getrandbits(64)))[0] for _ in range(20_000)]
    values += [rnd.randint(-10**9, 10**9) / 10 ** rnd.randint(0, 9) for _ in range(20_000)]
    values = [v for v in values if math.isfinite(v)]
    df = spark.createDataFrame([(v,) for v in values], "d double")
    rows = df.select("d", F.col("d").cast("string").alias("ds"), F.col("d").cast("float").alias("f"),
                     F.col("d").cast("float").cast("string").alias("fs")).collect()
    bad = [(r.d, r.ds) for r in rows if float_in_safe_range(r.d, False) and java_float_text(r.d) != r.ds]
    bad += [(r.f, r.fs) for r in rows if math.isfinite(r.f) and float_in_safe_range(r.f, True)
            and java_float_text(r.f, True) != r.fs]
    assert not bad


def test_config_interpolation(tmp_path):
    from mysql2dynamo.config import ConfigError, load_config

    path = tmp_path / "c.yaml"
    path.write_text('source:\n  mysql_url: "mysql://u:${PW}@${HOST:-127.0.0.1}:3306/shop"\n'
                    'tables:\n  shop.t:\n    target: t\n    key: {PK: "${id}-{id}"}\n')
    cfg = load_config(path, {"PW": "s3cret"})
    assert cfg.mysql_url == "mysql://u:s3cret@127.0.0.1:3306/shop"
    assert cfg.mapping.rules[0].key["PK"].raw == "${id}-{id}"  # tables are not interpolated
    with pytest.raises(ConfigError, match="c.yaml:2:14: environment variable PW is not set"):
        _ = load_config(path, {}).mysql_url


def test_preview_frame_puts_source_and_item_side_by_side():
    from mysql2dynamo.keymap.preview import preview_frame, preview_rows

    schema = TableSchema("db", "t", (Column("id", "bigint", False), Column("s", "varchar", length=9)), ("id",))
    mapper = compile_python(check(mapping_from_dict({"db.t": {"target": "t", "key": {"PK": "{s}"}}}),
                                  {"db.t": schema}))
    frame = preview_frame(preview_rows(mapper, "db.t", [{"id": 1, "s": "a"}, {"id": 2, "s": None}]))
    assert list(frame.columns[:2]) == ["src.id", "src.s"]
    assert frame["item"].tolist() == ['{"PK":{"S":"a"}}', None]
    assert frame["reject_reason"].tolist() == [None, "null_key"]


def test_a_zero_date_in_a_not_null_key_column_is_a_null_key_in_both_engines(engines):
    """A zero date ('0000-00-00', in a NOT NULL column under a permissive sql_mode) is None in the snapshot
    and the stream. Before, the Spark engine trusted NOT NULL, skipped the null test and built `"SK":{}`:
    load and verify crashed after writing part of the items, while the Python engine said null_key."""
    columns = [Column("d", "date", False), Column("ts", "timestamp", False, fsp=3)]
    rule = {"key": {"PK": "{id}", "SK": "D#{d}#{iso(ts)}"}}
    rows = [{"d": None, "ts": dt.datetime(2024, 1, 1)}, {"d": dt.date(2024, 2, 29), "ts": None},
            {"d": dt.date(2024, 2, 29), "ts": dt.datetime(2024, 1, 1, 0, 0, 0, 5000)}]
    results = engines(columns, rule, rows)
    assert [r.reason for r in results] == ["null_key", "null_key", None]
    assert attrs(results[2])["SK"] == {"S": "D#2024-02-29#2024-01-01T00:00:00.005"}
