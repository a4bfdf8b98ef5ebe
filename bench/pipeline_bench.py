"""The sustained rate: the sample shop's application traffic at rising rates through the whole pipeline.

capture (`mysql2dynamo stream`) -> kinesalite -> replay (`mysql2dynamo replay`) -> dynalite, both as
the processes an operator runs. For each rate the traffic holds `--hold` seconds (several writer
processes, each one connection, the sample mix: inserts, key-moving updates, deletes); a probe
commits a marker into one customer's row every `--probe-every` seconds and polls DynamoDB until the
item shows it: that is the end-to-end lag a reader of the new table sees (commit in MySQL -> item
visible). A rate is sustained when the lag stays bounded: the last third of the hold's probes is no
worse than the first third plus one second, and every probe arrived.

Baseline, in the same run: a bare BinLogStreamReader loop decoding the binlog the run wrote (the
reader's ceiling, as in bench/stream_bench.py). Last line:
BENCH pipeline ratio=<sustained changes/s / bare decode rows/s> sustained_changes_s=... lag_p99_ms=...
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench.report import DOC, arguments, bench_line, cpu_seconds, write_section
from bench.stream_bench import bare_decode
from mysql2dynamo.cdc.server import current_position, server_info
from mysql2dynamo.ground.mysql import MySQLTarget, connect
from mysql2dynamo.jobs.targets import create_table
from mysql2dynamo.local import stack
from mysql2dynamo.local.config import StackConfig
from mysql2dynamo.sample.create import create_sample
from mysql2dynamo.sample.mappings import mapping_text
from mysql2dynamo.sample.traffic import run_traffic

CLI = str(Path(sys.executable).with_name("mysql2dynamo"))
PLOT = "benchmarks-pipeline.png"  # next to docs/benchmarks.md
PROBE_ID = 1  # the customer whose row carries the probe's marker
PROBE_TIMEOUT_S = 30.0


def _writer(url: str, db: str, rate: float, seconds: float, seed: int, out) -> None:
    cpu = time.process_time()
    stats = run_traffic(url, db, rate=rate, seconds=seconds, seed=seed)
    out.put((stats.total_rows, sum(stats.operations.values()), stats.seconds, time.process_time() - cpu))


class Probe(threading.Thread):
    """Commit a marker, wait until the replayed item carries it; one lag sample per marker."""

    def __init__(self, url: str, db: str, ddb, table: str, every: float) -> None:
        super().__init__(daemon=True)
        self.url, self.db, self.ddb, self.table, self.every = url, db, ddb, table, every
        self.lags_ms: list[float] = []
        self.lost = 0
        self.stop = threading.Event()

    def run(self) -> None:
        conn = connect(self.url, self.db, autocommit=True)
        key = {"PK": {"S": f"CUSTOMER#{PROBE_ID}"}, "SK": {"S": "PROFILE"}}
        try:
            while not self.stop.is_set():
                marker = f"probe-{uuid.uuid4().hex[:10]}"
                with conn.cursor() as cur:
                    cur.execute("UPDATE customers SET name = %s WHERE id = %s", (marker, PROBE_ID))
                committed = time.monotonic()
                while True:
                    item = self.ddb.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item", {})
                    if item.get("name", {}).get("S") == marker:
                        self.lags_ms.append((time.monotonic() - committed) * 1000)
                        break
                    if time.monotonic() - committed > PROBE_TIMEOUT_S:
                        self.lost += 1
                        break
                    time.sleep(0.005)
                self.stop.wait(max(0.0, self.every - (time.monotonic() - committed)))
        finally:
            conn.close()


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else (values or [0])[0]


def hold(cfg: StackConfig, db: str, ddb, table: str, rate: float, seconds: float, writers: int,
         probe_every: float, pids: dict[str, int | None]) -> dict:
    """One rate held `seconds`: what the writers achieved, the probes' lag, and each process's CPU over the hold
    (% of one core), which names the one that saturates."""
    queue: mp.Queue = mp.get_context("spawn").Queue()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(cfg.app_mysql_url, db, rate / writers, seconds, 1000 + i, queue))
             for i in range(writers)]
    probe = Probe(cfg.app_mysql_url, db, ddb, table, probe_every)
    cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    for proc in procs:
        proc.start()
    probe.start()
    results = [queue.get(timeout=seconds + 120) for _ in procs]
    cpu = {name: cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()} | {"writers": sum(r[3] for r in results)}
    for proc in procs:
        proc.join()
    elapsed = max(r[2] for r in results)  # the writers' own clock: process start-up is not traffic
    probe.stop.set()
    probe.join(PROBE_TIMEOUT_S + 5)
    rows, transactions = sum(r[0] for r in results), sum(r[1] for r in results)
    lags = probe.lags_ms
    third = max(len(lags) // 3, 1)
    bounded = (probe.lost == 0 and len(lags) >= 3
               and statistics.median(lags[-third:]) <= statistics.median(lags[:third]) + 1000)
    return {"rate": rate, "transactions_s": transactions / elapsed, "changes_s": rows / elapsed,
            "lag_p50_ms": p(lags, 50), "lag_p99_ms": p(lags, 99), "probes": len(lags), "lost": probe.lost,
            "bounded": bounded, "cpu_pct": {name: round(100 * s / elapsed) for name, s in cpu.items()}}


def plot(curve: list[dict], path: Path) -> None:
    """The curve as a picture: p99 and p50 lag against the changes/s achieved, the unbounded points marked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    x = [pt["changes_s"] for pt in curve]
    ax.plot(x, [pt["lag_p99_ms"] for pt in curve], "o-", label="p99 lag")
    ax.plot(x, [pt["lag_p50_ms"] for pt in curve], "s--", label="p50 lag")
    for pt in curve:
        if not pt["bounded"]:
            ax.annotate("lag grows", (pt["changes_s"], pt["lag_p99_ms"]), textcoords="offset points", xytext=(-30, 8))
    ax.set_xlabel("changes/s achieved (application writes)")
    ax.set_ylabel("commit -> item visible, ms")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title("mysql2dynamo pipeline: lag against load (one 2-core machine)")
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})  # no version stamp: the same curve, the same bytes
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="50,100,150,200,250,300,400,600,800", help="transactions/s, rising")
    ap.add_argument("--hold", type=float, default=60.0, help="seconds per rate")
    ap.add_argument("--customers", type=int, default=5000)
    ap.add_argument("--writers", type=int, default=4, help="writer processes (one connection each)")
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--probe-every", type=float, default=0.25)
    args = arguments(ap, {"rates": "20", "hold": 4.0, "customers": 50, "writers": 1, "shards": 1})
    rates = [float(r) for r in args.rates.split(",")]

    cfg = StackConfig()
    os.environ.update(cfg.env())
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    ddb = cfg.client("dynamodb")
    tag = uuid.uuid4().hex[:6]
    db, table, stream = f"bench_pipe_{tag}", f"bench-pipe-{tag}", f"bench-pipe-{tag}"
    work = Path(tempfile.mkdtemp(prefix="m2d-pipebench-"))
    create_sample(cfg.mysql_url, db, args.customers)
    create_table(ddb, table)
    (work / "mapping.yaml").write_text(mapping_text(db, table))
    conn = connect(cfg.cdc_mysql_url)
    start = current_position(conn, server_info(conn))
    conn.close()
    tables = ",".join(f"{db}.{t}" for t in ("customers", "orders", "order_items"))
    capture = subprocess.Popen(
        [CLI, "stream", "--mysql-url", cfg.cdc_mysql_url, "--tables", tables, "--stream", stream, "--create",
         "--shards", str(args.shards), "--from-now", "--checkpoint", str(work / "cp.json"),
         "--metrics", str(work / "capture.json"), "--checkpoint-every", "0.2"],
        stdout=subprocess.DEVNULL, stderr=open(work / "stream.log", "w"), env=env)
    curve: list[dict] = []
    replay = None
    try:
        while not (work / "capture.json").exists():  # the stream exists once capture reports
            if capture.poll() is not None:
                raise RuntimeError((work / "stream.log").read_text()[-2000:])
            time.sleep(0.1)
        replay = subprocess.Popen(
            [CLI, "replay", "--config", str(work / "mapping.yaml"), "--stream", stream, "--mysql-url", cfg.mysql_url,
             "--checkpoint", str(work / "replay.json"), "--dead-letter", str(work / "dead-letters")],
            stdout=subprocess.DEVNULL, stderr=open(work / "replay.log", "w"), env=env)
        services = {s.name: s.pid for s in stack.status(cfg)}
        pids = {"capture": capture.pid, "replay": replay.pid, "kinesalite": services.get("kinesalite"),
                "dynalite": services.get("dynalite"), "mariadb": services.get("mariadb")}
        for rate in rates:
            point = hold(cfg, db, ddb, table, rate, args.hold, args.writers, args.probe_every, pids)
            # where the lag builds: capture's own distance to the binlog's end (its metrics, every 5 s)
            point["capture_behind_kb"] = round((json.loads((work / "capture.json").read_text())
                                                .get("lag_binlog_bytes") or 0) / 1024)
            curve.append(point)
            print(f"rate {rate:>6.0f} tx/s: {point['changes_s']:>7.0f} changes/s achieved, lag p50 "
                  f"{point['lag_p50_ms']:.0f} ms p99 {point['lag_p99_ms']:.0f} ms, {point['probes']} probes, "
                  f"{'bounded' if point['bounded'] else 'NOT bounded'}, capture {point['capture_behind_kb']} KB "
                  "behind the binlog; CPU % of a core: "
                  + ", ".join(f"{k} {v}" for k, v in point["cpu_pct"].items()), flush=True)
            for proc, name in ((capture, "stream"), (replay, "replay")):
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} stopped: {(work / f'{name}.log').read_text()[-2000:]}")
            if not point["bounded"] or point["transactions_s"] < 0.8 * rate:
                break  # lag grows, or the writers cannot drive this rate: the next one means nothing
    finally:
        running = [p for p in (capture, replay) if p is not None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        for proc in running:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()

    bare_rows, bare_s, _ = bare_decode(MySQLTarget.parse(cfg.cdc_mysql_url), start, db)
    bare = bare_rows / bare_s
    print(f"bare decode loop: {bare_rows} rows in {bare_s:.1f}s = {bare:,.0f} rows/s", flush=True)
    cfg.client("kinesis").delete_stream(StreamName=stream)
    ddb.delete_table(TableName=table)
    admin = connect(cfg.mysql_url)
    admin.cursor().execute(f"DROP DATABASE `{db}`")
    admin.close()
    shutil.rmtree(work, ignore_errors=True)

    sustained = [pt for pt in curve if pt["bounded"]]
    best = max(sustained, key=lambda pt: pt["changes_s"]) if sustained else None
    figures = {"sustained_changes_s": round(best["changes_s"]) if best else 0,
               "sustained_tx_s": round(best["transactions_s"]) if best else 0,
               "lag_p99_ms": round(best["lag_p99_ms"]) if best else None,
               "bare_decode_rows_s": round(bare), "shards": args.shards, "hold_s": args.hold}
    last = curve[-1] if curve else None  # where the climb stopped: the process that ran out of CPU first
    if last:
        figures["busiest_at_last_rate"] = "{}:{}%".format(*max(last["cpu_pct"].items(), key=lambda kv: kv[1]))
        figures["all_cpu_pct_at_last_rate"] = sum(last["cpu_pct"].values())
        figures["capture_behind_kb_at_last_rate"] = last["capture_behind_kb"]
    line = bench_line("pipeline", figures["sustained_changes_s"] / bare, figures)
    if not args.smoke:
        plot(curve, DOC.parent / PLOT)
    names = list(curve[0]["cpu_pct"]) if curve else []
    write_section("pipeline", line, [
        f"`python -m bench.pipeline_bench`: the sample shop ({args.customers:,} customers), its application mix "
        f"from {args.writers} writer processes, each rate held {args.hold:.0f} s; capture and replay run as the "
        f"`stream` and `replay` commands ({args.shards} shards); lag = MySQL commit of a probe marker -> the "
        "replayed item shows it (GetItem, consistent read), every "
        f"{args.probe_every} s. Everything (MariaDB, kinesalite, dynalite, Spark-free) on one 2-core machine.",
        "",
        "| rate asked tx/s | achieved tx/s | changes/s | lag p50 ms | lag p99 ms | bounded | capture behind KB | "
        + " | ".join(f"{n} CPU %" for n in names) + " | all CPU % |",
        "|---|---|---|---|---|---|---|" + "---|" * (len(names) + 1),
        *[f"| {pt['rate']:.0f} | {pt['transactions_s']:.0f} | {pt['changes_s']:.0f} | {pt['lag_p50_ms']:.0f} | "
          f"{pt['lag_p99_ms']:.0f} | {'yes' if pt['bounded'] else 'no'} | {pt['capture_behind_kb']} | "
          + " | ".join(str(pt["cpu_pct"][n]) for n in names) + f" | {sum(pt['cpu_pct'].values())} |"
          for pt in curve],
        "",
        f"![p99 lag against the changes/s achieved]({PLOT})",
        "",
        "CPU % is each process's user + system time over the hold, in % of one core (the machine has 2, so "
        "\"all\" tops out at 200): a Python process near 100 is saturated (one thread does its work under the "
        "GIL). \"capture behind\" is capture's distance to the end of the binlog at the end of the hold: "
        "when it grows, the lag builds in capture, the one stage that cannot scale out.",
        "",
        f"Bare decode of the same binlog: {bare:,.0f} rows/s (the sample's small transactions over 2-3 tables "
        "cost the library a table map per rows event; the stream bench's one-table binlog decodes ~6x faster).",
        "",
        "Where it saturates (2026-11-30; py-spy of capture under load, and capture alone on a recorded "
        "25k-change binlog of this mix): the whole pipeline shares 2 cores, and at the knee (200 tx/s) they are "
        "full (\"all\" 185-190). In the first run of the day the lag built in capture (680 KB behind the binlog "
        "at 200 tx/s, 5 MB at 250): it sent a PutRecords call per small transaction (~1 ms of CPU each), and "
        "42% of its time is python-mysql-replication parsing a TableMapEvent for every rows event (the same few "
        "table maps, parsed again in every transaction). With one call in flight unless 200 changes wait, "
        "capture stays within 11 KB of the binlog's end at 200 tx/s, and the lag builds in replay, the largest "
        "CPU user (one Python process polling every shard, 16 writer threads). Alone on a core, capture carries "
        "1,305 changes/s of this mix (765 µs of CPU per change; 17,694/s on the stream bench's one-table binlog).",
        "",
        "10x on AWS (~2,500-3,300 changes/s of this mix): Kinesis 4 shards by bytes (~1 KB a change, 1 MB/s a "
        "shard; aggregation keeps the 1,000 records/s limit out of reach), 8 for headroom; replay ~1.3 ms of "
        "CPU per change here, so ~8 concurrent Lambda batches (8 shards at parallelization factor 1, or 4 at "
        "the default 2), 1,024 MB each; DynamoDB ~3,300 WCU/s plus tombstones. Capture is the stage that "
        "cannot scale out: on a core of its own it needs ~2.5x on this mix, first by parsing each distinct "
        "table map once (the 42%).",
    ], smoke=args.smoke)
    print(line)


if __name__ == "__main__":
    main()
