"""Capture fails loud instead of hanging or moving on (the no-silent-loss issue, capture side)."""

from __future__ import annotations

import time

import pytest

from mysql2dynamo.cdc.binlog import CaptureError
from mysql2dynamo.cdc.checkpoint import FileCheckpointStore
from mysql2dynamo.cdc.publisher import PublishError
from mysql2dynamo.cdc.stream import StreamSettings, run_stream
from mysql2dynamo.ground.mysql import connect
from tests.conftest import binlog_now, read_binlog, unique


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
