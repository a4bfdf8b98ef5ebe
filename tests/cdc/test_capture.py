"""The capture stream against MariaDB + kinesalite: images, DDL, TRUNCATE, purge, claim check, checkpoints."""

from __future__ import annotations

import json
import os

import pytest

from mysql2dynamo.cdc.binlog import CaptureError
from mysql2dynamo.cdc.checkpoint import Checkpoint, DynamoCheckpointStore, FileCheckpointStore
from mysql2dynamo.cdc.envelope import Change
from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.cdc.stream import PurgedBinlogError, StreamSettings, run_stream
from mysql2dynamo.ground.mysql import connect
from tests.conftest import all_changes, binlog_now, unique


def _sql(url: str, db: str, *statements: str) -> None:
    conn = connect(url, db)
    with conn.cursor() as cur:
        for s in statements:
            cur.execute(s)
    conn.close()


def _settings(local_stack, tables, stream, checkpoint, **kw) -> StreamSettings:
    return StreamSettings(local_stack.cdc_mysql_url, tables, stream, checkpoint, stop_at_end=True, **kw)


def test_insert_update_delete_carry_before_and_after(local_stack, fresh_db, kinesis, stream_name, tmp_path):
    start = binlog_now(local_stack.mysql_url)
    _sql(local_stack.mysql_url, fresh_db,
         "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20), price DECIMAL(10,3))",
         "INSERT INTO t VALUES (1, 'a', 1.500), (2, 'b', 2.000)",
         "UPDATE t SET name = 'a2' WHERE id = 1",
         "UPDATE t SET id = 3 WHERE id = 2",  # the primary key changes
         "DELETE FROM t WHERE id = 1")
    run_stream(_settings(local_stack, [f"{fresh_db}.t"], stream_name, FileCheckpointStore(tmp_path / "cp"),
                         start=start), kinesis, install_signals=False, say=lambda m: None)
    changes = sorted(all_changes(kinesis, stream_name), key=lambda c: c.ver)
    assert [(c.op, c.key) for c in changes] == [
        ("insert", {"id": 1}), ("insert", {"id": 2}), ("update", {"id": 1}), ("update", {"id": 3}),
        ("delete", {"id": 1})]
    assert changes[0].after == {"id": 1, "name": "a", "price": changes[0].after["price"]}
    assert str(changes[0].after["price"]) == "1.500"
    assert changes[2].before["name"] == "a" and changes[2].after["name"] == "a2"
    assert changes[3].before["id"] == 2 and changes[3].after["id"] == 3
    assert changes[4].before["name"] == "a2" and changes[4].after is None
    assert changes[0].source.row == 0 and changes[1].source.row == 1 and changes[0].source.gtid
    assert len({c.ver for c in changes}) == 5


def test_alter_table_follows_and_truncate_is_refused(local_stack, fresh_db, kinesis, stream_name, tmp_path):
    start = binlog_now(local_stack.mysql_url)
    _sql(local_stack.mysql_url, fresh_db,
         "CREATE TABLE t (id INT PRIMARY KEY, a INT)",
         "INSERT INTO t VALUES (1, 10)",
         "ALTER TABLE t ADD COLUMN b VARCHAR(10) AFTER id",
         "INSERT INTO t VALUES (2, 'new', 20)",
         "TRUNCATE TABLE t",
         "INSERT INTO t VALUES (3, 'after', 30)")
    store = FileCheckpointStore(tmp_path / "cp")
    with pytest.raises(CaptureError, match=r"TRUNCATE of .*\.t at binlog\.\d+:\d+.*new snapshot"):
        run_stream(_settings(local_stack, [f"{fresh_db}.t"], stream_name, store, start=start),
                   kinesis, install_signals=False, say=lambda m: None)
    changes = sorted(all_changes(kinesis, stream_name), key=lambda c: c.ver)
    # the ALTER's backfill re-states the rows as capture reads them when it gets there (row 3, inserted later,
    # whose own insert then comes after it); its TRUNCATE stops capture
    assert [c.after for c in changes] == [{"id": 1, "a": 10}, {"id": 3, "b": "after", "a": 30},
                                          {"id": 2, "b": "new", "a": 20}]
    assert changes[1].source.derived == f"backfill after ALTER TABLE {fresh_db}.t ADD COLUMN b"
    assert store.load().position.ver() >= changes[-1].ver  # acknowledged work was checkpointed

    metrics = run_stream(_settings(local_stack, [f"{fresh_db}.t"], stream_name, store, on_truncate="warn"),
                         kinesis, install_signals=False, say=lambda m: None)
    assert any("TRUNCATE" in w for w in metrics.warnings)
    assert [c.after for c in sorted(all_changes(kinesis, stream_name), key=lambda c: c.ver)][-1] == \
        {"id": 3, "b": "after", "a": 30}


def test_resume_after_rotation_continues_without_gap_or_repeat(local_stack, fresh_db, kinesis, stream_name,
                                                               tmp_path):
    start = binlog_now(local_stack.mysql_url)
    _sql(local_stack.mysql_url, fresh_db, "CREATE TABLE t (id INT PRIMARY KEY)",
         *[f"INSERT INTO t VALUES ({i})" for i in range(1, 11)])
    store = FileCheckpointStore(tmp_path / "cp")
    settings = _settings(local_stack, [f"{fresh_db}.t"], stream_name, store, start=start)
    run_stream(settings, kinesis, install_signals=False, say=lambda m: None)
    first = store.load().position
    _sql(local_stack.mysql_url, fresh_db, "FLUSH BINARY LOGS", *[f"INSERT INTO t VALUES ({i})" for i in range(11, 21)])
    run_stream(settings, kinesis, install_signals=False, say=lambda m: None)
    assert store.load().position.file_index > first.file_index
    keys = sorted(c.key["id"] for c in all_changes(kinesis, stream_name))
    assert keys == list(range(1, 21))


def test_purged_binlog_is_a_loud_error(local_stack, fresh_db, kinesis, stream_name, tmp_path):
    store = FileCheckpointStore(tmp_path / "cp")
    store.save(Checkpoint(BinlogPosition("binlog.000000", 4), stream_name, 0.0))
    with pytest.raises(PurgedBinlogError, match=r"binlog\.000000:4 is no longer on the server.*new snapshot"):
        run_stream(_settings(local_stack, [f"{fresh_db}.t"], stream_name, store), kinesis,
                   install_signals=False, say=lambda m: None)


def test_oversize_change_travels_by_claim_check(local_stack, fresh_db, kinesis, stream_name, s3_bucket, tmp_path):
    start = binlog_now(local_stack.mysql_url)
    big = "é" * 800_000  # 1.6 MB of UTF-8
    conn = connect(local_stack.mysql_url, fresh_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE docs (id INT PRIMARY KEY, body LONGTEXT)")
        cur.execute("INSERT INTO docs VALUES (1, %s), (2, 'small')", (big,))
    conn.close()
    s3 = local_stack.client("s3")
    run_stream(_settings(local_stack, [f"{fresh_db}.docs"], stream_name, FileCheckpointStore(tmp_path / "cp"),
                         start=start, claim_check=f"s3://{s3_bucket}/claims"),
               kinesis, s3, install_signals=False, say=lambda m: None)
    changes = {c.key["id"]: c for c in all_changes(kinesis, stream_name)}
    pointer = changes[1]
    assert pointer.claim_check.startswith(f"s3://{s3_bucket}/claims/") and pointer.after == {"id": 1}
    key = pointer.claim_check.split("/", 3)[3]
    full = Change.from_bytes(s3.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
    assert full.after == {"id": 1, "body": big} and full.ver == pointer.ver
    assert changes[2].claim_check is None and changes[2].after["body"] == "small"


def test_cascading_foreign_keys_of_a_parent_not_captured_are_reported(local_stack, fresh_db, kinesis, stream_name,
                                                                      tmp_path):
    _sql(local_stack.mysql_url, fresh_db,
         "CREATE TABLE parent (id INT PRIMARY KEY)",
         "CREATE TABLE child (id INT PRIMARY KEY, parent_id INT, "
         "FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE)")
    messages: list[str] = []  # a captured parent's cascades are followed (tests/cdc/test_cascade.py)
    metrics = run_stream(_settings(local_stack, [f"{fresh_db}.child"], stream_name,
                                   FileCheckpointStore(tmp_path / "cp"), from_now=True),
                         kinesis, install_signals=False, say=messages.append)
    assert any(f"{fresh_db}.child: foreign key" in w and "ON DELETE CASCADE" in w for w in metrics.warnings)
    assert any(m.startswith("WARNING:") and "cascade" in m for m in messages)


def test_dynamodb_checkpoint_store_never_goes_backwards(local_stack):
    ddb = local_stack.client("dynamodb")
    store = DynamoCheckpointStore(ddb, unique("checkpoints"), "orders-stream")
    store.ensure_table()
    assert store.load() is None
    p1, p2 = BinlogPosition("binlog.000003", 900, "0-1-5"), BinlogPosition("binlog.000004", 120)
    store.save(Checkpoint(p1, "s", 1.0))
    assert store.load().position == p1 and store.load().position.gtid == "0-1-5"
    store.save(Checkpoint(p2, "s", 2.0))
    with pytest.raises(RuntimeError, match="another stream process"):
        store.save(Checkpoint(p1, "s", 3.0))
    assert json.loads(ddb.get_item(TableName=store.table, Key={"id": {"S": "orders-stream"}})["Item"]["doc"]["S"])[
        "file"] == "binlog.000004"
    ddb.delete_table(TableName=store.table)


def test_stream_command_takes_tables_and_source_from_the_config(local_stack, fresh_db, kinesis, stream_name,
                                                                tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    start = binlog_now(local_stack.mysql_url)
    _sql(local_stack.mysql_url, fresh_db, "CREATE TABLE t (id INT PRIMARY KEY, v INT)",
         "CREATE TABLE other (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1, 1), (2, 2)",
         "INSERT INTO other VALUES (9)")
    config = tmp_path / "c.yaml"
    config.write_text(f'source: {{mysql_url: "${{CAPTURE_URL}}"}}\n'
                      f'tables:\n  {fresh_db}.t: {{target: x, key: {{PK: "T#{{id}}"}}, rest: true}}\n')
    env = {k: v for k, v in os.environ.items() if k not in ("M2D_CDC_MYSQL_URL", "M2D_MYSQL_URL")}
    env["CAPTURE_URL"] = local_stack.cdc_mysql_url
    cli = str(Path(sys.executable).with_name("mysql2dynamo"))
    run = subprocess.run([cli, "stream", "--config", str(config), "--stream", stream_name, "--stop-at-end",
                          "--from-position", f"{start.file}:{start.pos}", "--checkpoint", str(tmp_path / "cp")],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(c.key["id"] for c in all_changes(kinesis, stream_name)) == [1, 2]  # `other` is not mapped
    assert "cdc:***@" in run.stderr and local_stack.cdc_mysql_url not in run.stderr  # the password is redacted
