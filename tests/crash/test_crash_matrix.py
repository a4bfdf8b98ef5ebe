"""The crash matrix: kill -9 each long-running process at random points under live traffic, restart it,
and require verify to be exact afterwards.

Processes: `stream` (capture), `snapshot` (the coordinator and its worker processes, one process
group), `replay` (the runner), `cutover` and, in the long run, `load` (the bulk load: a JVM of its own,
whose start alone costs more than the short run's budget). The sample traffic writes all along,
until the replay's last kill. The cutover is killed while capture is stopped (SIGSTOP) behind a
change made after it stopped, so its drain cannot end: in the short run 0-0.5 s after its fence is
up, in the long run anywhere from its start (before or under the fence). A SIGKILL runs no handler:
the fence stays up; each restart must lift it first and say so, and the last run (capture resumed,
`--release-fence`) must be READY. The kill points come from one seed, printed with them, so a
failure replays exactly:

    M2D_CRASH_SEED=<seed> pytest tests/crash           # the same points again
    M2D_CRASH_LONG=1 pytest tests/crash                # three kills per process, the load's too

Every kill is a SIGKILL of the whole process group; every restart is the same command line (the
snapshot with --resume), except the load's: it runs the same job in the test's Spark session; after
a kill that came after the killed load's first writes its table already holds items, so its writes
are guarded.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.jobs.bulk_load import LoadOptions, run_load
from mysql2dynamo.jobs.verify import VerifyOptions, fresh_snapshot, run_verify
from mysql2dynamo.keymap.spec import load_mapping
from mysql2dynamo.replay.dead_letter import FolderDeadLetter
from mysql2dynamo.sample.create import create_sample
from mysql2dynamo.sample.traffic import run_traffic
from mysql2dynamo.state import StreamState
from tests.conftest import mapping_text

CLI = str(Path(sys.executable).with_name("mysql2dynamo"))
SEED = int(os.environ.get("M2D_CRASH_SEED", "1130"))
LONG = os.environ.get("M2D_CRASH_LONG") == "1"
KILLS = 3 if LONG else 1
TABLES = ("customers", "orders", "order_items")


@dataclass
class Matrix:
    """The kills made (process, seconds after its start), printed as they happen."""

    rng: random.Random
    env: dict[str, str]  # every process's: its own M2D_HOME, where cutover finds capture's and replay's state
    kills: list[tuple[str, float]] = field(default_factory=list)
    restarts: int = 0

    def start(self, cmd: list[str], log: Path) -> subprocess.Popen:
        with open(log, "a") as out:
            return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                    env=self.env)

    def kill(self, name: str, proc: subprocess.Popen, started: float) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        self.kills.append((name, round(time.monotonic() - started, 2)))
        print(f"crash matrix (M2D_CRASH_SEED={SEED}): kill -9 {name} at {self.kills[-1][1]}s", flush=True)

    def run_killed(self, name: str, cmd: list[str], log: Path, low: float, high: float,
                   ready: Callable[[], bool] = lambda: True, log_says: str | None = None) -> None:
        """Start `cmd`, kill it `uniform(low, high)` s after `ready()` holds (and, with `log_says`, once this
        start has written that text to its log), KILLS times."""
        for n in range(KILLS):
            self.restarts += n > 0
            said = log.read_text().count(log_says) if log_says and log.exists() else 0
            started = time.monotonic()
            proc = self.start(cmd, log)
            while (not ready() or (log_says and log.read_text().count(log_says) <= said)) \
                    and proc.poll() is None and time.monotonic() - started < 900:
                time.sleep(0.05)
            time.sleep(self.rng.uniform(low, high))
            assert proc.poll() is None, f"{name} ended before its kill point:\n{log.read_text()[-3000:]}"
            self.kill(name, proc, started)
        self.restarts += 1


def _finish(cmd: list[str], log: Path, env: dict[str, str], timeout: float = 300) -> None:
    with open(log, "a") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, env=env)
    assert done.returncode == 0, log.read_text()[-3000:]


def _sql(url: str, statement: str, db: str | None = None) -> int | None:
    conn = connect(url, db)
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            row = cur.fetchone() if cur.description else None
    finally:
        conn.close()
    return int(row[0]) if row else None


def _fenced(url: str) -> bool:
    return _sql(url, "SELECT @@global.read_only") == 1


def test_kill_9_anywhere_then_verify_is_exact(spark, local_stack, fresh_db, dynamodb_table, stream_name, tmp_path):
    state = StreamState.of(stream_name, tmp_path / "home")
    matrix = Matrix(random.Random(SEED), {**os.environ, "PYTHONUNBUFFERED": "1", "M2D_HOME": str(state.home)})
    print(f"crash matrix: M2D_CRASH_SEED={SEED}, {KILLS} kill(s) per process", flush=True)
    began = time.monotonic()
    create_sample(local_stack.mysql_url, fresh_db, customers=20, seed=5)
    table = dynamodb_table()
    config = tmp_path / "mysql2dynamo.yaml"
    config.write_text(mapping_text(fresh_db, table))
    tables = ",".join(f"{fresh_db}.{t}" for t in TABLES)
    snap, cdc = str(tmp_path / "snap"), local_stack.cdc_mysql_url
    stop = threading.Event()
    traffic = threading.Thread(target=run_traffic, kwargs=dict(
        url=local_stack.mysql_url, database=fresh_db, rate=30, seconds=900, seed=SEED, stop=stop.is_set))
    stream = [CLI, "stream", "--mysql-url", cdc, "--tables", tables, "--stream", stream_name, "--from-now"]
    # the dead letters (the mapping's birthday rule refuses some rows by design) apart from the folder
    # the cutover refuses on
    replay = [CLI, "replay", "--config", str(config), "--stream", stream_name, "--manifest", snap,
              "--dead-letter", str(tmp_path / "dead")]
    cutover = [CLI, "cutover", "--config", str(config), "--stream", stream_name, "--mysql-url", local_stack.mysql_url,
               "--no-verify"]
    capture = applier = None
    try:
        traffic.start()
        # capture first (before the snapshot); killed under traffic, then left running
        matrix.run_killed("stream", stream, tmp_path / "stream.log", 0.5, 2.5, ready=state.capture_checkpoint.exists)
        capture = matrix.start(stream, tmp_path / "stream.log")
        matrix.run_killed("snapshot", [CLI, "snapshot", "--mysql-url", cdc, "--tables", tables, "--to", snap,
                                       "--resume", "--workers", "2", "--chunk-rows", "40",
                                       "--max-rows-per-second", "40"], tmp_path / "snapshot.log", 0.3, 2.0,
                          ready=lambda: (tmp_path / "snap").exists())
        _finish([CLI, "snapshot", "--mysql-url", cdc, "--tables", tables, "--to", snap, "--resume"],
                tmp_path / "snapshot.log", matrix.env)
        load = [CLI, "load", "--manifest", snap, "--config", str(config), "--sink", "dynamodb", "--write-tasks", "2",
                "--max-items-per-second", "150"]
        if LONG:
            # killed while it maps and writes: after it named what it loads (Spark is up), each start
            matrix.run_killed("load", load, tmp_path / "load.log", 0.5, 4.0, log_says=" via dynamodb, budget ")
        written = local_stack.client("dynamodb").scan(TableName=table, Select="COUNT", Limit=1)["Count"] > 0
        loaded = run_load(spark, LoadOptions(manifest=snap, mapping=str(config), sink="dynamodb", write_tasks=2))
        assert loaded["targets"][table]["guarded"] == written  # after a killed load's writes: guarded
        matrix.run_killed("replay", replay, tmp_path / "replay.log", 0.5, 2.5)
        applier = matrix.start(replay, tmp_path / "replay.log")
        stop.set()  # the application stops for the cutover (its account passes read_only)
        traffic.join()
        os.killpg(capture.pid, signal.SIGSTOP)  # capture stalls behind a change: the cutover's drain cannot end
        _sql(local_stack.mysql_url, "UPDATE orders SET created_at = created_at - INTERVAL 1 SECOND ORDER BY id LIMIT 1",
             fresh_db)
        if LONG:
            matrix.run_killed("cutover", cutover, tmp_path / "cutover.log", 0.5, 5.0)
        else:
            matrix.run_killed("cutover", cutover, tmp_path / "cutover.log", 0.0, 0.5,
                              ready=lambda: _fenced(local_stack.mysql_url))
        left = state.fence_record.exists()
        assert LONG or (left and _fenced(local_stack.mysql_url))  # the short run's kill was under the fence
        os.killpg(capture.pid, signal.SIGCONT)
        last = subprocess.run([*cutover, "--release-fence"], capture_output=True, text=True, env=matrix.env,
                              timeout=300)
        assert last.returncode == 0, last.stderr[-3000:]
        outcome = json.loads(last.stdout)
        assert outcome["ready"] and outcome["fence_lifted"] and not _fenced(local_stack.mysql_url)
        assert bool(outcome["left_fence"]) == left and not state.fence_record.exists()
        if left:
            assert "never lifted: lifted (SET GLOBAL read_only = OFF)" in last.stderr
    finally:
        stop.set()
        traffic.join()
        _sql(local_stack.mysql_url, "SET GLOBAL read_only = OFF")  # a failure must not leave the server fenced
        for process in (capture, applier):  # a clean stop, then a last run to the end of the binlog
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGCONT)
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=120)
    _finish([*stream, "--stop-at-end"], tmp_path / "stream.log", matrix.env)
    _finish([*replay, "--until-caught-up"], tmp_path / "replay.log", matrix.env)

    mapping = load_mapping(config.read_text())
    report = run_verify(spark, mapping, fresh_snapshot(local_stack.cdc_mysql_url, mapping, str(tmp_path / "verify")),
                        options=VerifyOptions(ignore_tombstones=True))
    letters = FolderDeadLetter(tmp_path / "dead").read()
    print(f"crash matrix (M2D_CRASH_SEED={SEED}): kills {len(matrix.kills)} {matrix.kills}, restarts "
          f"{matrix.restarts}, items checked {report.source_items} (target {report.target_items}), divergences "
          f"missing {report.missing} extra {report.extra} different {report.different}; "
          f"{time.monotonic() - began:.0f}s", flush=True)
    assert (report.missing, report.extra, report.different) == (0, 0, 0), report.examples
    assert report.source_items > 100 and len(matrix.kills) == (5 if LONG else 4) * KILLS
    assert {p["reason"] for p in letters} <= {"null_key"}  # the birthday rule's refusals, nothing else
    conn = connect(local_stack.mysql_url, fresh_db)
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM orders")
        assert cur.fetchone()[0] > 0
    conn.close()
