"""Capture throughput: 200,000 row changes, binlog -> Kinesis, measured several ways in one run.

(a) a bare BinLogStreamReader loop that only decodes the rows (the library's own decoder): the
    baseline, run before and after the others and averaged, since the machine's load drifts;
(b) the public sample's publisher: decode, json.dumps, one PutRecord per row (partition key
    "default"), measured on the first `--sample-rows` changes because it is slow;
(c) our stream (`cdc.stream.run_stream`): rows decoded by the compiled decoder (cdc/row_decoder.py),
    envelope + codec, PutRecords batches in parallel with per-key ordering, checkpoints;
(d) (c) with a Kinesis client that acknowledges at once: our own cost without kinesalite's;
(e) our reader alone (`cdc.binlog.BinlogSource`): transactions of Changes, no envelopes;
(f) full mode only (Java, not in `--smoke`): the peer, Debezium's embedded engine with its MariaDB connector
    (bench/debezium/), from the same position (file/pos and GTID), each change serialized to JSON without
    schema, counted until it has seen them all.

Needs the local stack (`mysql2dynamo local up`). Last line: BENCH stream ratio=c/b vs_bare_decode=c/a
vs_debezium=c/f (first-to-last) ...
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from bench.report import arguments, bench_line, cpu_seconds, write_section
from mysql2dynamo.cdc.binlog import BinlogSource, Transaction
from mysql2dynamo.cdc.checkpoint import FileCheckpointStore
from mysql2dynamo.cdc.publisher import ShardMap
from mysql2dynamo.cdc.server import current_position, server_info
from mysql2dynamo.cdc.stream import StreamSettings, ensure_stream, run_stream
from mysql2dynamo.ground.mysql import MySQLTarget, connect
from mysql2dynamo.local import stack
from mysql2dynamo.local.config import StackConfig

SIZES = (1, 1, 1, 5, 10, 50, 100, 500, 1000)  # rows per transaction, drawn at random
DEBEZIUM = Path(__file__).resolve().parent / "debezium"
DEBEZIUM_JAR = DEBEZIUM / "target" / "debezium-count.jar"


def make_changes(url: str, db: str, total: int, seed: int = 1) -> None:
    """Inserts then updates in transactions of mixed sizes until `total` row changes."""
    rng = random.Random(seed)
    conn = connect(url, autocommit=False)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{db}`")  # a new name: no DROP inside the captured range
        cur.execute(f"CREATE TABLE `{db}`.orders (id BIGINT PRIMARY KEY, customer VARCHAR(64), "
                    "total DECIMAL(12,2), created DATETIME(6), status VARCHAR(16), qty INT)")
        conn.commit()
        done, next_id = 0, 1
        while done < total:
            n = min(rng.choice(SIZES), total - done)
            if next_id <= total // 2:
                rows = [(next_id + i, f"customer-{rng.randrange(10**6)}", rng.randrange(10**6) / 100,
                         "2024-05-06 07:08:09.123456", "placed", rng.randrange(100)) for i in range(n)]
                cur.executemany(f"INSERT INTO `{db}`.orders VALUES (%s,%s,%s,%s,%s,%s)", rows)
                next_id += n
            else:
                lo = rng.randrange(1, max(2, total // 2 - n))
                cur.execute(f"UPDATE `{db}`.orders SET qty = qty + 1, status = 'paid' WHERE id BETWEEN %s AND %s",
                            (lo, lo + n - 1))
                n = cur.rowcount
            conn.commit()
            done += n
    conn.close()


def reader(cdc: MySQLTarget, start, db: str, server_id: int) -> BinLogStreamReader:
    return BinLogStreamReader(
        connection_settings={"host": cdc.host, "port": cdc.port, "user": cdc.user, "password": cdc.password},
        server_id=server_id, log_file=start.file, log_pos=start.pos, resume_stream=True, blocking=False,
        only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent], only_schemas=[db], is_mariadb=False,
        enable_logging=False)


def bare_decode(cdc: MySQLTarget, start, db: str) -> tuple[int, float, float]:
    """Rows, seconds and CPU seconds of the bare loop."""
    t0, cpu0, rows = time.perf_counter(), time.process_time(), 0
    stream = reader(cdc, start, db, 9101)
    for event in stream:
        rows += len(event.rows)
    stream.close()
    return rows, time.perf_counter() - t0, time.process_time() - cpu0


def kinesalite_cpu(cfg: StackConfig) -> float:
    """CPU seconds kinesalite (a process of its own) has used so far (Linux /proc; 0 where unreadable)."""
    return cpu_seconds(next((s.pid for s in stack.status(cfg) if s.name == "kinesalite"), None))


def sample_publisher(cdc: MySQLTarget, start, db: str, kinesis, stream: str, limit: int) -> tuple[int, float]:
    t0, rows = time.perf_counter(), 0
    source = reader(cdc, start, db, 9102)
    for event in source:
        for row in event.rows:
            payload = {"schema": event.schema, "table": event.table, "type": type(event).__name__, "row": row}
            kinesis.put_record(StreamName=stream, Data=json.dumps(payload, default=str), PartitionKey="default")
            rows += 1
            if rows >= limit:
                source.close()
                return rows, time.perf_counter() - t0
    source.close()
    return rows, time.perf_counter() - t0


def our_reader(cdc: MySQLTarget, start, db: str, info) -> tuple[int, float]:
    t0, rows = time.perf_counter(), 0
    source = BinlogSource(cdc, [f"{db}.orders"], start, info, reader_id=9103, blocking=False)
    for item in source:
        rows += len(item.changes) if isinstance(item, Transaction) else 0
    source.close()
    return rows, time.perf_counter() - t0


class AcknowledgeAll:
    """A Kinesis stand-in that accepts every record at once: isolates our own per-row cost. It has the real
    stream's shards, so the publisher aggregates as it does into kinesalite."""

    def __init__(self, kinesis, stream: str) -> None:
        self.listing = kinesis.list_shards(StreamName=stream)
        self.map = ShardMap.load(self, stream)

    def list_shards(self, **kwargs):
        return self.listing

    def put_records(self, StreamName: str, Records: list[dict]):  # noqa: N803 (boto3's names)
        def shard(r: dict) -> str:
            key = r.get("ExplicitHashKey")
            return self.map.ids[self.map.shard(r["PartitionKey"]) if key is None else self.map.of_hash(int(key))]

        return {"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1", "ShardId": shard(r)} for r in Records]}


def debezium_jar() -> Path:
    """The peer's jar (its dependencies beside it in target/lib), built by Maven when missing or older than
    its pom or sources."""
    sources = [p for p in [DEBEZIUM / "pom.xml", *DEBEZIUM.joinpath("src").rglob("*")] if p.is_file()]
    if not DEBEZIUM_JAR.exists() or max(p.stat().st_mtime for p in sources) > DEBEZIUM_JAR.stat().st_mtime:
        build = subprocess.run(["mvn", "-q", "-B", "-f", str(DEBEZIUM / "pom.xml"), "package"], capture_output=True,
                               text=True)
        if build.returncode != 0:
            raise RuntimeError(f"building the Debezium peer failed: {build.stdout[-3000:]}{build.stderr[-3000:]}")
    return DEBEZIUM_JAR


@dataclass(frozen=True)
class DebeziumRun:
    """Seconds from the engine's start (the JVM already up) to its first change, and from its first change to its
    last."""

    version: str
    changes: int
    start_to_first_s: float
    first_to_last_s: float

    @property
    def rows_s(self) -> float:
        """First-to-last: the streaming rate, without the JVM's and the connector's start."""
        return self.changes / self.first_to_last_s

    @property
    def start_to_last_rows_s(self) -> float:
        return self.changes / (self.start_to_first_s + self.first_to_last_s)


def debezium(cdc: MySQLTarget, start, db: str, changes: int) -> DebeziumRun:
    """Debezium embedded (bench/debezium/DebeziumCount.java) reading `changes` row changes of `db`.orders from
    `start`; the connection goes on stdin, the password never on a command line."""
    connection = {"database.hostname": cdc.host, "database.port": cdc.port, "database.user": cdc.user,
                  "database.password": cdc.password, "database.server.id": 9104, "database.include.list": db,
                  "table.include.list": f"{db}.orders"}
    run = subprocess.run(["java", "-jar", str(debezium_jar()), str(changes), start.file, str(start.pos),
                          start.gtid or "-"], input="".join(f"{k}={v}\n" for k, v in connection.items()),
                         capture_output=True, text=True, timeout=1800)
    if run.returncode != 0:
        raise RuntimeError(f"the Debezium peer failed (exit {run.returncode}): {run.stderr[-3000:]}")
    fields = dict(f.split("=", 1) for f in run.stdout.strip().splitlines()[-1].split()[1:])
    return DebeziumRun(fields["version"], int(fields["changes"]), float(fields["start_to_first_s"]),
                       float(fields["first_to_last_s"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--changes", type=int, default=200_000)
    ap.add_argument("--sample-rows", type=int, default=20_000)
    ap.add_argument("--shards", type=int, default=4)
    args = arguments(ap, {"changes": 2000, "sample_rows": 500})

    cfg = StackConfig()
    kinesis = cfg.client("kinesis")
    conn = connect(cfg.cdc_mysql_url)
    info = server_info(conn)
    start = current_position(conn, info)
    db = f"bench_stream_{uuid.uuid4().hex[:6]}"
    t0 = time.perf_counter()
    make_changes(cfg.mysql_url, db, args.changes)
    print(f"generated {args.changes} row changes in {time.perf_counter() - t0:.1f}s")
    cdc = MySQLTarget.parse(cfg.cdc_mysql_url)

    load = os.getloadavg()[0]
    a_rows, a_s, a_cpu = bare_decode(cdc, start, db)
    print(f"(a) bare decode loop:     {a_rows} rows in {a_s:.1f}s = {a_rows / a_s:,.0f} rows/s")
    e_rows, e_s = our_reader(cdc, start, db, info)
    print(f"(e) our reader alone:     {e_rows} rows in {e_s:.1f}s = {e_rows / e_s:,.0f} rows/s")

    sample_stream, ours_stream = f"bench-sample-{db}", f"bench-ours-{db}"
    ensure_stream(kinesis, sample_stream, 1, 24)
    b_rows, b_s = sample_publisher(cdc, start, db, kinesis, sample_stream, args.sample_rows)
    print(f"(b) sample publisher:     {b_rows} rows in {b_s:.1f}s = {b_rows / b_s:,.0f} rows/s")

    ensure_stream(kinesis, ours_stream, args.shards, 24)
    with tempfile.TemporaryDirectory() as tmp:
        settings = StreamSettings(cfg.cdc_mysql_url, [f"{db}.orders"], ours_stream,
                                  FileCheckpointStore(Path(tmp) / "cp.json"), start=start, stop_at_end=True,
                                  progress_every=30)
        t0, cpu0, k_cpu0 = time.perf_counter(), time.process_time(), kinesalite_cpu(cfg)
        metrics = run_stream(settings, kinesis, install_signals=False, say=lambda m: None)
        c_s, c_cpu, k_cpu = time.perf_counter() - t0, time.process_time() - cpu0, kinesalite_cpu(cfg) - k_cpu0
    c_rows = metrics.records
    print(f"(c) mysql2dynamo stream:  {c_rows} changes in {c_s:.1f}s = {c_rows / c_s:,.0f} rows/s "
          f"({metrics.transactions} transactions, {metrics.kinesis_records} Kinesis records)")

    with tempfile.TemporaryDirectory() as tmp:
        settings = StreamSettings(cfg.cdc_mysql_url, [f"{db}.orders"], "no-kinesis",
                                  FileCheckpointStore(Path(tmp) / "cp.json"), start=start, stop_at_end=True,
                                  progress_every=30)
        t0 = time.perf_counter()
        d_metrics = run_stream(settings, AcknowledgeAll(kinesis, ours_stream), install_signals=False,
                               say=lambda m: None)
        d_s = time.perf_counter() - t0
    d_rows = d_metrics.records
    print(f"(d) ours, no Kinesis:     {d_rows} records in {d_s:.1f}s = {d_rows / d_s:,.0f} rows/s "
          "(read + decode + envelope; the rest of (c) is Kinesis)")

    peer = None if args.smoke else debezium(cdc, start, db, args.changes)
    if peer:
        print(f"(f) Debezium embedded:    {peer.changes} changes, first to last in {peer.first_to_last_s:.1f}s = "
              f"{peer.rows_s:,.0f} rows/s; from its start {peer.start_to_last_rows_s:,.0f} rows/s")

    again_rows, again_s, again_cpu = bare_decode(cdc, start, db)
    print(f"(a) bare decode loop:     {again_rows} rows in {again_s:.1f}s = {again_rows / again_s:,.0f} rows/s "
          "(again)")
    a_rows, a_s, a_cpu = a_rows + again_rows, a_s + again_s, a_cpu + again_cpu
    load = (load + os.getloadavg()[0]) / 2

    for name in (sample_stream, ours_stream):
        kinesis.delete_stream(StreamName=name)
    conn.close()
    admin = connect(cfg.mysql_url)
    admin.cursor().execute(f"DROP DATABASE `{db}`")
    admin.close()

    a, b, c, d, e = a_rows / a_s, b_rows / b_s, c_rows / c_s, d_rows / d_s, e_rows / e_s
    peer_figures = {"vs_debezium": f"{c / peer.rows_s:.2f}", "debezium_rows_s": round(peer.rows_s)} if peer else {}
    line = bench_line("stream", c / b, {"vs_bare_decode": f"{c / a:.2f}", **peer_figures, "ours_rows_s": round(c),
                                        "sample_rows_s": round(b), "bare_decode_rows_s": round(a),
                                        "ours_without_kinesis_rows_s": round(d), "reader_rows_s": round(e),
                                        "changes": args.changes, "shards": args.shards,
                                        "load_avg": f"{load:.1f}", "bare_cpu_us": round(a_cpu / a_rows * 1e6),
                                        "ours_cpu_us": round(c_cpu / c_rows * 1e6),
                                        "kinesalite_cpu_us": round(k_cpu / c_rows * 1e6)})
    peer_intro = [
        f"The same {args.changes:,} row changes read from the same binlog position several ways. (f), the peer, is "
        f"Debezium {peer.version} embedded with its MariaDB connector (bench/debezium/, built by Maven on first "
        "use; full mode only, so the `--smoke` run in `make test` needs no Java): it starts from the same file/pos "
        "and GTID with its offsets and schema history in memory, serializes each change to JSON without schema "
        "and counts the changes until it has seen them all.", ""] if peer else []
    peer_line = [
        f"- (f) the peer, Debezium embedded, JSON without schema, counted: {peer.rows_s:,.0f} rows/s from its first "
        f"change to its last ({peer.changes} changes; (c) is {c / peer.rows_s:.2f}x that, (d) "
        f"{d / peer.rows_s:.2f}x: the peer publishes nowhere), {peer.start_to_last_rows_s:,.0f} rows/s from the "
        f"engine's start (the connector's start and its reading of the captured table's definition took "
        f"{peer.start_to_first_s:.1f}s)."] if peer else []
    write_section("stream", line, [
        *peer_intro,
        f"Load average during the run: {load:.1f} (other work on the machine slows every figure alike; the "
        "ratios are measured in one process, one after the other).",
        "",
        f"- (a) bare BinLogStreamReader decode loop: {a:,.0f} rows/s ({a_rows // 2} rows, run before and after "
        "the others, averaged)",
        f"- (b) public sample publisher (json.dumps + one PutRecord per row, partition key \"default\"): "
        f"{b:,.0f} rows/s (first {b_rows} rows)",
        f"- (c) `mysql2dynamo stream` into kinesalite with {args.shards} shards: {c:,.0f} rows/s ({c_rows} changes "
        f"in {metrics.kinesis_records:,} Kinesis records: the changes of a call that go to one shard travel in one "
        "KPL-format aggregate, cdc/aggregate.py)",
        f"- (d) the same stream with a client that acknowledges at once: {d:,.0f} rows/s ({d / a:.2f}x (a)): "
        "reading, decoding and building envelopes; the difference to (c) is time spent in PutRecords "
        "(botocore in our process, kinesalite in its own).",
        f"- (e) our reader alone (BinlogSource: rows decoded by the compiled decoder, Changes, no envelopes): "
        f"{e:,.0f} rows/s ({e / a:.2f}x (a)).",
        f"- CPU per row change: (a) {a_cpu / a_rows * 1e6:.0f} µs; (c) {c_cpu / c_rows * 1e6:.0f} µs in our process "
        f"(reading, decoding, envelopes, botocore) and {k_cpu / c_rows * 1e6:.0f} µs in kinesalite's. Kinesalite is "
        "one Node process that takes every record through its own work (hash key, sequence number, a batch "
        "write); when that is more than ours, it sets (c)'s pace, as it did at one record per change (123 µs "
        "of its CPU per change, and (c) 0.57x (a), on 2026-11-30 before aggregation).",
        *peer_line,
    ], smoke=args.smoke)
    print(line)


if __name__ == "__main__":
    main()
