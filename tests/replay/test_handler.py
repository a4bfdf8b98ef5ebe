"""The Lambda handler with the real event shape: cold-start config, snapshot skip, poison, throttling."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import mysql2dynamo.replay.handler as lambda_handler
from mysql2dynamo.cdc.aggregate import aggregate, user_records
from mysql2dynamo.cdc.checkpoint import FileCheckpointStore
from mysql2dynamo.cdc.envelope import Change, Source
from mysql2dynamo.cdc.snapshot.manifest import load_manifest
from mysql2dynamo.cdc.snapshot.run import run_snapshot
from mysql2dynamo.cdc.stream import StreamSettings, run_stream
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.keymap.spec import load_mapping, mapping_from_dict
from mysql2dynamo.replay.dead_letter import FolderDeadLetter
from mysql2dynamo.replay.runner import lambda_event
from mysql2dynamo.replay.runtime import ReplayRuntime
from tests.conftest import binlog_now
from tests.load.faults import FailingS3
from tests.replay.conftest import DB, SCHEMA, SOURCE, TABLE, TYPES, scan_items, tables_spec

CONFIG = """
tables:
  {db}.t:
    target: {table}
    key: {{PK: "G#{{grp}}", SK: "T#{{id}}"}}
    attributes: {{val: val}}
"""


class LambdaContext:
    """The part of Lambda's context object the handler reads."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class ThrottledDynamo:
    """A DynamoDB client that throttles every write of items whose key contains `hot`."""

    def __init__(self, real, hot: str) -> None:
        self.real, self.hot = real, hot

    def put_item(self, **kw):
        if self.hot in json.dumps(kw["Item"], default=str):
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "injected"}},
                              "PutItem")
        return self.real.put_item(**kw)


def _captured_event(local_stack, kinesis, stream_name: str, table: str, start, tmp_path) -> dict:
    """Capture `table` from `start` to the end of the binlog; every record in one Lambda event, in binlog order."""
    run_stream(StreamSettings(local_stack.cdc_mysql_url, [table], stream_name, FileCheckpointStore(tmp_path / "cp"),
                              start=start, stop_at_end=True), kinesis, install_signals=False, say=lambda m: None)
    records = []
    for shard in kinesis.list_shards(StreamName=stream_name)["Shards"]:
        it = kinesis.get_shard_iterator(StreamName=stream_name, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        for r in kinesis.get_records(ShardIterator=it)["Records"]:  # a record per change, aggregates taken apart
            records += [{**r, "Data": data, "PartitionKey": key, "SequenceNumber": f"{r['SequenceNumber']}{i:04d}"}
                        for i, (key, data) in enumerate(user_records(r["Data"], r["PartitionKey"]))]
    records.sort(key=lambda r: json.loads(r["Data"])["ver"])  # one "shard" in binlog order for the test
    arn = kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]["StreamARN"]
    return lambda_event(records, "shardId-000000000000", arn, "us-east-1")


@pytest.fixture
def scenario(local_stack, fresh_db, dynamodb_table, stream_name, kinesis, tmp_path):
    """Rows 1, 2 in the snapshot; then row 1 updated, row 2 deleted, row 3 (NULL grp) inserted."""
    table = dynamodb_table()
    config = tmp_path / "mysql2dynamo.yaml"
    config.write_text(CONFIG.format(db=fresh_db, table=table))
    start = binlog_now(local_stack.mysql_url)
    conn = connect(local_stack.mysql_url, fresh_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, grp VARCHAR(10) NULL, val INT)")
        cur.execute("INSERT INTO t VALUES (1, 'a', 10), (2, 'b', 20), (4, 'd', 40)")
    run_snapshot(local_stack.cdc_mysql_url, [f"{fresh_db}.t"], str(tmp_path / "snap"))
    with conn.cursor() as cur:
        cur.execute("UPDATE t SET val = 11 WHERE id = 1")
        cur.execute("DELETE FROM t WHERE id = 2")
        cur.execute("INSERT INTO t VALUES (3, NULL, 30)")
        cur.execute("UPDATE t SET val = 41 WHERE id = 4")
    conn.close()
    event = _captured_event(local_stack, kinesis, stream_name, f"{fresh_db}.t", start, tmp_path)
    return {"table": table, "config": config, "snapshot": tmp_path / "snap", "event": event,
            "dead": tmp_path / "dead"}


def _change(record: dict) -> Change:
    return Change.from_bytes(base64.b64decode(record["kinesis"]["data"]))


def _items(local_stack, table: str) -> dict[str, dict]:
    items = local_stack.client("dynamodb").scan(TableName=table)["Items"]
    return {i["SK"]["S"]: i for i in items}


def test_handler_cold_start_from_env_skips_the_snapshot_and_parks_poison(local_stack, scenario, monkeypatch):
    monkeypatch.setenv("M2D_CONFIG", str(scenario["config"]))
    monkeypatch.setenv("M2D_MANIFEST", str(scenario["snapshot"]))
    monkeypatch.setenv("M2D_DEAD_LETTER", str(scenario["dead"]))
    monkeypatch.setattr(lambda_handler, "_runtime", None)
    response = lambda_handler.handler(scenario["event"], LambdaContext(60_000))
    assert response == {"batchItemFailures": []}
    assert lambda_handler._runtime.engine.snapshot_ver == load_manifest(scenario["snapshot"]).ver

    items = _items(local_stack, scenario["table"])
    assert items["T#1"]["val"] == {"N": "11"} and "_deleted" not in items["T#1"]
    assert items["T#2"]["_deleted"] == {"BOOL": True}  # the delete after the snapshot: a tombstone
    assert items["T#4"]["val"] == {"N": "41"}
    assert "T#3" not in items  # NULL grp: no key
    letters = FolderDeadLetter(scenario["dead"]).read()
    insert_3 = next(r for r in scenario["event"]["Records"] if _change(r).key == {"id": 3})
    assert [(p["reason"], p["sequence_number"]) for p in letters] == \
        [("null_key", insert_3["kinesis"]["sequenceNumber"])]
    assert "key attribute PK is null" in letters[0]["message"] and "id=3" in letters[0]["message"]


def test_throttled_writes_report_the_first_failed_record(local_stack, scenario):
    mapping = load_mapping(Path(scenario["config"]).read_text(), str(scenario["config"]))
    manifest = load_manifest(scenario["snapshot"])
    schemas = {s: manifest.table(s).schema for s in mapping.sources}
    ddb = local_stack.client("dynamodb")
    dead = FolderDeadLetter(scenario["dead"])
    throttled = ReplayRuntime.build(mapping, schemas, manifest.ver, dead, dynamodb=ThrottledDynamo(ddb, "T#1"))
    records = scenario["event"]["Records"]
    response, outcome = lambda_handler.process(scenario["event"], throttled, deadline=time.monotonic() + 0.5)
    # row 1's insert is in the snapshot (skipped); its update is the write that could not land
    update_1 = next(r for r in records if _change(r).key == {"id": 1} and _change(r).op == "update")
    assert response == {"batchItemFailures": [{"itemIdentifier": update_1["kinesis"]["sequenceNumber"]}]}
    assert outcome.stats.failed == 1 and "ProvisionedThroughputExceeded" in outcome.errors[0]
    items = _items(local_stack, scenario["table"])
    assert "T#1" not in items and items["T#4"]["val"] == {"N": "41"}  # the rest of the batch landed

    # Lambda retries from the reported record on; now DynamoDB has capacity again
    retry = {"Records": records[records.index(update_1):]}
    healthy = ReplayRuntime.build(mapping, schemas, manifest.ver, dead, dynamodb=ddb)
    response, _ = lambda_handler.process(retry, healthy, deadline=None)
    assert response == {"batchItemFailures": []}
    assert _items(local_stack, scenario["table"])["T#1"]["val"] == {"N": "11"}


def _claim_checked_event(s3, bucket: str, rows: list[dict], missing: set[int]) -> tuple[dict, dict[int, str]]:
    """One Lambda event of claim-check pointers for inserts of `rows`; the objects of ids in `missing`
    are not stored. Returns the event and the object key of each id."""
    records, keys = [], {}
    for n, row in enumerate(rows):
        source = Source("binlog.000001", 1000 + n, 0, None, 1, 0)
        change = Change("insert", DB, TABLE, ("id",), None, row, TYPES, source)
        keys[row["id"]] = f"claims/{row['id']}.json"
        if row["id"] not in missing:
            s3.put_object(Bucket=bucket, Key=keys[row["id"]], Body=change.to_bytes())
        pointer = change.pointer(f"s3://{bucket}/{keys[row['id']]}")
        records.append({"PartitionKey": pointer.partition_key, "SequenceNumber": f"{100 + n:056d}",
                        "Data": pointer.to_bytes(), "ApproximateArrivalTimestamp": datetime.now(UTC)})
    return lambda_event(records, "shardId-000000000000", "arn:aws:kinesis:us-east-1:0:stream/s", "us-east-1"), keys


def _things(local_stack, table: str) -> list[str]:
    """The sort keys of the items of the `thing` rule."""
    items = scan_items(local_stack.client("dynamodb"), table)
    return sorted(json.loads(k)["SK"]["S"] for k in items if "EDGE" not in k)


def _runtime(local_stack, table: str, dead: Path) -> ReplayRuntime:
    return ReplayRuntime.build(mapping_from_dict(tables_spec(table)), {SOURCE: SCHEMA}, None, FolderDeadLetter(dead),
                               dynamodb=local_stack.client("dynamodb"))


def test_claim_check_errors_retry_transient_dead_letter_gone_and_fail_loud_on_access(local_stack, dynamodb_table,
                                                                                      s3_bucket, tmp_path):
    """Before, any S3 error fetching a claim check (SlowDown, a 5xx, AccessDenied) made the record a dead letter
    and the shard moved on: a throttled read lost the change."""
    table, s3 = dynamodb_table(), local_stack.client("s3")
    rows = [{"id": i, "grp": "g", "val": i, "status": "ok"} for i in (1, 2, 3, 4)]
    event, keys = _claim_checked_event(s3, s3_bucket, rows, missing={3})
    seq = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
    rt = _runtime(local_stack, table, tmp_path / "dead")
    flaky = FailingS3(s3, {keys[1]: ["SlowDown"], keys[2]: ["InternalError"]})

    response, outcome = lambda_handler.process(event, rt, deadline=None, s3=flaky)
    assert response == {"batchItemFailures": [{"itemIdentifier": seq[0]}]}  # retried from the throttled record
    assert outcome.stats.failed == 2 and "SlowDown" in outcome.errors[0]
    assert _things(local_stack, table) == ["T#000004"]
    assert FolderDeadLetter(tmp_path / "dead").read() == []  # the gone object's record comes again

    retry = {"Records": event["Records"][seq.index(response["batchItemFailures"][0]["itemIdentifier"]):]}
    response, _ = lambda_handler.process(retry, rt, deadline=None, s3=flaky)
    assert response == {"batchItemFailures": []}
    assert _things(local_stack, table) == ["T#000001", "T#000002", "T#000004"]
    letters = FolderDeadLetter(tmp_path / "dead").read()
    assert [(p["reason"], p["sequence_number"]) for p in letters] == [("claim_check", seq[2])]
    assert "NoSuchKey" in letters[0]["message"] and keys[3] in letters[0]["message"]
    assert Change.from_bytes(base64.b64decode(letters[0]["data"])).claim_check.endswith(keys[3])  # the pointer

    denied = FailingS3(s3, {keys[1]: ["AccessDenied"]})
    with pytest.raises(lambda_handler.ReplayConfigError, match=r"AccessDenied.*s3:GetObject"):
        lambda_handler.process(event, rt, deadline=None, s3=denied)
    assert len(FolderDeadLetter(tmp_path / "dead").read()) == 1  # nothing parked for a configuration error


def test_a_mapping_error_is_a_dead_letter_with_the_data(local_stack, fresh_db, dynamodb_table, stream_name, kinesis,
                                                        tmp_path):
    """An ALTER made a DECIMAL column text after the snapshot, and the records are version-1 envelopes (from a
    capture older than the column list, so replay cannot follow the ALTER): mapping 'abc' with the snapshot's
    DECIMAL raises decimal.InvalidOperation. Before, the exception failed every batch (and Lambda discarded it
    after its retries); now the record is a dead letter with its data and the reason, and the rest of the
    batch lands. (With the column list, replay follows the ALTER: tests/replay/test_schema_changes.py.)"""
    table = dynamodb_table()
    conn = connect(local_stack.mysql_url, fresh_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, grp VARCHAR(10), val DECIMAL(6,2))")
        cur.execute("INSERT INTO t VALUES (1, 'a', 1.50)")
    run_snapshot(local_stack.cdc_mysql_url, [f"{fresh_db}.t"], str(tmp_path / "snap"))
    start = binlog_now(local_stack.mysql_url)
    with conn.cursor() as cur:
        cur.execute("ALTER TABLE t MODIFY val VARCHAR(20)")
        cur.execute("INSERT INTO t VALUES (2, 'a', 'abc'), (3, 'a', '3.25')")
    conn.close()
    event = _captured_event(local_stack, kinesis, stream_name, f"{fresh_db}.t", start, tmp_path)
    # as a version-1 envelope from a capture that old: no column list, and no backfill after the ALTER
    event["Records"] = [r for r in event["Records"]
                        if not Change.from_bytes(base64.b64decode(r["kinesis"]["data"])).source.derived]
    for record in event["Records"]:
        old = Change.from_bytes(base64.b64decode(record["kinesis"]["data"]))
        record["kinesis"]["data"] = base64.b64encode(dataclasses.replace(old, columns=None).to_bytes()).decode()
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.format(db=fresh_db, table=table))
    mapping = load_mapping(config.read_text(), str(config))
    manifest = load_manifest(tmp_path / "snap")
    rt = ReplayRuntime.build(mapping, {s: manifest.table(s).schema for s in mapping.sources}, manifest.ver,
                             FolderDeadLetter(tmp_path / "dead"), dynamodb=local_stack.client("dynamodb"))
    response, _ = lambda_handler.process(event, rt, None)
    assert response == {"batchItemFailures": []}
    assert _items(local_stack, table)["T#3"]["val"] == {"N": "3.25"}
    letters = FolderDeadLetter(tmp_path / "dead").read()
    assert [p["reason"] for p in letters] == ["mapping_error"]
    assert "InvalidOperation" in letters[0]["message"] and f"{fresh_db}.t" in letters[0]["message"]
    assert Change.from_bytes(base64.b64decode(letters[0]["data"])).after == {"id": 2, "grp": "a", "val": "abc"}


def test_an_aggregated_record_lands_whole_and_only_its_bad_entry_is_a_dead_letter(local_stack, dynamodb_table,
                                                                                   tmp_path):
    table = dynamodb_table()
    changes = [Change("insert", DB, TABLE, ("id",), None, {"id": i, "grp": "g", "val": i, "status": "ok"}, TYPES,
                      Source("binlog.000001", 1000 + i, 0, None, 1, 0)) for i in (1, 2, 3)]
    entries = [(c.partition_key, c.to_bytes()) for c in changes]
    entries.insert(1, ("db.t|[9]", b'{"v": 2, "op": "insert"'))  # cut short: cannot be read
    corrupt = bytearray(aggregate(entries[:2]))
    corrupt[6] ^= 0xFF  # its MD5 no longer matches: nothing in it can be trusted
    now = datetime.now(UTC)
    records = [{"PartitionKey": entries[0][0], "SequenceNumber": f"{100 + n:056d}", "Data": data,
                "ApproximateArrivalTimestamp": now} for n, data in enumerate((aggregate(entries), bytes(corrupt)))]
    event = lambda_event(records, "shardId-000000000000", "arn:aws:kinesis:us-east-1:0:stream/s", "us-east-1")
    response, outcome = lambda_handler.process(event, _runtime(local_stack, table, tmp_path / "dead"), deadline=None)
    assert response == {"batchItemFailures": []}
    assert _things(local_stack, table) == ["T#000001", "T#000002", "T#000003"]
    letters = FolderDeadLetter(tmp_path / "dead").read()
    assert [(p["reason"], p["sequence_number"], p["partition_key"]) for p in letters] == [
        ("undecodable", records[0]["SequenceNumber"], "db.t|[9]"),
        ("undecodable", records[1]["SequenceNumber"], entries[0][0])]
    assert base64.b64decode(letters[0]["data"]) == entries[1][1]  # the bad entry alone, not its neighbours
    assert "MD5 does not match" in letters[1]["message"]


def test_a_cold_start_that_cannot_build_the_mapping_fails_loud(monkeypatch, tmp_path):
    monkeypatch.setenv("M2D_CONFIG", str(tmp_path / "missing.yaml"))
    monkeypatch.setenv("M2D_MANIFEST", str(tmp_path / "snap"))
    monkeypatch.setenv("M2D_DEAD_LETTER", str(tmp_path / "dead"))
    monkeypatch.setattr(lambda_handler, "_runtime", None)
    with pytest.raises(lambda_handler.ReplayConfigError, match=r"cold start failed \(M2D_CONFIG=.*missing.yaml"):
        lambda_handler.handler({"Records": []}, LambdaContext(60_000))
