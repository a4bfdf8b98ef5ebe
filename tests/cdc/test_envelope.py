"""Every sample type survives binlog -> envelope -> Kinesis -> decode exactly."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import orjson
import pytest

from mysql2dynamo.cdc.checkpoint import FileCheckpointStore
from mysql2dynamo.cdc.codec import decode_value, encode_value
from mysql2dynamo.cdc.envelope import Change, Source
from mysql2dynamo.cdc.stream import StreamSettings, run_stream
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.keymap.values import to_float32
from mysql2dynamo.sample.create import create_sample
from tests.conftest import all_changes, binlog_now


@pytest.mark.parametrize(("tag", "value"), [
    ("int", 18446744073709551615), ("int", -9223372036854775808),
    ("decimal", Decimal("-9999999999999999999999999999.9999999999")), ("decimal", Decimal("12.50")),
    ("float", to_float32(69.814)), ("double", 9.149941443070706e-06), ("double", -1e308),
    ("string", "Zoë 🚀 ünïcode"), ("string", ""), ("bytes", b"\x00\x01" + b"\x00" * 14), ("bytes", b""),
    ("date", dt.date(1, 1, 1)), ("datetime", dt.datetime(2024, 2, 29, 23, 59, 59, 999999)),
    ("datetime", dt.datetime(1970, 1, 1)), ("time", dt.timedelta(hours=-838, minutes=-59, seconds=-59)),
    ("time", dt.timedelta(hours=838, minutes=59, seconds=59, microseconds=1)),
    ("json", '{"a": [1, 2.5, null], "é": "🎉"}'), ("set", frozenset({"beta", "vip"})), ("set", frozenset()),
])
def test_codec_round_trips(tag, value):
    assert decode_value(tag, encode_value(tag, value)) == value
    # capture writes with orjson, replay reads with the standard library (a float may be spelled otherwise)
    assert decode_value(tag, json.loads(orjson.dumps(encode_value(tag, value)))) == value
    assert decode_value(tag, encode_value(tag, None)) is None


def test_envelope_round_trips_and_checks_ver():
    change = Change("update", "shop", "orders", ("id",), {"id": 1, "total": Decimal("1.10")},
                    {"id": 2, "total": Decimal("2.20")}, {"id": "int", "total": "decimal"},
                    Source("binlog.000007", 4567, 3, "0-1-99", 1, 1_700_000_000))
    again = Change.from_bytes(change.to_bytes())
    assert again == change
    assert again.key == {"id": 2} and again.partition_key == 'shop.orders|[2]'
    assert again.ver == 7_0000004567_0000003
    doc = change.to_json()
    doc["ver"] = "1"
    with pytest.raises(ValueError, match="does not match"):
        Change.from_json(doc)


def test_envelope_carries_the_table_version_and_reads_version_1():
    source = Source("binlog.000002", 99, 0, None, 1, 1_700_000_000)
    columns = (("id", "bigint unsigned"), ("price", "decimal(10,4)"), ("kind", "enum('a','b''c')"))
    change = Change("insert", "shop", "t", ("id",), None, {"id": 1, "price": Decimal("2.2345"), "kind": "a"},
                    {"id": "int", "price": "decimal", "kind": "string"}, source, columns)
    doc = change.to_json()
    assert doc["v"] == 2 and json.loads(change.to_bytes())["columns"] == [list(c) for c in columns]
    assert Change.from_bytes(change.to_bytes()) == change
    assert change.pointer("s3://b/k").columns == columns
    old = {k: v for k, v in doc.items() if k != "columns"} | {"v": 1}  # written before the column list existed
    assert Change.from_json(old).columns is None and Change.from_json(old).after == change.after


def _normalise(tag: str, value):
    """pymysql's text-protocol value as the binlog carries it."""
    if value is None:
        return None
    if tag == "float":
        return to_float32(value)
    if tag == "set":
        return frozenset(m for m in value.split(",") if m)
    return value


def test_every_sample_type_arrives_exactly(local_stack, fresh_db, kinesis, stream_name, tmp_path):
    start = binlog_now(local_stack.mysql_url)
    create_sample(local_stack.mysql_url, fresh_db, customers=40, seed=99)
    tables = [f"{fresh_db}.{t}" for t in ("customers", "orders", "order_items")]
    settings = StreamSettings(local_stack.cdc_mysql_url, tables, stream_name,
                              FileCheckpointStore(tmp_path / "cp.json"), start=start, stop_at_end=True)
    run_stream(settings, kinesis, install_signals=False)

    changes = all_changes(kinesis, stream_name)
    by_table: dict[str, dict] = {}
    for c in changes:
        assert c.op == "insert" and c.before is None
        by_table.setdefault(c.table, {})[tuple(c.key.values())] = c
    conn = connect(local_stack.mysql_url, fresh_db)
    for table, keys in (("customers", ("id",)), ("orders", ("id",)), ("order_items", ("order_id", "line_no"))):
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {table}")
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        assert len(rows) == len(by_table[table]) > 0
        for row in rows:
            values = dict(zip(names, row, strict=True))
            change = by_table[table][tuple(values[k] for k in keys)]
            expected = {n: _normalise(change.types[n], v) for n, v in values.items()}
            assert change.after == expected, table
    conn.close()
    customer = next(iter(by_table["customers"].values()))
    assert customer.types["lifetime_value"] == "decimal" and customer.types["api_key"] == "bytes"
    assert customer.types["created_at"] == "datetime" and customer.types["tags"] == "set"
    assert any(len(c.after["api_key"]) == 16 and c.after["api_key"].endswith(b"\0\0\0\0")
               for c in by_table["customers"].values())
