"""Capture's progress-table writes run off the capture loop (cdc/progress_saver.py), on the local stack.

The progress table is real (dynalite); only its PutItems after capture's start record are held back by
the test, to stand for a slow or failing table: capture still reads and checkpoints to the end, the
table then takes the latest position (coalesced, not one write per checkpoint), and writes that fail
show in capture's log and in `status`, not nowhere.
"""

from __future__ import annotations

import threading
import time

from mysql2dynamo.cdc.checkpoint import FileCheckpointStore
from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.cdc.progress import ProgressTable
from mysql2dynamo.cdc.stream import StreamMetrics, StreamSettings, run_stream
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.state import StreamState
from mysql2dynamo.status import pipeline_status, status_table
from tests.conftest import binlog_now, unique

TRANSACTIONS = 60


class HeldPuts:
    """The real DynamoDB client; every PutItem after the first (capture's start record) waits for `gate`."""

    def __init__(self, client) -> None:
        self.client, self.gate, self.positions = client, threading.Event(), []

    def put_item(self, **kw):
        if self.positions:
            self.gate.wait()
        self.positions.append(kw["Item"]["position"]["S"])
        return self.client.put_item(**kw)

    def __getattr__(self, name: str):
        return getattr(self.client, name)


def _capture(local_stack, fresh_db, stream_name, tmp_path, held: HeldPuts, said: list[str]):
    """Capture of TRANSACTIONS one-row transactions in a thread, its progress table behind `held`; the
    state, the table, the binlog position after the last transaction, the thread and its metrics."""
    start = binlog_now(local_stack.mysql_url)
    conn = connect(local_stack.mysql_url, fresh_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
        for i in range(TRANSACTIONS):
            cur.execute(f"INSERT INTO t VALUES ({i}, {i})")
    conn.close()
    final = binlog_now(local_stack.mysql_url)
    state = StreamState.of(stream_name, tmp_path)
    progress = ProgressTable(held, unique("progress"), stream_name)
    settings = StreamSettings(local_stack.cdc_mysql_url, [f"{fresh_db}.t"], stream_name,
                              FileCheckpointStore(state.capture_checkpoint), start=start, stop_at_end=True,
                              checkpoint_every=0.05, metrics_path=state.capture_metrics, progress_every=0.05)
    metrics: list[StreamMetrics] = []
    thread = threading.Thread(target=lambda: metrics.append(run_stream(
        settings, local_stack.client("kinesis"), install_signals=False, say=said.append, progress=progress)))
    thread.start()
    return state, progress, start, final, thread, metrics


def _checkpointed(state: StreamState, position: BinlogPosition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        saved = FileCheckpointStore(state.capture_checkpoint).load()
        if saved is not None and saved.position >= position:
            return
        time.sleep(0.05)
    raise AssertionError(f"capture did not checkpoint {position}")


def test_a_held_progress_table_does_not_hold_capture_and_ends_at_the_final_position(
        local_stack, fresh_db, stream_name, tmp_path):
    held, said = HeldPuts(local_stack.client("dynamodb")), []
    state, progress, start, final, thread, metrics = _capture(local_stack, fresh_db, stream_name, tmp_path, held, said)
    try:
        _checkpointed(state, final)  # every transaction read, sent and checkpointed while the table's writes wait
        assert progress.capture().position == start
    finally:
        held.gate.set()
        thread.join(timeout=60)
    (m,) = metrics
    assert m.records == TRANSACTIONS and m.progress_table_error is None
    assert progress.capture().position == final and progress.capture().started == start
    # the start record, the write held at the gate, then only the latest position: never one per checkpoint
    assert len(held.positions) <= 3 and held.positions[-1] == f"{final.file}:{final.pos}"
    local_stack.client("dynamodb").delete_table(TableName=progress.table)


def test_progress_table_writes_that_fail_show_in_the_log_and_in_status(local_stack, fresh_db, stream_name, tmp_path):
    ddb = local_stack.client("dynamodb")
    held, said = HeldPuts(ddb), []
    state, progress, start, final, thread, metrics = _capture(local_stack, fresh_db, stream_name, tmp_path, held, said)
    try:
        _checkpointed(state, final)
        ddb.delete_table(TableName=progress.table)  # the table goes away: every write from now on fails
    finally:
        held.gate.set()
        thread.join(timeout=60)
    (m,) = metrics
    assert m.records == TRANSACTIONS  # capture itself went on
    assert "ResourceNotFoundException" in m.progress_table_error
    assert any(s.startswith(f"WARNING: progress table {progress}: capture position") and "not written" in s
               for s in said), said
    assert any(f"not the final checkpoint {final}" in w for w in m.warnings), m.warnings
    shown = status_table(pipeline_status(stream_name, local_stack.mysql_url, local_stack.client("kinesis"), state))
    assert "WARNING: capture cannot write its position to the progress table: ResourceNotFoundException" in shown
