"""`cutover` on a live pipeline (capture subprocess, replay runner, local stack): what it reads under the
fence, what it finds, where it reads progress, and that its fence holds and always comes down.

The pipeline rebuilds the table from the stream alone (capture starts before the rows exist), so the
live verify's baseline is a position where the replay has applied everything: DynamoDB equals MySQL
there by construction (the Spark live verify itself runs in tests/test_demo.py).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pymysql
import pytest

from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.cdc.progress import PROGRESS_ENV, ProgressTable
from mysql2dynamo.cutover import CutoverOptions, Pipeline, run_cutover
from mysql2dynamo.fence import Account
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.jobs.targets import create_table
from mysql2dynamo.keymap.schema import read_schemas
from mysql2dynamo.keymap.spec import mapping_from_config
from mysql2dynamo.replay.dead_letter import FolderDeadLetter, Poison
from mysql2dynamo.replay.runner import ReplayRunner, ShardCheckpoints
from mysql2dynamo.replay.runtime import ReplayRuntime
from mysql2dynamo.state import StreamState
from mysql2dynamo.status import captured_position, replay_status
from tests.conftest import binlog_now, unique
from tests.test_fence_accounts import LOCKED, app_accounts, locked, login

CLI = str(Path(sys.executable).with_name("mysql2dynamo"))
MAPPING = """
version: 1
tables:
  {db}.items:
    target: {table}
    key: {{PK: "G#{{grp}}", SK: "I#{{pad(id, 8)}}"}}
    rest: true
"""


def _sql(url: str, *statements: str, db: str | None = None) -> None:
    conn = connect(url, db)
    with conn.cursor() as cur:
        for s in statements:
            cur.execute(s)
    conn.close()


def _read_only(url: str) -> int:
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT @@global.read_only")
        value = cur.fetchone()[0]
    conn.close()
    return int(value)


def _id_table(ddb) -> str:
    """A new table keyed by `id`, as the progress and checkpoint stores use (waited for briefly, not 20 s)."""
    name = unique("ids")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2})
    return name


@pytest.fixture(autouse=True)
def fence_down(local_stack):
    """A failing test must not leave the shared server read-only."""
    yield
    _sql(local_stack.mysql_url, "SET GLOBAL read_only = OFF")


class Live:
    """A database with `items`, its target table and stream, capture (CLI) and replay (runner) running."""

    def __init__(self, stack, tmp_path: Path, rows: int, progress: bool = False) -> None:
        self.stack = stack
        self.db, self.target, self.stream = unique("cut"), unique("tbl"), unique("changes")
        self.home = tmp_path / self.db
        self.state = StreamState.of(self.stream, self.home)
        self.ddb, self.kinesis = stack.client("dynamodb"), stack.client("kinesis")
        create_table(self.ddb, self.target)
        self.config = tmp_path / f"{self.db}.yaml"
        self.config.write_text(MAPPING.format(db=self.db, table=self.target))
        self.mapping = mapping_from_config(self.config.read_text(), str(self.config))
        self.progress = None
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "M2D_HOME": str(self.home)}
        checkpoint = str(self.state.capture_checkpoint)
        if progress:
            self.progress = ProgressTable(self.ddb, _id_table(self.ddb), self.stream)  # before capture starts
            env[PROGRESS_ENV] = self.progress.table
            checkpoint = f"dynamodb://{_id_table(self.ddb)}/{self.stream}"
        start = binlog_now(stack.mysql_url)
        _sql(stack.mysql_url, f"CREATE DATABASE `{self.db}`")
        _sql(stack.mysql_url, "CREATE TABLE items (id INT PRIMARY KEY, grp VARCHAR(20) NOT NULL, val INT)",
             db=self.db)
        for lo in range(1, rows + 1, 1000):
            values = ", ".join(f"({i}, 'g{i % 7}', {i})" for i in range(lo, min(lo + 1000, rows + 1)))
            _sql(stack.mysql_url, f"INSERT INTO items VALUES {values}", db=self.db)
        self.capture = subprocess.Popen(
            [CLI, "stream", "--mysql-url", stack.cdc_mysql_url, "--tables", f"{self.db}.items", "--stream",
             self.stream, "--create", "--shards", "2", "--checkpoint", checkpoint, "--from-position",
             f"{start.file}:{start.pos}", "--checkpoint-every", "0.05", "--server-id", str(55000 + rows % 997)],
            stdout=subprocess.DEVNULL, stderr=open(tmp_path / f"{self.db}.stream.log", "w"), env=env)
        while True:  # the stream exists once capture has started
            try:
                self.kinesis.describe_stream_summary(StreamName=self.stream)
                break
            except self.kinesis.exceptions.ResourceNotFoundException:
                assert self.capture.poll() is None, (tmp_path / f"{self.db}.stream.log").read_text()
                time.sleep(0.2)
        self.kinesis.get_waiter("stream_exists").wait(StreamName=self.stream, WaiterConfig={"Delay": 0.2})
        conn = connect(stack.mysql_url)
        schemas = read_schemas(conn, self.mapping.sources)
        conn.close()
        runtime = ReplayRuntime.build(self.mapping, schemas, 0, FolderDeadLetter(self.state.dead_letters))
        checkpoints = None if progress else ShardCheckpoints(self.state.replay_checkpoints)
        self.runner = ReplayRunner(runtime, self.kinesis, self.stream, checkpoints, progress=self.progress)
        self.replay = threading.Thread(target=self.runner.run, daemon=True)
        self.replay.start()

    def pipeline(self) -> Pipeline:
        return Pipeline(self.stream, self.stack.mysql_url, self.kinesis, self.ddb, self.mapping, self.state,
                        self.progress)

    def applied_through(self, position: BinlogPosition, timeout: float = 120) -> None:
        """Wait until the stream holds `position` and the replay applied every record up to it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            at = captured_position(self.state, self.progress)[0]
            if at is not None and at >= position and \
                    not replay_status(self.state, self.kinesis, self.progress, fence=position)["pending"]:
                return
            time.sleep(0.1)
        raise AssertionError(f"the pipeline did not apply up to {position}")

    def sql(self, *statements: str) -> None:
        _sql(self.stack.mysql_url, *statements, db=self.db)

    def close(self) -> None:
        self.runner.stop.set()
        self.capture.send_signal(signal.SIGTERM)
        self.capture.wait(timeout=60)
        self.replay.join(timeout=60)
        _sql(self.stack.mysql_url, f"DROP DATABASE IF EXISTS `{self.db}`")
        self.ddb.delete_table(TableName=self.target)
        self.kinesis.delete_stream(StreamName=self.stream)


@pytest.fixture
def live(local_stack, tmp_path):
    made: list[Live] = []

    def make(rows: int, progress: bool = False) -> Live:
        made.append(Live(local_stack, tmp_path, rows, progress))
        return made[-1]

    yield make
    for pipeline in made:
        pipeline.close()


CHANGES = [  # the same changes after the baseline at every table size
    "UPDATE items SET val = val + 1000 WHERE id BETWEEN 1 AND 20",
    "UPDATE items SET grp = 'moved' WHERE id BETWEEN 21 AND 25",  # the item key moves
    "DELETE FROM items WHERE id BETWEEN 26 AND 30",
    "UPDATE items SET id = 900001 WHERE id = 31",  # the primary key moves
    "INSERT INTO items VALUES (900002, 'new', 1), (900003, 'new', 2)",
]


def _baseline(live: Live) -> dict:
    """A clean live verify at the position where the replay has applied everything so far."""
    position = binlog_now(live.stack.mysql_url)
    live.applied_through(position)
    return {"clean": True, "position": str(position), "in_flight_keys": [], "missing": 0, "extra": 0,
            "different": 0}


def test_fenced_check_reads_only_the_changed_keys_and_finds_a_planted_difference(live):
    reads = {}
    for rows in (1000, 20000):
        pipeline = live(rows)
        baseline = _baseline(pipeline)
        pipeline.sql(*CHANGES)
        # settle=False: everything changed since the baseline is compared under the fence
        report = run_cutover(pipeline.pipeline(), lambda b=baseline: b,
                             CutoverOptions(release_fence=True, settle=False))
        assert report.ready, report.reason
        check = report.fenced_check
        assert check["clean"] and check["changes"] == 20 + 5 + 5 + 1 + 2
        reads[rows] = (check["source_keys"], check["rows_read"], check["item_keys"], check["items_read"])
        assert report.write_outage_ms > 0 and set(report.outage_steps_ms) == {"drain", "fenced_check", "fence_hold"}
        assert report.fence_lifted and report.tombstones_when == "after the switch"
    # source keys: 20 + 5 + 5 + 2 (the moved key's old and new id) + 2, of which 28 rows exist; item keys:
    # 20 + 10 (old and new) + 5 + 2 + 2, all read back (the old ones as tombstones)
    assert reads[1000] == reads[20000] == (34, 28, 39, 39)

    # a wrong item written straight into DynamoDB for a key changed after the baseline
    baseline = _baseline(pipeline)
    pipeline.sql("UPDATE items SET val = 7 WHERE id = 40")
    pipeline.applied_through(binlog_now(pipeline.stack.mysql_url))
    pipeline.ddb.put_item(TableName=pipeline.target, Item={
        "PK": {"S": "G#g5"}, "SK": {"S": "I#00000040"}, "id": {"N": "40"}, "grp": {"S": "g5"}, "val": {"N": "8"},
        "_ver": {"N": str(10**30)}})
    report = run_cutover(pipeline.pipeline(), lambda: baseline, CutoverOptions())
    assert not report.ready and report.fence_lifted
    # found before the fence, and compared again under it (the only key left to compare there)
    assert report.settled["different"] == 1 and report.settled["rows_read"] == 1
    assert report.fenced_check["different"] == 1 and report.fenced_check["rows_read"] == 1
    (difference,) = report.fenced_check["differences"]
    assert difference["key"] == {"PK": {"S": "G#g5"}, "SK": {"S": "I#00000040"}}
    assert difference["source_key"] == {"id": 40} and set(difference["attributes"]) == {"val"}
    assert _read_only(pipeline.stack.mysql_url) == 0


def test_cutover_reads_progress_from_dynamodb_with_replay_through_the_lambda_path(live, capsys):
    pipeline = live(200, progress=True)
    baseline = _baseline(pipeline)
    pipeline.sql(*CHANGES)
    capsys.readouterr()
    report = run_cutover(pipeline.pipeline(), lambda: baseline, CutoverOptions(release_fence=True))
    assert report.ready, report.reason
    # the drain's progress (stderr is no terminal here: plain lines), and `status --watch` showing the cutover
    assert "cutover drain: 2/2 shards (100%)" in capsys.readouterr().err
    watched = subprocess.run([CLI, "status", "--stream", pipeline.stream, "--mysql-url", pipeline.stack.mysql_url,
                              "--watch", "0.1", "--count", "1"], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "M2D_HOME": str(pipeline.home), PROGRESS_ENV: pipeline.progress.table})
    assert watched.returncode == 0, watched.stderr
    assert re.search(r"last cutover: READY at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", watched.stdout), watched.stdout
    assert f"write outage {report.write_outage_ms} ms" in watched.stdout
    assert f"fence at {report.fence_position}" in watched.stdout
    # compared before the fence once the replay had applied them; under the fence nothing changed since
    assert report.settled["clean"] and report.settled["rows_read"] == 28
    assert report.fenced_check["clean"] and report.fenced_check["source_keys"] == 0
    assert not list(pipeline.home.rglob("*checkpoint*")) and not pipeline.state.replay_checkpoints.exists()
    shards = [s["ShardId"] for s in pipeline.kinesis.list_shards(StreamName=pipeline.stream)["Shards"]]
    assert all(pipeline.progress.shard(s) for s in shards)


def test_sigterm_during_the_drain_lifts_the_fence(live, tmp_path):
    pipeline = live(50)
    pipeline.applied_through(binlog_now(pipeline.stack.mysql_url))
    pipeline.capture.send_signal(signal.SIGTERM)  # capture stops: the drain cannot finish
    pipeline.capture.wait(timeout=60)
    pipeline.sql("UPDATE items SET val = 0 WHERE id = 1")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "M2D_HOME": str(pipeline.home)}
    cut = subprocess.Popen([CLI, "cutover", "--config", str(pipeline.config), "--stream", pipeline.stream,
                            "--mysql-url", pipeline.stack.mysql_url, "--no-verify"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    for line in cut.stderr:
        if "draining" in line:
            break
    assert _read_only(pipeline.stack.mysql_url) == 1
    cut.send_signal(signal.SIGTERM)
    out, err = cut.communicate(timeout=60)
    assert cut.returncode == 130, err
    assert _read_only(pipeline.stack.mysql_url) == 0
    report = json.loads(out)
    assert report["fence_lifted"] is True and not report["ready"] and "SIGTERM" in report["reason"]
    assert report["write_outage_ms"] > 0


@pytest.mark.parametrize("fence", ["read_only", "accounts"])
def test_a_session_writing_through_the_fence_makes_cutover_refuse(live, fence):
    pipeline = live(50)
    url, stop = pipeline.stack.mysql_url, threading.Event()
    writer = connect(url, pipeline.db)  # all privileges: read_only does not stop it, nor a lock of other accounts
    session = writer.thread_id()

    def keep_writing() -> None:
        with writer.cursor() as cur:
            while not stop.is_set():
                cur.execute("UPDATE items SET val = val + 1 WHERE id = 2")
                time.sleep(0.02)

    thread = threading.Thread(target=keep_writing, daemon=True)
    thread.start()
    with app_accounts(url, 1 if fence == "accounts" else 0) as fenced:
        try:
            report = run_cutover(pipeline.pipeline(), None,
                                 CutoverOptions(verify=False, fence_accounts=tuple(map(Account, fenced))))
        finally:
            stop.set()
            thread.join()
            writer.close()
        assert not any(locked(url, a) for a in fenced)
    assert not report.ready and report.fence_lifted
    assert "the fence did not hold" in report.reason and f"session {session} " in report.reason
    assert ("Sessions of accounts the fence did not lock" if fenced else "write through read_only") in report.reason
    assert _read_only(url) == 0


def test_an_accounts_fence_locks_a_writing_app_account_and_kills_its_session_and_the_cutover_is_ready(live):
    pipeline = live(50)
    url = pipeline.stack.mysql_url
    with app_accounts(url, 1, grants="ALL PRIVILEGES ON *.*") as (app,):  # SUPER too: read_only would not stop it
        writer = login(url, app, pipeline.db)
        session, failed, stop = writer.thread_id(), [], threading.Event()

        def keep_writing() -> None:
            conn = writer
            while not stop.is_set():
                try:
                    with conn.cursor() as cur:
                        cur.execute("UPDATE items SET val = val + 1 WHERE id = 2")
                except pymysql.err.OperationalError as e:
                    failed.append(e.args[0])
                    try:
                        conn = login(url, app, pipeline.db)  # an application's pool connects again
                    except pymysql.err.OperationalError as again:
                        failed.append(again.args[0])
                        return
                time.sleep(0.02)

        thread = threading.Thread(target=keep_writing, daemon=True)
        thread.start()
        baseline = _baseline(pipeline)
        try:
            report = run_cutover(pipeline.pipeline(), lambda: baseline,
                                 CutoverOptions(fence_accounts=(Account(app),)))
        finally:
            stop.set()
            thread.join()
        assert report.ready, report.reason
        assert report.fence.startswith(f"ACCOUNT LOCK '{app}'@'%'; 1 sessions killed: session {session} {app}@")
        assert failed[-1] in LOCKED and locked(url, app)  # its session ended, and it cannot connect again
        assert report.fenced_check["clean"] and not report.fence_lifted and _read_only(url) == 0


def test_a_fence_hook_without_an_unfence_hook_is_a_usage_error(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(MAPPING.format(db="d", table="t"))
    run = subprocess.run([CLI, "cutover", "--config", str(config), "--stream", "s", "--fence-hook", "true"],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "--unfence-hook" in run.stderr


def test_cutover_refuses_while_dead_letters_wait_or_when_capture_started_after_the_snapshot(local_stack, tmp_path):
    ddb = local_stack.client("dynamodb")
    state = StreamState.of("s", tmp_path)
    mapping = mapping_from_config(MAPPING.format(db="d", table="t"), "m.yaml")
    FolderDeadLetter(state.dead_letters).put([Poison("null_key", "d.items: key attribute PK is null", "1", "p", b"{}")])
    pipeline = Pipeline("s", local_stack.mysql_url, None, ddb, mapping, state)
    report = run_cutover(pipeline, None)
    assert not report.ready and "1 dead letters" in report.reason and report.fence_position is None

    for f in state.dead_letters.glob("*.jsonl"):
        f.unlink()
    progress = ProgressTable(ddb, _id_table(ddb), "s")
    progress.save_capture(BinlogPosition("binlog.000002", 400), BinlogPosition("binlog.000002", 300))
    pipeline.progress = progress
    report = run_cutover(pipeline, None, CutoverOptions(snapshot_position="binlog.000002:200"))
    assert not report.ready and "capture started at binlog.000002:300, after the snapshot" in report.reason
    assert _read_only(local_stack.mysql_url) == 0 and json.loads(state.cutover_report.read_text())["reason"]
    ddb.delete_table(TableName=progress.table)
