"""Capture fails loud instead of hanging or moving on (the no-silent-loss issue, capture side)."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from click.testing import CliRunner

from mysql2dynamo.cdc.binlog import CaptureError
from mysql2dynamo.cdc.checkpoint import CheckpointBackwards, FileCheckpointStore
from mysql2dynamo.cdc.envelope import Change
from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.cdc.publisher import PublishError
from mysql2dynamo.cdc.server import binlog_files
from mysql2dynamo.cdc.stream import StreamSettings, excluded_columns, run_stream
from mysql2dynamo.cli import main
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.keymap.schema import read_table_schema
from mysql2dynamo.keymap.spec import mapping_from_dict
from mysql2dynamo.replay.dead_letter import FolderDeadLetter
from mysql2dynamo.replay.runner import ReplayRunner, ShardCheckpoints
from mysql2dynamo.replay.runtime import ReplayRuntime
from tests.conftest import binlog_now, read_binlog, read_stream, unique


def test_a_missing_stream_stops_capture_at_once_with_the_way_out(local_stack, fresh_db, kinesis, tmp_path):
    """Before: PutRecords answered ResourceNotFoundException and the publisher retried forever, past
    --max-seconds, until killed."""
    start = binlog_now(local_stack.mysql_url)
    conn = connect(local_stack.mysql_url, fresh_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY)")
        before_insert = binlog_now(local_stack.mysql_url)
        cur.execute("INSERT INTO t VALUES (1), (2)")
    conn.close()
    store = FileCheckpointStore(tmp_path / "cp.json")
    settings = StreamSettings(local_stack.cdc_mysql_url, [f"{fresh_db}.t"], unique("missing"), store, start=start,
                              max_seconds=60)
    began = time.monotonic()
    with pytest.raises(PublishError, match=r"ResourceNotFoundException.*--create"):
        run_stream(settings, kinesis, install_signals=False)
    assert time.monotonic() - began < 30
    saved = store.load()  # the rows were not acknowledged: a restart reads them again
    assert saved is None or saved.position <= before_insert


def test_compressed_binlog_events_are_refused(local_stack, fresh_db):
    """MariaDB's log_bin_compress writes *_COMPRESSED row events the library cannot read: before, they
    were filtered out and their rows silently lost."""
    conn = connect(local_stack.mysql_url, fresh_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, doc TEXT)")
        start = binlog_now(local_stack.mysql_url)
        cur.execute("SET GLOBAL log_bin_compress = ON")
        try:
            cur.execute("INSERT INTO t VALUES (1, %s)", ("compressible " * 200,))
        finally:
            cur.execute("SET GLOBAL log_bin_compress = OFF")
    conn.close()
    with pytest.raises(CaptureError, match="compressed binlog event.*log_bin_compress=OFF"):
        read_binlog(local_stack, [f"{fresh_db}.t"], start)


def test_a_large_transaction_comes_in_parts_with_no_resume_point_inside(local_stack, fresh_db, kinesis, stream_name,
                                                                        tmp_path):
    """Before, a whole transaction was held in memory (a multi-million-row UPDATE could crash-loop capture)."""
    conn = connect(local_stack.mysql_url, fresh_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, n INT)")
        cur.execute("INSERT INTO t SELECT seq, 0 FROM seq_1_to_5000")
        start = binlog_now(local_stack.mysql_url)
        cur.execute("UPDATE t SET n = n + 1")  # one transaction, 5,000 row changes
        after = binlog_now(local_stack.mysql_url)
    conn.close()
    parts = [tx for tx in read_binlog(local_stack, [f"{fresh_db}.t"], start, max_changes=700) if tx.changes]
    assert max(len(p.changes) for p in parts) < 700 + 500  # one rows event holds a few hundred rows at most
    assert sum(len(p.changes) for p in parts) == 5000 and len(parts) > 4
    assert [p.end is None for p in parts] == [True] * (len(parts) - 1) + [False]
    assert parts[-1].end <= after


def test_capture_without_a_checkpoint_or_a_start_refuses(local_stack, fresh_db, kinesis, stream_name, tmp_path):
    """Before, a missing checkpoint (another M2D_HOME, a typo in --checkpoint) started capture at the server's
    current end without a word, and the changes in between were lost."""
    store = FileCheckpointStore(tmp_path / "typo.json")
    settings = StreamSettings(local_stack.cdc_mysql_url, [f"{fresh_db}.t"], stream_name, store, stop_at_end=True)
    with pytest.raises(CaptureError, match=r"no checkpoint in .*typo.json.*--from-now"):
        run_stream(settings, kinesis, install_signals=False)
    assert store.load() is None
    # told where: it starts, and checkpoints
    conn = connect(local_stack.mysql_url, fresh_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    conn.close()
    settings = StreamSettings(local_stack.cdc_mysql_url, [f"{fresh_db}.t"], stream_name, store, stop_at_end=True,
                              from_now=True)
    run_stream(settings, kinesis, install_signals=False)
    assert store.load() is not None


def _records(kinesis, stream: str) -> list[Change]:
    return sorted((c for shard in read_stream(kinesis, stream).values() for c in shard), key=lambda c: c.ver)


def test_a_reset_binlog_refuses_to_resume_and_a_new_epoch_keeps_later_changes_newer(
        local_stack, fresh_db, kinesis, stream_name, dynamodb_table, tmp_path):
    """Before, after RESET MASTER (or a restore, a failover) every later change had a smaller ver than the ones
    already applied, so the replay skipped them all as stale; resume used file:pos only."""
    conn = connect(local_stack.mysql_url, fresh_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, grp VARCHAR(10), val INT)")
        cur.execute("FLUSH BINARY LOGS")  # the captured changes are past the first binlog file
        start = binlog_now(local_stack.mysql_url)
        cur.execute("INSERT INTO t VALUES (1, 'a', 1)")
    store = FileCheckpointStore(tmp_path / "cp.json")
    settings = StreamSettings(local_stack.cdc_mysql_url, [f"{fresh_db}.t"], stream_name, store, start=start,
                              stop_at_end=True)
    run_stream(settings, kinesis, install_signals=False, say=lambda m: None)
    captured = store.load()
    assert captured.server["server_id"] and captured.position.gtid

    with conn.cursor() as cur:
        cur.execute("RESET MASTER")
        cur.execute("UPDATE t SET val = 2 WHERE id = 1")
        first = binlog_files(conn)[0][0]
    with pytest.raises(CaptureError, match=r"will not resume.*RESET MASTER.*--from-position FILE:POS --new-epoch"):
        run_stream(settings, kinesis, install_signals=False, say=lambda m: None)
    assert store.load() == captured
    run_stream(replace(settings, start=BinlogPosition(first, 4), new_epoch=True), kinesis, install_signals=False,
               say=lambda m: None)
    assert store.load().position.epoch == 1
    with pytest.raises(CheckpointBackwards):  # the old numbering cannot come back
        store.save(captured)

    changes = _records(kinesis, stream_name)
    assert [(c.op, c.source.epoch) for c in changes] == [("insert", 0), ("update", 1)]
    assert changes[1].ver > changes[0].ver and changes[1].source.file < changes[0].source.file
    table, ddb = dynamodb_table(), local_stack.client("dynamodb")
    mapping = mapping_from_dict({f"{fresh_db}.t": {"target": table, "key": {"PK": "G#{grp}", "SK": "T#{id}"},
                                                   "attributes": {"val": "val"}}})
    rt = ReplayRuntime.build(mapping, {f"{fresh_db}.t": read_table_schema(conn, fresh_db, "t")}, None,
                             FolderDeadLetter(tmp_path / "dead"), dynamodb=ddb)
    conn.close()
    stats = ReplayRunner(rt, kinesis, stream_name, ShardCheckpoints(tmp_path / "shards.json")).run(until_caught_up=True)
    item = ddb.get_item(TableName=table, Key={"PK": {"S": "G#a"}, "SK": {"S": "T#1"}})["Item"]
    assert item["val"] == {"N": "2"} and stats.apply.stale == 0


def test_stream_refuses_a_missing_or_keyless_table_at_start(local_stack, fresh_db, stream_name, tmp_path):
    """Before, a table without a primary key crashed capture with KeyError: '' at its first insert, and a
    table that does not exist was captured silently (nothing, exit 0)."""
    conn = connect(local_stack.mysql_url, fresh_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE nokey (id INT, v INT)")
        cur.execute("CREATE TABLE fine (id INT PRIMARY KEY)")
    conn.close()
    result = CliRunner().invoke(main, [
        "stream", "--mysql-url", local_stack.cdc_mysql_url, "--stream", stream_name, "--from-now", "--stop-at-end",
        "--tables", f"{fresh_db}.fine,{fresh_db}.nokey,{fresh_db}.ghost", "--checkpoint", str(tmp_path / "cp.json")])
    assert result.exit_code != 0
    assert f"{fresh_db}.ghost: no such table" in result.output
    assert f"{fresh_db}.nokey: no primary key" in result.output and f"{fresh_db}.fine" not in result.output
    assert not (tmp_path / "cp.json").exists()


def test_excluded_columns_never_leave_capture(local_stack, fresh_db, kinesis, stream_name, s3_bucket, tmp_path):
    """Before, a column the mapping excludes everywhere (a password hash) still travelled to Kinesis, to the
    claim-check objects and, through them, to dead letters."""
    conn = connect(local_stack.mysql_url, fresh_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(50), password_hash VARCHAR(64), "
                    "bio LONGTEXT)")
        start = binlog_now(local_stack.mysql_url)
        cur.execute("INSERT INTO users VALUES (1, 'a@x', 'secret-hash-1', 'short'), "
                    "(2, 'b@x', 'secret-hash-2', %s)", ("x" * 1_100_000,))  # row 2 travels by claim check
        cur.execute("UPDATE users SET password_hash = 'secret-hash-3', email = 'c@x' WHERE id = 1")
        cur.execute("DELETE FROM users WHERE id = 2")
    conn.close()
    mapping = mapping_from_dict({f"{fresh_db}.users": [
        {"target": "t1", "key": {"PK": "U#{id}"}, "exclude": ["password_hash"], "rest": True},
        {"name": "byemail", "target": "t2", "key": {"PK": "E#{email}"}, "exclude": ["password_hash", "bio"]}]})
    assert excluded_columns(mapping) == {f"{fresh_db}.users": frozenset({"password_hash"})}  # bio: t1 keeps it
    s3 = local_stack.client("s3")
    run_stream(StreamSettings(local_stack.cdc_mysql_url, [f"{fresh_db}.users"], stream_name,
                              FileCheckpointStore(tmp_path / "cp.json"), start=start, stop_at_end=True,
                              claim_check=f"s3://{s3_bucket}/claims", exclude=excluded_columns(mapping)),
               kinesis, s3, install_signals=False, say=lambda m: None)
    changes = _records(kinesis, stream_name)
    assert [c.op for c in changes] == ["insert", "insert", "update", "delete"]
    claims = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket, Prefix="claims")["Contents"]]
    stored = [s3.get_object(Bucket=s3_bucket, Key=k)["Body"].read() for k in claims]
    assert len(stored) == 2  # the insert and the delete of row 2
    # the values never leave; the name stays in the table version's column list (schema, not data)
    assert all(b"secret-hash" not in c.to_bytes() and "password_hash" not in c.types for c in changes)
    assert all("password_hash" not in (c.before or {}) and "password_hash" not in (c.after or {}) for c in changes)
    assert all(b"secret-hash" not in body for body in stored)
    assert changes[2].after == {"id": 1, "email": "c@x", "bio": "short"}
