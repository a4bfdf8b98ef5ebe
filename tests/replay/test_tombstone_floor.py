"""Tombstones removed while capture and replay run stay removed: `cleanup-tombstones` raises the floor,
a change capture publishes again after it cannot bring a deleted row back, a load running into a
target keeps the floor below its snapshot, and a load of a snapshot at or below the floor is refused.

Before the floor, the cleanup removed tombstones below a "low-water mark" (the lowest ver a shard had
applied), and the same story brought the deleted row back twice: once from the republished insert,
once from the re-load of the older snapshot."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mysql2dynamo.cdc.aggregate import user_records
from mysql2dynamo.cdc.checkpoint import FileCheckpointStore
from mysql2dynamo.cdc.progress import PROGRESS_ENV, ProgressTable
from mysql2dynamo.cdc.snapshot import load_manifest
from mysql2dynamo.cdc.snapshot.run import run_snapshot
from mysql2dynamo.cdc.stream import StreamSettings, run_stream
from mysql2dynamo.cli import main
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.jobs.bulk_load import LoadError, LoadOptions, run_load
from mysql2dynamo.jobs.targets import LOADING_TAG, TOMBSTONE_FLOOR_TAG, table_tags, tag_tables
from tests.conftest import binlog_now, unique


def _items(ddb, table: str) -> dict[str, dict]:
    return {i["SK"]["S"]: i for i in ddb.scan(TableName=table, ConsistentRead=True)["Items"]}


def test_cleaned_tombstones_stay_cleaned_under_redelivery_and_reload(spark, local_stack, fresh_db, kinesis,
                                                                     stream_name, dynamodb_table, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("M2D_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(PROGRESS_ENV, unique("progress"))
    ddb, table = local_stack.client("dynamodb"), dynamodb_table()
    progress = ProgressTable.from_env(stream_name, ddb)
    config = tmp_path / "m2d.yaml"
    config.write_text(f"""
version: 1
tables:
  {fresh_db}.t:
    target: {table}
    key: {{PK: "'T'", SK: "T#{{id}}"}}
    attributes: {{val: val}}
""")
    conn = connect(local_stack.mysql_url, fresh_db)
    conn.autocommit(True)
    start = binlog_now(local_stack.mysql_url)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, val INT)")
        cur.execute("INSERT INTO t VALUES (1, 10), (2, 20), (3, 30)")
    run_snapshot(local_stack.cdc_mysql_url, [f"{fresh_db}.t"], str(tmp_path / "snap"))  # before the deletes
    with conn.cursor() as cur:
        cur.execute("DELETE FROM t WHERE id = 1")
    between = binlog_now(local_stack.mysql_url)
    with conn.cursor() as cur:
        cur.execute("DELETE FROM t WHERE id = 2")
    conn.close()

    def capture_and_replay() -> dict:
        run_stream(StreamSettings(local_stack.cdc_mysql_url, [f"{fresh_db}.t"], stream_name,
                                  FileCheckpointStore(tmp_path / "cp.json"), start=start, stop_at_end=True),
                   kinesis, install_signals=False, say=lambda m: None)
        run = CliRunner().invoke(main, ["replay", "--config", str(config), "--stream", stream_name, "--mysql-url",
                                        local_stack.mysql_url, "--until-caught-up", "--quiet"])
        assert run.exit_code == 0, run.output
        return json.loads(run.stdout)

    def cleanup() -> list[dict]:
        run = CliRunner().invoke(main, ["cleanup-tombstones", "--table", table, "--stream", stream_name,
                                        "--progress-table", progress.table, "--settle-seconds", "0.2", "--yes"])
        assert run.exit_code == 0, run.output
        return [json.loads(line) for line in run.stdout.splitlines()]

    capture_and_replay()
    assert {sk: "_deleted" in i for sk, i in _items(ddb, table).items()} == {"T#1": True, "T#2": True, "T#3": False}

    # a load of the snapshot is running: the floor stays below its snapshot, so neither tombstone goes
    snap_ver = load_manifest(tmp_path / "snap").ver
    tag_tables(ddb, [table], LOADING_TAG, str(snap_ver))
    assert cleanup()[0] == {"table": table, "mark": progress.capture().position.ver(), "floor": snap_ver - 1,
                            "capped_by_load": snap_ver, "removed": 0, "changed_meanwhile": 0}
    tag_tables(ddb, [table], LOADING_TAG, None)

    [result] = cleanup()
    assert result["removed"] == 2 and result["floor"] == progress.floor() > between.ver()
    assert list(_items(ddb, table)) == ["T#3"]
    assert table_tags(ddb, table)[TOMBSTONE_FLOOR_TAG] == str(progress.floor())

    # capture publishes the first delete's insert again (a restart from an older checkpoint): dropped
    inserted = [(key, data) for s in kinesis.list_shards(StreamName=stream_name)["Shards"]
                for r in kinesis.get_records(ShardIterator=kinesis.get_shard_iterator(
                    StreamName=stream_name, ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"],
                    Limit=100)["Records"]
                for key, data in user_records(r["Data"], r["PartitionKey"])
                if json.loads(data)["op"] == "insert" and json.loads(data)["after"]["id"] == 1]
    kinesis.put_record(StreamName=stream_name, Data=inserted[0][1], PartitionKey=inserted[0][0])
    stats = capture_and_replay()
    assert stats["below_floor"] == 1 and stats["puts"] == 0
    assert list(_items(ddb, table)) == ["T#3"]

    # a re-load of the snapshot taken before the deletes: refused, naming the table and its floor
    with pytest.raises(LoadError, match=rf"older than the tombstones already removed from {table} \(tombstone floor"):
        run_load(spark, LoadOptions(manifest=str(tmp_path / "snap"), mapping=str(config), sink="dynamodb"))
    assert list(_items(ddb, table)) == ["T#3"] and LOADING_TAG not in table_tags(ddb, table)
    ddb.delete_table(TableName=progress.table)
