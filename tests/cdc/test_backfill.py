"""ALTER TABLE ... ADD COLUMN ... DEFAULT mid-migration: capture re-reads the table, so items equal rows.

The DEFAULT fills the existing rows without row events. Capture (cdc/backfill.py) emits every row of
the altered table after the ALTER, at the ALTER's position and marked `source.derived`, before the
ALTER's position can be checkpointed: replayed on a real MariaDB binlog and kinesalite, every item gets
the new attribute, a later change of a row still wins, an excluded column stays out, and a capture
stopped in the middle of the backfill makes it again on restart.
"""

from __future__ import annotations

import json
import threading

import pytest
from botocore.exceptions import ClientError

from mysql2dynamo.cdc.checkpoint import FileCheckpointStore
from mysql2dynamo.cdc.publisher import PublishError
from mysql2dynamo.cdc.snapshot.lookup import all_rows
from mysql2dynamo.cdc.stream import StreamSettings, run_stream
from mysql2dynamo.ground.dynamo_json import from_client_item, to_client_item
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.jobs.canonical import canonical_item
from mysql2dynamo.keymap.checker import check
from mysql2dynamo.keymap.compile_python import compile_python
from mysql2dynamo.keymap.schema import read_table_schema
from mysql2dynamo.keymap.spec import mapping_from_dict
from mysql2dynamo.replay.apply import ApplyEngine
from tests.cdc.test_capture import _sql
from tests.conftest import all_changes, binlog_now

ROWS = 23  # backfilled 5 a SELECT: five chunks, the last one short


def _mapping(source: str, target: str):
    return mapping_from_dict({source: {"target": target, "key": {"PK": "T#{id}", "SK": "ROW"}, "rest": True,
                                       "exclude": ["secret"]}})


def _mapper(local_stack, source: str, target: str):
    """The mapping compiled on the table as it is now (what a snapshot taken now would carry)."""
    conn = connect(local_stack.cdc_mysql_url)
    schema = read_table_schema(conn, *source.split(".", 1))
    conn.close()
    return compile_python(check(_mapping(source, target), {source: schema})), schema


def _load(local_stack, source: str, target: str, ver: int):
    """Items as the bulk load writes them from a snapshot at `ver`; the mapping compiled on the snapshot's
    schema, as replay gets it."""
    mapper, schema = _mapper(local_stack, source, target)
    conn = connect(local_stack.cdc_mysql_url)
    ddb = local_stack.client("dynamodb")
    for batch in all_rows(conn, schema):
        for row in batch:
            for result in mapper.map_row(source, row, ver):
                ddb.put_item(TableName=target, Item=to_client_item(result.item))
    conn.close()
    return mapper


def _items_and_rows(local_stack, source: str, target: str) -> tuple[dict, dict]:
    """(live items, every current row mapped as the bulk load maps it), by key, without `_ver`."""
    mapper, schema = _mapper(local_stack, source, target)
    conn = connect(local_stack.cdc_mysql_url)
    rows = {}
    for batch in all_rows(conn, schema):
        for row in batch:
            for result in mapper.map_row(source, row):
                rows[canonical_item(json.loads(result.key))] = canonical_item(json.loads(result.item))
    conn.close()
    items = {}
    for page in local_stack.client("dynamodb").get_paginator("scan").paginate(TableName=target):
        for raw in page["Items"]:
            item = from_client_item(raw)
            items[canonical_item({k: item[k] for k in ("PK", "SK")})] = canonical_item(item, drop=("_ver",))
    return items, rows


def _settings(local_stack, source: str, stream_name: str, tmp_path, start) -> StreamSettings:
    return StreamSettings(local_stack.cdc_mysql_url, [source], stream_name, FileCheckpointStore(tmp_path / "cp"),
                          start=start, stop_at_end=True, exclude={source: frozenset({"SECRET"})}, backfill_chunk=5,
                          progress_every=0.0, in_flight=1)


def _create(local_stack, db: str) -> None:
    _sql(local_stack.mysql_url, db,
         "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, secret VARCHAR(20))",
         "CREATE TABLE other (id INT PRIMARY KEY)",
         "INSERT INTO t VALUES " + ", ".join(f"({i}, 'n{i}', 's{i}')" for i in range(1, ROWS + 1)),
         "INSERT INTO other VALUES (1)")


def test_add_column_default_reaches_every_item_and_a_later_update_wins(local_stack, fresh_db, kinesis, stream_name,
                                                                       dynamodb_table, tmp_path):
    source, target = f"{fresh_db}.t", dynamodb_table()
    _create(local_stack, fresh_db)
    snapshot = binlog_now(local_stack.mysql_url)  # capture starts here, the snapshot is taken, the load writes
    snapshot_mapper = _load(local_stack, source, target, snapshot.ver())
    _sql(local_stack.mysql_url, fresh_db, "ALTER TABLE t ADD COLUMN c INT NOT NULL DEFAULT 7")
    altered = binlog_now(local_stack.mysql_url)
    _sql(local_stack.mysql_url, fresh_db, "ALTER TABLE other ADD COLUMN c INT NOT NULL DEFAULT 7")  # not captured
    messages: list[str] = []
    settings = _settings(local_stack, source, stream_name, tmp_path, snapshot)
    run_stream(settings, kinesis, install_signals=False, say=messages.append)
    assert settings.checkpoint.load().position > altered  # acknowledged: the backfill is on the stream
    _sql(local_stack.mysql_url, fresh_db, "UPDATE t SET c = 8, name = 'later' WHERE id = 3")
    metrics = run_stream(settings, kinesis, install_signals=False, say=messages.append)

    changes = sorted(all_changes(kinesis, stream_name), key=lambda c: c.ver)
    backfill, later = changes[:-1], changes[-1]
    assert [c.key["id"] for c in backfill] == list(range(1, ROWS + 1)) and later.source.derived is None
    assert {c.source.derived for c in backfill} == {f"backfill after ALTER TABLE {source} ADD COLUMN c"}
    assert {(c.source.file, c.source.pos) for c in backfill} == {(altered.file, altered.pos)}
    assert [c.source.row for c in backfill] == list(range(ROWS)) and backfill[-1].ver < later.ver
    assert backfill[0].after == {"id": 1, "name": "n1", "c": 7}  # the excluded column stays out
    assert backfill[0].columns == later.columns and later.columns[-1] == ("c", "int")  # as the binlog describes it
    assert metrics.backfilled == 0  # the second run read no ALTER
    assert any(f"backfill of {source} (ADD COLUMN c) after ALTER TABLE at {altered.file}:{altered.pos}" in m
               for m in messages)
    assert any(f"backfill of {source}: {ROWS} rows queued in" in m for m in messages)

    # replay (the snapshot's mapping, following the ALTER by the changes' column lists) gets the later update
    # first and the backfill after it, as a re-run delivers it again: the guarded write keeps the update
    engine = ApplyEngine(snapshot_mapper, local_stack.client("dynamodb"), snapshot_ver=snapshot.ver())
    first = engine.apply([(0, later)])
    outcome = engine.apply(enumerate(backfill))
    assert first.stats.puts == 1 and outcome.stats.puts == ROWS - 1 and outcome.stats.stale == 1
    assert not outcome.poisons and not outcome.errors
    items, rows = _items_and_rows(local_stack, source, target)
    assert items == rows  # what verify compares: no missing, no different item
    values = {json.loads(k)["PK"]["S"]: json.loads(v)["c"] for k, v in items.items()}
    assert values == {f"T#{i}": {"N": "8" if i == 3 else "7"} for i in range(1, ROWS + 1)}
    assert all("secret" not in json.loads(v) for v in items.values())


class StoppingKinesis:
    """Takes the first PutRecords call carrying backfill records, then refuses every call for good (the
    stream was deleted): capture stops in the middle of a backfill, as a crash would leave it."""

    def __init__(self, real) -> None:
        self.real, self.lock, self.backfill_calls = real, threading.Lock(), 0

    def put_records(self, StreamName: str, Records: list[dict]):  # noqa: N803 (boto3's names)
        with self.lock:
            self.backfill_calls += any(b'"derived":"backfill' in r["Data"] for r in Records)
            if self.backfill_calls > 1:
                raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "injected"}},
                                  "PutRecords")
        return self.real.put_records(StreamName=StreamName, Records=Records)


def test_capture_stopped_in_the_middle_of_a_backfill_makes_it_again_on_restart(
        local_stack, fresh_db, kinesis, stream_name, dynamodb_table, tmp_path):
    source, target = f"{fresh_db}.t", dynamodb_table()
    _create(local_stack, fresh_db)
    snapshot = binlog_now(local_stack.mysql_url)
    snapshot_mapper = _load(local_stack, source, target, snapshot.ver())
    _sql(local_stack.mysql_url, fresh_db, "ALTER TABLE t ADD COLUMN c INT NOT NULL DEFAULT 7, MODIFY name VARCHAR(40)")
    altered = binlog_now(local_stack.mysql_url)
    settings = _settings(local_stack, source, stream_name, tmp_path, snapshot)
    with pytest.raises(PublishError):
        run_stream(settings, StoppingKinesis(kinesis), install_signals=False, say=lambda m: None)
    published = len(all_changes(kinesis, stream_name))
    assert 0 < published < ROWS and settings.checkpoint.load().position < altered  # the ALTER is not acknowledged

    run_stream(settings, kinesis, install_signals=False, say=lambda m: None)
    assert settings.checkpoint.load().position >= altered
    changes = all_changes(kinesis, stream_name)
    assert len(changes) == published + ROWS  # the first rows twice: harmless, the same `ver`
    assert {c.source.derived for c in changes} == {
        f"backfill after ALTER TABLE {source} ADD COLUMN c, MODIFY COLUMN name"}
    outcome = ApplyEngine(snapshot_mapper, local_stack.client("dynamodb"), snapshot_ver=snapshot.ver()).apply(
        enumerate(changes))
    assert not outcome.poisons and outcome.stats.puts == ROWS
    items, rows = _items_and_rows(local_stack, source, target)
    assert items == rows and all(json.loads(v)["c"] == {"N": "7"} for v in items.values())
