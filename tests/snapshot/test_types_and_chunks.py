"""Every sample type survives the snapshot exactly (Parquet vs pymysql + keymap.types.snapshot_value),
edge types and zero dates follow the documented rules, and chunks partition every table."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from mysql2dynamo.cdc.snapshot import load_manifest
from mysql2dynamo.cdc.snapshot.chunks import plan_chunks, quote
from mysql2dynamo.cdc.snapshot.consistent import SnapshotError
from mysql2dynamo.cdc.snapshot.manifest import arrow_schema
from mysql2dynamo.cdc.snapshot.options import SnapshotOptions
from mysql2dynamo.cdc.snapshot.run import run_snapshot
from mysql2dynamo.cdc.snapshot.storage import open_storage
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.keymap.schema import read_table_schema


def test_every_sample_type_survives_exactly_via_s3(local_stack, sample_db, s3_bucket, snapcheck):
    dest = f"s3://{s3_bucket}/snap/one"
    tables = [f"{sample_db}.{t}" for t in snapcheck.SAMPLE_TABLES]
    run_snapshot(local_stack.cdc_mysql_url, tables, dest, SnapshotOptions(workers=2, chunk_rows=90))
    m = load_manifest(dest)
    assert m.verify_files() == []
    storage = open_storage(dest)
    conn = connect(local_stack.mysql_url)
    for name in tables:
        entry = m.table(name)
        schema = read_table_schema(conn, *name.split(".", 1))
        assert entry.schema == schema  # the manifest carries the MySQL schema exactly
        for f in entry.files:  # the Parquet types are keymap.types.arrow_type's
            assert pq.read_schema(io.BytesIO(storage.get_bytes(f.path))) == arrow_schema(schema)
        got, want = snapcheck.snapshot_rows(m, name), snapcheck.mysql_rows(local_stack.mysql_url, schema)
        assert snapcheck.diff_rows(name, got, want) == []
        assert entry.rows == len(want) == sum(f.rows for f in entry.files)
    conn.close()
    customers = snapcheck.snapshot_rows(m, f"{sample_db}.customers").values()
    # the edges the sample was built to hit
    assert any(r["external_id"] > 2**63 for r in customers)
    assert any(r["api_key"].endswith(b"\0") and len(r["api_key"]) == 16 for r in customers)
    assert any(r["lifetime_value"] == Decimal("9" * 28 + "." + "9" * 10) for r in customers)
    assert any(r["preferred_time"] and r["preferred_time"].startswith("-") for r in customers)
    assert any(r["tags"] == [] for r in customers) and any(len(r["tags"] or []) > 1 for r in customers)
    assert any("🚀" in r["name"] or "🌮" in r["name"] for r in customers)
    assert any(r["created_at"].microsecond for r in customers)


EDGE_DDL = """
CREATE TABLE edge (
  code    VARCHAR(20) NOT NULL,
  n       INT NOT NULL,
  b5      BIT(5) NULL,
  b64     BIT(64) NULL,
  yr      YEAR NULL,
  big     DECIMAL(65,30) NULL,
  bin4    BINARY(4) NULL,
  vb      VARBINARY(10) NULL,
  d       DATE NULL,
  dt0     DATETIME NOT NULL,
  ts      TIMESTAMP(3) NULL,
  t3      TIME(3) NULL,
  PRIMARY KEY (code, n)
) DEFAULT CHARSET=utf8mb4
"""


def _edge_table(mysql_url, db, rows=600):
    conn = connect(mysql_url, db)
    with conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")  # lets zero dates in, as old applications did
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(EDGE_DDL)
        cur.executemany(
            "INSERT INTO edge VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            [(f"k{i % 37:03d}-é", i, i % 32, b"\xff" * 8 if i % 5 == 0 else (i * 7919).to_bytes(8, "big"),
              1901 + i % 255, Decimal(f"-{i}.{'9' * 30}"), b"\x01\x00\x00\x00" if i % 2 else b"ab\x00\x00",
              b"\x00\x01" * (i % 5), "0000-00-00" if i % 50 == 0 else dt.date(2020, 1, 1) + dt.timedelta(days=i),
              "0000-00-00 00:00:00" if i % 60 == 0 else dt.datetime(2021, 1, 1, 0, 0, i % 60),
              dt.datetime(2022, 5, 6, 7, 8, 9, 123000), dt.timedelta(hours=-800, milliseconds=5 * i))
             for i in range(rows)])
    conn.commit()
    return conn


def test_edge_types_zero_dates_and_composite_string_key(local_stack, mysql_url, fresh_db, tmp_path):
    conn = _edge_table(mysql_url, fresh_db)
    doc = run_snapshot(local_stack.cdc_mysql_url, [f"{fresh_db}.edge"], str(tmp_path / "s"),
                       SnapshotOptions(workers=2, chunk_rows=100))
    m = load_manifest(tmp_path / "s")
    t = doc["tables"][f"{fresh_db}.edge"]
    assert len(t["chunks"]) >= 5 and t["chunks"][1]["columns"] == ["code", "n"]  # seek-split on the whole key
    assert t["zero_dates"] == {"d": 12, "dt0": 10}  # the zero-date policy: NULL, counted
    rows = {(r["code"], r["n"]): r for r in m.read_arrow(f"{fresh_db}.edge").to_pylist()}
    assert len(rows) == 600
    r0, r7, r5 = rows[("k000-é", 0)], rows[("k007-é", 7)], rows[("k005-é", 5)]
    assert r0["d"] is None and r0["dt0"] is None  # zero dates
    assert r7["d"] == dt.date(2020, 1, 8) and r7["dt0"] == dt.datetime(2021, 1, 1, 0, 0, 7)
    assert r7["b5"] == 7 and r7["b64"] == Decimal(7 * 7919) and r5["b64"] == Decimal(2**64 - 1)
    assert r7["yr"] == 1908 and r7["big"] == "-7." + "9" * 30  # DECIMAL(65,30): exact text (> 38 digits)
    assert r7["bin4"] == b"\x01\x00\x00\x00" and rows[("k002-é", 2)]["bin4"] == b"ab\x00\x00"
    assert r7["vb"] == b"\x00\x01\x00\x01"
    assert r7["ts"] == dt.datetime(2022, 5, 6, 7, 8, 9, 123000) and r7["t3"] == "-799:59:59.965000"
    # the message is the same through either driver (test_raw_connection): here through pymysql's
    with pytest.raises(SnapshotError, match=r"edge\.d.*zero/invalid date '0000-00-00' at code='k000-é', n=0"):
        run_snapshot(local_stack.cdc_mysql_url, [f"{fresh_db}.edge"], str(tmp_path / "strict"),
                     SnapshotOptions(workers=1, zero_dates="error", driver="pymysql"))
    conn.close()


@pytest.mark.parametrize("table, pk_sql", [
    ("ints", "id BIGINT NOT NULL PRIMARY KEY"),
    ("strs", "id VARCHAR(12) NOT NULL PRIMARY KEY"),
    ("pair", "a INT NOT NULL, b VARCHAR(5) NOT NULL, PRIMARY KEY (a, b)"),
    ("nopk", "id INT NOT NULL"),
])
def test_chunks_partition_the_table(mysql_url, fresh_db, table, pk_sql):
    conn = connect(mysql_url, fresh_db)
    cols = "a, b" if table == "pair" else "id"
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} ({pk_sql}, v INT)")
        if table == "pair":
            data = [(i % 17, f"x{i:04d}", i) for i in range(1000)]
        elif table == "strs":
            data = [(f"s{i * 7919 % 10007:05d}", i) for i in range(1000)]
        else:
            data = [(i * i if table == "ints" else i, i) for i in range(1000)]  # skewed keys
        cur.executemany(f"INSERT INTO {table} ({cols}, v) VALUES ({', '.join(['%s'] * (len(data[0])))})", data)
    schema = read_table_schema(conn, fresh_db, table)
    chunks = plan_chunks(conn, schema, est_rows=1000, chunk_rows=150, min_chunks=2, min_split_rows=0)
    assert len(chunks) == 1 if table == "nopk" else len(chunks) >= 5
    seen = []
    with conn.cursor() as cur:
        for c in chunks:
            where, args = c.where()
            cur.execute(f"SELECT {cols} FROM {quote(fresh_db)}.{quote(table)} WHERE {where}", args)
            seen += cur.fetchall()
    assert sorted(seen) == sorted(tuple(d[:-1]) for d in data)  # every row exactly once
    conn.close()


def test_float_values_are_exact_and_equal_the_stream(local_stack, fresh_db, tmp_path):
    """Before, the snapshot read a FLOAT through the server's 6-digit text: FLT_MIN became 1.17549e-38, a
    subnormal binary32, while the stream carried the exact value; now both carry the binary32 exactly."""
    import struct

    from tests.conftest import after_images, binlog_now

    def f32(bits: int) -> float:
        return struct.unpack("<f", struct.pack("<I", bits))[0]

    values = [f32(b) for b in (0x00800000, 0x00800001, 0x007FFFFF, 1, 0x7F7FFFFF, 0x3DCCCCCD, 0x4B800001)]
    values += [-v for v in values]
    conn = connect(local_stack.mysql_url, fresh_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE f (id INT PRIMARY KEY, x FLOAT, y FLOAT NOT NULL)")
        start = binlog_now(local_stack.mysql_url)
        cur.executemany("INSERT INTO f VALUES (%s, %s, %s)", [(i, v, v) for i, v in enumerate(values)])
    conn.close()
    dest = str(tmp_path / "snap")
    run_snapshot(local_stack.cdc_mysql_url, [f"{fresh_db}.f"], dest, SnapshotOptions(workers=1))
    m = load_manifest(dest)
    storage = open_storage(dest)
    rows = [r for f in m.table(f"{fresh_db}.f").files
            for r in pq.read_table(io.BytesIO(storage.get_bytes(f.path))).to_pylist()]
    snapshot = {r["id"]: (r["x"], r["y"]) for r in rows}
    assert [snapshot[i] for i in range(len(values))] == [(v, v) for v in values]
    stream = after_images(local_stack, [f"{fresh_db}.f"], start)
    assert {i: (r["x"], r["y"]) for i, r in stream.items()} == snapshot
