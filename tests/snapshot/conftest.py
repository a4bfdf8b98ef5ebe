"""Helpers for the snapshot tests: read a snapshot and a live table into comparable rows, read the
binlog after a position, and apply it strictly (every before image must match) to snapshot rows."""

from __future__ import annotations

import random
import struct
from types import SimpleNamespace

import pytest
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.constants import NONE_SOURCE
from pymysqlreplication.event import XidEvent
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.ground.mysql import MySQLTarget, connect
from mysql2dynamo.keymap.schema import TableSchema
from mysql2dynamo.keymap.types import snapshot_value

SAMPLE_TABLES = ("customers", "orders", "order_items")


def norm(col, value):
    """FLOAT is binary32: compare the float32 a value stands for (pymysql parses the text as a double)."""
    if value is not None and col.data_type == "float":
        return struct.unpack("<f", struct.pack("<f", value))[0]
    return value


def key_of(schema: TableSchema, row: dict) -> tuple:
    return tuple(row[c] for c in schema.primary_key)


def snapshot_rows(manifest, name: str) -> dict[tuple, dict]:
    """{primary key: {column: value}} of one table of a snapshot, values as Parquet gives them."""
    entry = manifest.table(name)
    rows = {}
    for r in manifest.read_arrow(name).to_pylist():
        k = key_of(entry.schema, r)
        assert k not in rows, f"{name}: key {k} appears twice in the snapshot"
        rows[k] = {c.name: norm(c, r[c.name]) for c in entry.schema.columns}
    return rows


def mysql_rows(url: str, schema: TableSchema) -> dict[tuple, dict]:
    """The live table, through pymysql and keymap.types.snapshot_value (UTC session)."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SET time_zone = '+00:00'")
            cur.execute(f"SELECT * FROM `{schema.db}`.`{schema.name}`")
            names = [d[0] for d in cur.description]
            out = {}
            for row in cur.fetchall():
                d = dict(zip(names, row, strict=True))
                d = {c.name: norm(c, snapshot_value(c, d[c.name])) for c in schema.columns}
                out[key_of(schema, d)] = d
    finally:
        conn.close()
    return out


def diff_rows(name: str, got: dict, want: dict, limit: int = 5) -> list[str]:
    problems = []
    for k in sorted(set(got) | set(want), key=repr):
        if k not in got:
            problems.append(f"{name} {k}: missing (want {want[k]})")
        elif k not in want:
            problems.append(f"{name} {k}: extra row {got[k]}")
        elif got[k] != want[k]:
            cols = [c for c in want[k] if got[k].get(c) != want[k][c]]
            problems.append(f"{name} {k}: " + "; ".join(f"{c} {got[k].get(c)!r} != {want[k][c]!r}" for c in cols))
        if len(problems) >= limit:
            break
    return problems


def pos_key(file: str, pos: int) -> tuple[int, int]:
    return BinlogPosition(file, pos).file_index, pos


def binlog_changes(cdc_url: str, db: str, start: BinlogPosition) -> tuple[list[dict], list[tuple[int, int]]]:
    """Row changes of `db` from `start` to the current end of the binlog (non-blocking), each with its
    (file index, end position); and the end positions of the transactions that touched `db`."""
    t = MySQLTarget.parse(cdc_url)
    stream = BinLogStreamReader(
        connection_settings={"host": t.host, "port": t.port, "user": t.user, "passwd": t.password},
        server_id=random.randint(100_000, 2**31), log_file=start.file, log_pos=start.pos, resume_stream=True,
        blocking=False, only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent, XidEvent],
        is_mariadb=False,
    )
    changes, txn_ends, ours = [], [], False
    try:
        for ev in stream:
            at = pos_key(stream.log_file, ev.packet.log_pos)
            if isinstance(ev, XidEvent):
                if ours:
                    txn_ends.append(at)
                ours = False
                continue
            if ev.schema != db:
                continue
            ours = True
            for r in ev.rows:
                if isinstance(ev, WriteRowsEvent):
                    before, after = None, _image(r["values"], r["none_sources"])
                elif isinstance(ev, DeleteRowsEvent):
                    before, after = _image(r["values"], r["none_sources"]), None
                else:
                    before = _image(r["before_values"], r["before_none_sources"])
                    after = _image(r["after_values"], r["after_none_sources"])
                op = "insert" if before is None else "delete" if after is None else "update"
                changes.append({"at": at, "table": ev.table, "op": op, "before": before, "after": after})
    finally:
        stream.close()
    return changes, txn_ends


def _image(values: dict, none_sources: dict) -> dict:
    """python-mysql-replication decodes an empty SET as None (none source 'empty set'): make it empty."""
    return {c: (set() if v is None and none_sources.get(c) == NONE_SOURCE.EMPTY_SET else v) for c, v in values.items()}


def decode(schema: TableSchema, values: dict | None) -> dict | None:
    """A binlog row image in the snapshot's representation (snapshot_value pads BINARY(n), whose
    trailing 0x00 bytes the binlog drops, and orders SET members)."""
    if values is None:
        return None
    return {c.name: norm(c, snapshot_value(c, values[c.name])) for c in schema.columns}


def apply_strict(state: dict[str, dict], schemas: dict[str, TableSchema], changes: list[dict],
                 after: tuple[int, int]) -> list[str]:
    """Apply the changes that end after `after` to `state` ({table: {pk: row}}); a change whose
    before image does not match the state (or an insert of an existing key) is a problem."""
    problems = []
    for ch in changes:
        if ch["at"] <= after:
            continue
        schema = schemas[ch["table"]]
        rows = state[ch["table"]]
        before, new = decode(schema, ch["before"]), decode(schema, ch["after"])
        if before is not None:
            k = key_of(schema, before)
            if rows.get(k) != before:
                what = "absent" if k not in rows else "; ".join(
                    f"{c} {rows[k][c]!r} != {v!r}" for c, v in before.items() if rows[k][c] != v)
                problems.append(f"{ch['table']} {ch['op']} at {ch['at']}: before image of {k} does not match "
                                f"the snapshot ({what})")
            rows.pop(k, None)
        if new is not None:
            k = key_of(schema, new)
            if k in rows:
                problems.append(f"{ch['table']} {ch['op']} at {ch['at']}: {k} already in the snapshot")
            rows[k] = new
    return problems


@pytest.fixture
def snapcheck():
    return SimpleNamespace(snapshot_rows=snapshot_rows, mysql_rows=mysql_rows, diff_rows=diff_rows,
                           binlog_changes=binlog_changes, apply_strict=apply_strict, pos_key=pos_key,
                           norm=norm, key_of=key_of, SAMPLE_TABLES=SAMPLE_TABLES)
