"""`mysql2dynamo demo`: the whole migration on the local stack while the application keeps writing.

stack up -> sample shop -> capture starts (stream) -> live traffic starts -> consistent snapshot to
S3 -> Spark bulk load through the EMR connector -> replay from the stream -> status until caught
up -> cutover (live verify, fence, drain, fenced check of the changed keys) -> report, with the
application's write outage (fence up -> ready). Capture starts before the snapshot, so no change is
missed; the snapshot's position tells the replay what the load already holds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from mysql2dynamo.config import load_config
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.jobs.targets import create_table
from mysql2dynamo.local import stack
from mysql2dynamo.local.config import StackConfig
from mysql2dynamo.report.page import write_page
from mysql2dynamo.report.recorder import Recorder
from mysql2dynamo.state import StreamState

DB, TARGET, STREAM, BUCKET = "shop", "shop", "shop-changes", "m2d-demo"
PROGRESS = "m2d-demo-progress"  # capture and replay record their positions here, as in production
TABLES = [f"{DB}.customers", f"{DB}.orders", f"{DB}.order_items"]
MAPPING = Path(__file__).parent / "sample" / "mapping.yaml"
CLI = str(Path(sys.executable).with_name("mysql2dynamo"))
STEADY_SAMPLES = 10  # status samples (every 0.5 s) taken once the replay has caught up


def _p99(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


def _fresh_aws(cfg: StackConfig) -> None:
    """A new target table (with its GSI), stream and bucket for this run."""
    ddb, kinesis, s3 = cfg.client("dynamodb"), cfg.client("kinesis"), cfg.client("s3")
    if TARGET in ddb.list_tables()["TableNames"]:
        ddb.delete_table(TableName=TARGET)
        ddb.get_waiter("table_not_exists").wait(TableName=TARGET, WaiterConfig={"Delay": 0.2})
    create_table(ddb, TARGET, indexes={"GSI1": ("GSI1PK", "GSI1SK")})
    if PROGRESS in ddb.list_tables()["TableNames"]:
        ddb.delete_table(TableName=PROGRESS)
        ddb.get_waiter("table_not_exists").wait(TableName=PROGRESS, WaiterConfig={"Delay": 0.2})
    if STREAM in kinesis.list_streams()["StreamNames"]:
        kinesis.delete_stream(StreamName=STREAM)
        kinesis.get_waiter("stream_not_exists").wait(StreamName=STREAM, WaiterConfig={"Delay": 0.2})
    try:
        s3.create_bucket(Bucket=BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass


def _clear_state(state: StreamState) -> None:
    for path in (state.capture_checkpoint, state.capture_metrics, state.replay_checkpoints, state.replay_metrics):
        path.unlink(missing_ok=True)
    if state.dead_letters.is_dir():
        for f in state.dead_letters.glob("*.jsonl"):
            f.unlink()


def _row_counts(url: str) -> dict[str, int]:
    conn = connect(url, DB)
    with conn.cursor() as cur:
        counts = {}
        for t in TABLES:
            cur.execute(f"SELECT COUNT(*) FROM {t}")
            counts[t] = cur.fetchone()[0]
    conn.close()
    return counts


def _plan(cfg: StackConfig):
    """`mysql2dynamo plan` of the demo's mapping (the stream is created later, with the default retention)."""
    import boto3

    from mysql2dynamo.cdc.stream import DEFAULT_RETENTION_HOURS
    from mysql2dynamo.jobs.rate import Budget
    from mysql2dynamo.plan import make_plan

    conn = connect(cfg.mysql_url)
    try:
        return make_plan(load_config(str(MAPPING)), conn, boto3.client("dynamodb"), boto3.client("kinesis"),
                         Budget(), STREAM, DEFAULT_RETENTION_HOURS)
    finally:
        conn.close()


def run_demo(rows: int, rate: float, say: Callable[[str], None], report_path: Path | None = None) -> dict:
    from mysql2dynamo.cdc.progress import PROGRESS_ENV, ProgressTable
    from mysql2dynamo.cdc.server import current_position, server_info
    from mysql2dynamo.cdc.snapshot.run import run_snapshot
    from mysql2dynamo.cutover import CUTOVER_VERIFY, CutoverOptions, Pipeline, run_cutover
    from mysql2dynamo.jobs.bulk_load import LoadOptions, run_load
    from mysql2dynamo.jobs.session import local_spark
    from mysql2dynamo.jobs.verify import run_verify
    from mysql2dynamo.plan import render
    from mysql2dynamo.sample.create import create_sample
    from mysql2dynamo.sample.traffic import run_traffic
    from mysql2dynamo.status import pipeline_status

    started = time.monotonic()
    rec = Recorder()  # the phases (from the `== ` headings) and the pipeline's status over time
    say = rec.observe(say)
    cfg = StackConfig()
    os.environ.update(cfg.env())
    os.environ[PROGRESS_ENV] = PROGRESS
    state = StreamState.of(STREAM)
    say("== 1/9 local stack")
    stack.up(cfg, say)
    say(f"== 2/9 sample shop: {rows} customers")
    create_sample(cfg.mysql_url, DB, rows, say=say)
    _fresh_aws(cfg)
    _clear_state(state)
    logs = cfg.home / "demo"
    logs.mkdir(parents=True, exist_ok=True)

    say("== 3/9 plan: mapping checks, binlog settings, sizes, load time vs stream retention")
    plan = _plan(cfg)
    for line in render(plan).splitlines()[1:]:
        say(f"   {line}")
    if not plan.ok:
        raise RuntimeError(f"the plan is not ready: {plan.binlog_problems or plan.diagnostics}")

    say("== 4/9 capture: binlog -> Kinesis (started before the snapshot)")
    conn = connect(cfg.cdc_mysql_url)
    start = current_position(conn, server_info(conn))
    conn.close()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    capture = subprocess.Popen(
        [CLI, "stream", "--mysql-url", cfg.cdc_mysql_url, "--tables", ",".join(TABLES), "--stream", STREAM,
         "--create", "--shards", "2", "--from-position", f"{start.file}:{start.pos}", "--checkpoint-every", "0.05"],
        stdout=subprocess.DEVNULL, stderr=open(logs / "stream.log", "w"), env=env)
    processes = [capture]
    stop_traffic = threading.Event()
    traffic_result: dict = {}

    def traffic() -> None:
        stats = run_traffic(cfg.app_mysql_url, DB, rate=rate, seconds=24 * 3600, stop=stop_traffic.is_set)
        traffic_result.update(stats.as_dict())

    writer = threading.Thread(target=traffic, name="sample-traffic")
    try:
        while not state.capture_metrics.exists():  # the stream reports once it reads the binlog
            if capture.poll() is not None:
                raise RuntimeError(f"the stream stopped: {(logs / 'stream.log').read_text()[-2000:]}")
            time.sleep(0.1)
        writer.start()
        rec.sample_every(1.0, lambda k=cfg.client("kinesis"): pipeline_status(STREAM, cfg.mysql_url, k, state))
        say(f"   application traffic: {rate:g} transactions/s, running until the cutover")

        say("== 5/9 consistent snapshot -> s3://")
        dest = f"s3://{BUCKET}/snapshots/{time.strftime('%Y%m%dT%H%M%S')}"
        manifest_doc = run_snapshot(cfg.cdc_mysql_url, TABLES, dest, say=say)
        say(f"   snapshot at binlog {manifest_doc.get('binlog')}")

        say("== 6/9 bulk load: Spark + keymap -> EMR DynamoDB connector")
        spark = local_spark("mysql2dynamo-demo")
        load = run_load(spark, LoadOptions(manifest=dest, mapping=str(MAPPING), sink="emr-connector"), say=say)

        say("== 7/9 replay: Kinesis -> DynamoDB (the Lambda's code, run locally)")
        replay = subprocess.Popen(
            [CLI, "replay", "--config", str(MAPPING), "--stream", STREAM, "--manifest", dest],
            stdout=subprocess.DEVNULL, stderr=open(logs / "replay.log", "w"), env=env)
        processes.append(replay)

        say("== 8/9 status: catch up on the changes made since the snapshot, then steady state")
        kinesis = cfg.client("kinesis")
        progress = ProgressTable.from_env(STREAM)
        backlog: list[float] = []  # replay lag while it works off what the load took
        lags: list[float] = []  # replay lag once caught up, with the traffic still running
        caught_up_at = time.monotonic()
        deadline = caught_up_at + 600
        while len(lags) < STEADY_SAMPLES:
            s = pipeline_status(STREAM, cfg.mysql_url, kinesis, state, progress)
            caught_up = (s["replay"]["lag_ms"] < CutoverOptions.max_lag_ms  # what cutover waits for
                         and (s["capture"]["binlog_bytes_behind"] or 0) < CutoverOptions.max_capture_bytes)
            if caught_up and not lags:
                catch_up_s = round(time.monotonic() - caught_up_at, 1)
            (lags if caught_up or lags else backlog).append(s["replay"]["lag_ms"])
            say(f"   capture {s['capture']['binlog_bytes_behind']} binlog bytes behind, replay lag "
                f"{s['replay']['lag_ms']} ms, {s['replay']['puts'] or 0} puts, {s['dead_letters']} dead letters")
            if time.monotonic() > deadline or replay.poll() is not None or capture.poll() is not None:
                raise RuntimeError("the pipeline did not catch up; see .local/demo/*.log")
            time.sleep(0.5)

        say("== 9/9 cutover: live verify, fence writes, drain, check the keys changed since, switch")
        mapping = load_config(MAPPING).mapping

        def verify() -> dict:
            from mysql2dynamo.jobs.verify import fresh_snapshot

            snap = fresh_snapshot(cfg.cdc_mysql_url, mapping, f"s3://{BUCKET}/verify/{time.strftime('%H%M%S')}")
            result = run_verify(spark, mapping, snap, cdc_url=cfg.cdc_mysql_url, options=CUTOVER_VERIFY)
            say(result.text())
            return result.as_dict()

        pipeline = Pipeline(STREAM, cfg.mysql_url, kinesis, cfg.client("dynamodb"), mapping, state, progress)
        snapshot = manifest_doc["binlog"]
        cut = run_cutover(pipeline, verify, CutoverOptions(release_fence=True,
                                                           snapshot_position=f"{snapshot['file']}:{snapshot['pos']}"),
                          say)
        source_rows = _row_counts(cfg.mysql_url)
    finally:
        rec.finish()
        stop_traffic.set()
        if writer.is_alive():
            writer.join()
        for p in processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in processes:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()

    capture_metrics = json.loads(state.capture_metrics.read_text()) if state.capture_metrics.exists() else {}
    v = cut.baseline or {}
    fenced = cut.fenced_check or {}
    report = {
        "plan": {"ready": plan.ok, "items_estimate": plan.items, "wcu_estimate": plan.wcu,
                 "load_estimate_s": round(plan.load_hours * 3600, 1)},
        "source_rows": sum(source_rows.values()), "source_rows_by_table": source_rows,
        "target_items": v.get("target_items"),
        "changes_during_migration": capture_metrics.get("records", 0),
        "traffic": traffic_result,
        # the live verify found no divergence, and the keys it left pending were equal under the fence
        "verify": {**{k: v.get(k) for k in ("missing", "extra", "different", "pending", "in_flight_keys")},
                   "clean": v.get("divergent") is False and (not v.get("pending") or fenced.get("clean") is True)},
        "cutover": {"write_outage_ms": cut.write_outage_ms, "outage_steps_ms": cut.outage_steps_ms, "ready": cut.ready,
                    "reason": cut.reason, "fence_position": cut.fence_position,
                    "settled": {k: (cut.settled or {}).get(k) for k in ("source_keys", "rows_read", "clean")},
                    "fenced_check": {k: fenced.get(k) for k in ("changes", "source_keys", "rows_read", "items_read",
                                                                "clean")},
                    "tombstones_removed": cut.tombstones_removed, "tombstones_when": cut.tombstones_when},
        "load": {"items_per_s": load.get("items_per_second"), "items": load.get("items_out"),
                 "seconds": load.get("seconds"), "sink": "emr-connector"},
        "replay": {"lag_p99_ms": _p99(lags), "lag_samples_ms": lags, "catch_up_s": catch_up_s,
                   "catch_up_lag_max_ms": max(backlog, default=0)},
        "seconds": round(time.monotonic() - started, 1),
        "verify_examples": v.get("examples"), "timeline": rec.finish(),
    }
    say("")
    say(f"migrated {report['source_rows']} rows -> {report['target_items']} items while the application made "
        f"{report['changes_during_migration']} changes; load {report['load']['items_per_s']} items/s, replay lag "
        f"p99 {report['replay']['lag_p99_ms']} ms, write outage {cut.write_outage_ms} ms; verify "
        f"{'CLEAN' if report['verify']['clean'] else 'NOT CLEAN'}; {'READY TO SWITCH' if cut.ready else 'NOT READY'}")
    if report_path:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(report, indent=2, default=str))
        say(f"report: {report_path}, {write_page(report, report_path.with_suffix('.html'))}")
    return report
