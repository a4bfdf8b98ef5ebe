"""The Lambda handler with the real event shape: cold-start config, snapshot skip, poison, throttling."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import mysql2dynamo.replay.handler as lambda_handler
from mysql2dynamo.cdc.checkpoint import FileCheckpointStore
from mysql2dynamo.cdc.envelope import Change
from mysql2dynamo.cdc.snapshot.manifest import load_manifest
from mysql2dynamo.cdc.snapshot.run import run_snapshot
from mysql2dynamo.cdc.stream import StreamSettings, run_stream
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.keymap.spec import load_mapping
from mysql2dynamo.replay.dead_letter import FolderDeadLetter
from mysql2dynamo.replay.runner import lambda_event
from mysql2dynamo.replay.runtime import ReplayRuntime
from tests.conftest import binlog_now

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
    run_stream(StreamSettings(local_stack.cdc_mysql_url, [f"{fresh_db}.t"], stream_name,
                              FileCheckpointStore(tmp_path / "cp"), start=start, stop_at_end=True),
               kinesis, install_signals=False, say=lambda m: None)
    records = []
    for shard in kinesis.list_shards(StreamName=stream_name)["Shards"]:
        it = kinesis.get_shard_iterator(StreamName=stream_name, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        records += kinesis.get_records(ShardIterator=it)["Records"]
    records.sort(key=lambda r: json.loads(r["Data"])["ver"])  # one "shard" in binlog order for the test
    arn = kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]["StreamARN"]
    event = lambda_event(records, "shardId-000000000000", arn, "us-east-1")
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
