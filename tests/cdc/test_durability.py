"""Nothing is lost or reordered per row: partial PutRecords failures and kill -9 during traffic.

Kinesis never fails on its own here, so failures are injected in the client: `FlakyKinesis`
really writes only the entries it lets through and reports the others with Kinesis' own error
codes, or throttles whole calls.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from botocore.exceptions import ClientError

from mysql2dynamo.cdc.binlog import BinlogSource, Transaction
from mysql2dynamo.cdc.checkpoint import FileCheckpointStore
from mysql2dynamo.cdc.envelope import Change
from mysql2dynamo.cdc.server import server_info
from mysql2dynamo.cdc.stream import StreamSettings, run_stream
from mysql2dynamo.ground.mysql import MySQLTarget, connect
from mysql2dynamo.sample.create import create_sample
from mysql2dynamo.sample.traffic import run_traffic
from tests.conftest import binlog_now, read_stream, wait_until_written

CLI = str(Path(sys.executable).with_name("mysql2dynamo"))


class FlakyKinesis:
    """A Kinesis client whose PutRecords loses entries and throttles calls, like a busy stream."""

    def __init__(self, real, seed: int, entry_failure: float = 0.3, call_throttle: float = 0.1) -> None:
        self.real, self.rng = real, random.Random(seed)
        self.entry_failure, self.call_throttle = entry_failure, call_throttle
        self.lock = threading.Lock()
        self.failed_entries = self.throttled_calls = 0

    def list_shards(self, **kwargs):  # the shard map, so the publisher aggregates as it does on a real stream
        return self.real.list_shards(**kwargs)

    def put_records(self, StreamName: str, Records: list[dict]):  # noqa: N803 (boto3's names)
        with self.lock:
            throttle = self.rng.random() < self.call_throttle
            fails = [self.rng.random() < self.entry_failure for _ in Records]
        if throttle:
            self.throttled_calls += 1
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                         "Message": "injected"}}, "PutRecords")
        passed = [r for r, f in zip(Records, fails, strict=True) if not f]
        results = iter(self.real.put_records(StreamName=StreamName, Records=passed)["Records"] if passed else [])
        out = []
        for failed in fails:
            if failed:
                self.failed_entries += 1
                out.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "injected"})
            else:
                out.append(next(results))
        return {"FailedRecordCount": sum(fails), "Records": out}


def expected_changes(local_stack, tables: list[str], start) -> list[Change]:
    """Every captured change from `start` to the end of the binlog, read independently."""
    target = MySQLTarget.parse(local_stack.cdc_mysql_url)
    conn = target.connect()
    source = BinlogSource(target, tables, start, server_info(conn), reader_id=7777, blocking=False)
    changes = [c for item in source if isinstance(item, Transaction) for c in item.changes]
    source.close()
    conn.close()
    return changes


def assert_complete_and_ordered(expected: list[Change], shards: dict[str, list[Change]], exact: bool) -> None:
    seen: dict[str, list[int]] = {}
    for records in shards.values():
        for c in records:
            seen.setdefault(c.partition_key, []).append(c.ver)
    want: dict[str, list[int]] = {}
    for c in expected:
        want.setdefault(c.partition_key, []).append(c.ver)
    assert set(seen) == set(want)
    for key, vers in want.items():
        got = seen[key]
        first_seen = list(dict.fromkeys(got))  # at-least-once: a resend after restart may repeat
        assert first_seen == vers, f"{key}: stream order {got}, binlog order {vers}"
        if exact:
            assert got == vers, f"{key}: duplicates {got}"


def test_partial_failures_never_reorder_a_row(local_stack, fresh_db, kinesis, stream_name, tmp_path):
    start = binlog_now(local_stack.mysql_url)
    conn = connect(local_stack.mysql_url, fresh_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE hot (id INT PRIMARY KEY, n INT)")
        cur.execute("INSERT INTO hot VALUES " + ",".join(f"({i}, 0)" for i in range(8)))
        rng = random.Random(3)
        for _ in range(150):  # many single-row transactions on a few hot rows
            cur.execute("UPDATE hot SET n = n + 1 WHERE id = %s", (rng.randrange(8),))
        cur.execute("UPDATE hot SET n = n + 100")  # one transaction touching every row
    conn.close()
    tables = [f"{fresh_db}.hot"]
    flaky = FlakyKinesis(kinesis, seed=11)
    settings = StreamSettings(local_stack.cdc_mysql_url, tables, stream_name, FileCheckpointStore(tmp_path / "cp"),
                              start=start, stop_at_end=True, in_flight=4)
    run_stream(settings, flaky, install_signals=False, say=lambda m: None)
    assert flaky.failed_entries > 20 and flaky.throttled_calls > 0
    assert_complete_and_ordered(expected_changes(local_stack, tables, start), read_stream(kinesis, stream_name),
                                exact=True)


def test_kill_9_during_traffic_loses_nothing(local_stack, fresh_db, kinesis, stream_name, tmp_path):
    start = binlog_now(local_stack.mysql_url)
    create_sample(local_stack.mysql_url, fresh_db, customers=30, seed=5)
    tables = [f"{fresh_db}.{t}" for t in ("customers", "orders", "order_items")]
    stop = threading.Event()
    traffic = threading.Thread(target=run_traffic, kwargs=dict(
        url=local_stack.mysql_url, database=fresh_db, rate=150, seconds=60, seed=8, stop=stop.is_set))
    traffic.start()
    checkpoint = tmp_path / "checkpoint.json"
    cmd = [CLI, "stream", "--mysql-url", local_stack.cdc_mysql_url, "--tables", ",".join(tables),
           "--stream", stream_name, "--checkpoint", str(checkpoint), "--from-position", f"{start.file}:{start.pos}",
           "--metrics", str(tmp_path / "metrics.json")]
    rng = random.Random(21)
    try:
        for _ in range(3):  # killed at a random point once it works (its start-up time depends on the load)
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
            wait_until_written(checkpoint, proc)
            time.sleep(rng.uniform(0.0, 1.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert checkpoint.exists(), "no checkpoint was written before the kills"
    finally:
        stop.set()
        traffic.join()
    # a last run, stopped cleanly at the end of the binlog
    done = subprocess.run([*cmd, "--stop-at-end"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]

    expected = expected_changes(local_stack, tables, start)
    assert len(expected) > 1000
    shards = read_stream(kinesis, stream_name)
    assert_complete_and_ordered(expected, shards, exact=False)

    # what a consumer folding the stream by ver gets is exactly the final table
    state: dict[tuple, dict] = {}
    for c in sorted({c.ver: c for records in shards.values() for c in records}.values(), key=lambda c: c.ver):
        if c.before is not None:
            state.pop((c.table, *[c.before[k] for k in c.key_columns]), None)
        if c.after is not None:
            state[(c.table, *[c.after[k] for k in c.key_columns])] = c.after
    conn = connect(local_stack.mysql_url, fresh_db)
    with conn.cursor() as cur:
        for table in ("customers", "orders", "order_items"):
            cur.execute(f"SELECT COUNT(*) FROM {table}")
            assert cur.fetchone()[0] == sum(1 for k in state if k[0] == table)
        cur.execute("SELECT id, email FROM customers")
        for cid, email in cur.fetchall():
            assert state[("customers", cid)]["email"] == email
        cur.execute("SELECT id, customer_id, status, created_at FROM orders")
        for oid, cid, status, created in cur.fetchall():
            order = state[("orders", oid)]
            assert (order["customer_id"], order["status"], order["created_at"]) == (cid, status, created)
    conn.close()
