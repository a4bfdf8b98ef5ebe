"""Benchmark: verify against the two reads it cannot beat, in one run on the local stack.

The load bench's sample (~200,000 source rows over customers, orders, order_items; database
`bench_load`, its snapshot kept in the local S3) is loaded into a fresh table with the test
mapping of tests/load, then:

- bare scan: boto3 parallel Scan of the table, one thread per segment (segments = cores), items
  counted: the ceiling for reading the target;
- bare Spark read: the snapshot's Parquet files counted by Spark: the ceiling for reading the source;
- verify: `run_verify` on the same snapshot (no in-flight check: nothing changes), with where its
  time goes (source: read + mapping, target: the Scan into Spark, compare). The two sides run at
  the same time, each timed from their common start: verify's time is the slower side's plus compare.

Prints as its LAST line: BENCH verify ratio=<verify items/s / bare scan items/s> ...
and writes the `## verify` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from bench.load_bench import DB, ensure_snapshot
from bench.report import arguments, bench_line, write_section
from mysql2dynamo.local.config import StackConfig


def bare_scan(cfg: StackConfig, table: str, segments: int) -> tuple[int, float]:
    """Items in `table` and the seconds a parallel Scan took to read them all."""

    def segment(i: int) -> int:
        client, n = cfg.client("dynamodb"), 0
        kw = {"TableName": table, "Segment": i, "TotalSegments": segments, "ConsistentRead": True}
        while True:
            page = client.scan(**kw)
            n += len(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return n
            kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    t0 = time.monotonic()
    with ThreadPoolExecutor(segments) as pool:
        n = sum(pool.map(segment, range(segments)))
    return n, time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--customers", type=int, default=25_000, help="~8 source rows per customer over the 3 tables")
    args = arguments(ap, {"customers": 40})

    cfg = StackConfig()
    os.environ.update(cfg.env())
    from mysql2dynamo.cdc.snapshot import load_manifest
    from mysql2dynamo.cdc.snapshot.spark import read_table
    from mysql2dynamo.jobs.bulk_load import LoadOptions, run_load
    from mysql2dynamo.jobs.session import local_spark
    from mysql2dynamo.jobs.targets import create_table
    from mysql2dynamo.jobs.verify import VerifyOptions, run_verify
    from mysql2dynamo.keymap.spec import load_mapping
    from mysql2dynamo.sample.mappings import mapping_text

    ddb = cfg.client("dynamodb")
    snap = ensure_snapshot(cfg, args.customers, "bench-load")
    manifest = load_manifest(snap)
    t0 = time.monotonic()
    spark = local_spark("bench-verify", "local[2]")
    spark_start = time.monotonic() - t0
    table = f"bench_verify_{uuid.uuid4().hex[:6]}"
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(mapping_text(DB, table))
        mapping = load_mapping(mapping_text(DB, table))
        create_table(ddb, table)
        loaded = run_load(spark, LoadOptions(manifest=snap, mapping=f.name, sink="dynamodb", threads=4,
                                             progress_interval=0), say=lambda m: None)
        os.unlink(f.name)
        print(f"loaded {loaded['items_out']:,} items from {loaded['rows_in']:,} rows", flush=True)

        segments = os.cpu_count() or 2
        scanned, scan_s = bare_scan(cfg, table, segments)
        print(f"bare scan ({segments} segments): {scanned:,} items in {scan_s:.1f}s", flush=True)

        t0 = time.monotonic()
        rows = sum(read_table(spark, manifest, s, with_ver=False).count() for s in mapping.sources)
        read_s = time.monotonic() - t0
        print(f"bare Spark read: {rows:,} rows in {read_s:.1f}s", flush=True)

        report = run_verify(spark, mapping, manifest, options=VerifyOptions(segments=segments))
        print(report.text(), flush=True)
        if report.missing or report.extra or report.different:  # the mapping's rejected rows are not loaded
            raise SystemExit("verify of a faithful load found differences")
    finally:
        spark.stop()
        ddb.delete_table(TableName=table)

    verify_rate, scan_rate = report.target_items / report.seconds, scanned / scan_s
    ratio = verify_rate / scan_rate
    figures = {"verify_items_s": f"{verify_rate:.0f}", "bare_scan_items_s": f"{scan_rate:.0f}",
               "bare_spark_rows_s": f"{rows / read_s:.0f}", "verify_s": report.seconds,
               **{f"{k}_s": v for k, v in report.phase_seconds.items()},
               "items": report.target_items, "rows": report.source_rows, "spark_start_s": round(spark_start, 1)}
    line = bench_line("verify", ratio, figures)
    write_section("verify", line, [
        f"- {report.source_rows:,} source rows -> {report.target_items:,} items (test mapping of tests/load), "
        "loaded into dynalite, local[2] Spark, all on one machine.",
        f"- bare scan: boto3 Scan, {segments} segments in threads: {scanned:,} items in {scan_s:.1f} s.",
        f"- bare Spark read of the snapshot: {rows:,} rows in {read_s:.1f} s.",
        f"- verify: {report.seconds} s in all: " + ", ".join(f"{k} {v} s" for k, v in report.phase_seconds.items())
        + " (source and target read at the same time, each timed from their common start); the Spark session "
        f"started in {spark_start:.1f} s before it (not counted).",
        "- ratio = verify items/s (items / verify seconds) / bare scan items/s.",
    ], smoke=args.smoke)
    print(line)


if __name__ == "__main__":
    main()
