"""Benchmark: `mysql2dynamo snapshot` (2 worker processes, PK chunks) vs a plain single-cursor
pymysql read into Parquet, and vs mydumper (the dump operators use: same table, same thread count,
`--trx-consistency-only`, SQL text files, its rows counted), on the same 1,000,000-row table in the same run.

Both write the same Parquet (keymap.types.arrow_type / snapshot_value) to a local directory, so the
ratio measures the dump itself. Needs the local stack (`mysql2dynamo local up`). The table is built
once server-side (MariaDB's seq_1_to_N) and kept in database `bench_snapshot` for later runs.

Prints one line last: BENCH snapshot ratio=<ours/plain> vs_mydumper=<ours/mydumper> ours_rows_s=... rows=...
and writes the same figures into the `## snapshot` section of docs/benchmarks.md (bench.report).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench.report import arguments, bench_line, write_section
from mysql2dynamo.cdc.snapshot.options import SnapshotOptions
from mysql2dynamo.cdc.snapshot.raw_connection import choose_driver
from mysql2dynamo.cdc.snapshot.run import run_snapshot
from mysql2dynamo.ground.mysql import MySQLTarget, connect
from mysql2dynamo.keymap.schema import read_table_schema
from mysql2dynamo.keymap.types import arrow_type, snapshot_value
from mysql2dynamo.local.config import StackConfig

DB, TABLE = "bench_snapshot", "orders"
DDL = f"""
CREATE TABLE {DB}.{TABLE} (
  id          BIGINT NOT NULL PRIMARY KEY,
  customer_id BIGINT UNSIGNED NOT NULL,
  status      ENUM('draft','placed','paid','shipped','cancelled') NOT NULL,
  total       DECIMAL(12,2) NOT NULL,
  currency    CHAR(3) NOT NULL,
  created_at  DATETIME(6) NOT NULL,
  note        VARCHAR(64) NULL,
  weight      DOUBLE NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""
FILL = f"""
INSERT INTO {DB}.{TABLE}
SELECT seq, 18446744073709551615 - (seq * 7919 % 1000003),
       ELT(1 + seq % 5, 'draft','placed','paid','shipped','cancelled'),
       (seq * 37 % 1000000) / 100, ELT(1 + seq % 3, 'USD','EUR','JPY'),
       TIMESTAMPADD(MICROSECOND, seq * 104729, '2020-01-01 00:00:00'),
       IF(seq % 4 = 0, NULL, CONCAT('note ', seq, ' ünïcødé')), IF(seq % 10 = 0, NULL, seq / 7)
FROM {DB}.seq_{{lo}}_to_{{hi}}"""
SECTION = "## snapshot"


def ensure_table(url: str, rows: int) -> None:
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {DB}")
        cur.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s",
                    (DB, TABLE))
        if cur.fetchone()[0]:
            cur.execute(f"SELECT COUNT(*) FROM {DB}.{TABLE}")
            if cur.fetchone()[0] == rows:
                conn.close()
                return
            cur.execute(f"DROP TABLE {DB}.{TABLE}")
        cur.execute(DDL)
        for lo in range(0, rows, 250_000):  # in slices: small transactions
            n = min(250_000, rows - lo)
            cur.execute(FILL.format(lo=lo + 1, hi=lo + n))  # MariaDB's SEQUENCE engine
        cur.execute(f"ANALYZE TABLE {DB}.{TABLE}")
        cur.fetchall()
    conn.close()


def plain_dump(url: str, out: Path) -> int:
    """The baseline: one pymysql server-side cursor, the same value conversion, one Parquet file."""
    conn = connect(url, streaming=True)
    schema = read_table_schema(conn, DB, TABLE)
    cols = schema.columns
    types = [arrow_type(c) for c in cols]
    aschema = pa.schema([pa.field(c.name, t) for c, t in zip(cols, types, strict=True)])
    rows = 0
    with conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(f"SELECT * FROM {DB}.{TABLE}")
        with pq.ParquetWriter(out, aschema, compression="zstd") as w:
            while batch := cur.fetchmany(100_000):
                columns = list(zip(*batch, strict=True))
                w.write_table(pa.Table.from_arrays(
                    [pa.array([snapshot_value(c, v) for v in vals], type=t)
                     for c, t, vals in zip(cols, types, columns, strict=True)], schema=aschema))
                rows += len(batch)
    conn.close()
    return rows


def mydumper_dump(url: str, out: Path, threads: int, chunk_rows: int, rows: int) -> None:
    """The operators' reference: mydumper (Debian's package, installed by `make setup`), exactly the
    bench table. Fails when its files do not hold all `rows` rows: a baseline that dumped nothing
    (mydumper 0.10 with `--database` and `--tables-list db.table` writes only `metadata`) must never
    print a figure."""
    target = MySQLTarget.parse(url)
    subprocess.run(["mydumper", "--host", target.host, "--port", str(target.port), "--user", target.user,
                    "--database", DB, "--tables-list", TABLE, "--threads", str(threads),
                    "--rows", str(chunk_rows), "--trx-consistency-only", "--no-schemas", "--outputdir", str(out)],
                   check=True, capture_output=True, env={**os.environ, "MYSQL_PWD": target.password})
    files = sorted(out.glob(f"{DB}.{TABLE}.*sql"))
    dumped = sum(_dump_rows(f) for f in files)
    if dumped != rows:
        raise SystemExit(f"mydumper baseline broken: its {len(files)} data files in {out} hold {dumped:,} rows of "
                         f"{DB}.{TABLE}, not {rows:,}: no figure is printed")


def _dump_rows(path: Path) -> int:
    """Rows in one mydumper data file: each row is a line of an extended INSERT starting with '('
    (mydumper escapes newlines inside values, so no value starts a line)."""
    with open(path, "rb") as f:
        return sum(1 for line in f if line.startswith(b"("))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--mysql-url", default=os.environ.get("M2D_MYSQL_URL") or StackConfig().mysql_url)
    args = arguments(ap, {"rows": 5000})
    ensure_table(args.mysql_url, args.rows)
    tmp = Path(tempfile.mkdtemp(prefix="m2d-snapbench-"))
    try:
        conn = connect(args.mysql_url)
        with conn.cursor() as cur:  # warm the buffer pool once so neither run pays for the disk
            cur.execute(f"SELECT COUNT(*), SUM(LENGTH(note)) FROM {DB}.{TABLE}")
        conn.close()
        load = os.getloadavg()[0]
        t0 = time.monotonic()
        plain_rows = plain_dump(args.mysql_url, tmp / "plain.parquet")
        plain_s = time.monotonic() - t0
        chunk_rows = max(args.rows // 8, 1000)
        t0 = time.monotonic()
        mydumper_dump(args.mysql_url, tmp / "mydumper", args.workers, chunk_rows, args.rows)
        mydumper_s = time.monotonic() - t0
        t0 = time.monotonic()
        doc = run_snapshot(args.mysql_url, [f"{DB}.{TABLE}"], str(tmp / "ours"),
                           SnapshotOptions(workers=args.workers, chunk_rows=chunk_rows, progress_interval=30),
                           say=print)
        ours_s = time.monotonic() - t0
        ours_rows = doc["tables"][f"{DB}.{TABLE}"]["rows"]
        assert ours_rows == plain_rows == args.rows, (ours_rows, plain_rows, args.rows)
        plain_rs, ours_rs, mydumper_rs = plain_rows / plain_s, ours_rows / ours_s, args.rows / mydumper_s
        driver = choose_driver(MySQLTarget.parse(args.mysql_url))
        line = bench_line("snapshot", ours_rs / plain_rs, {
            "vs_mydumper": f"{ours_rs / mydumper_rs:.2f}", "ours_rows_s": round(ours_rs),
            "plain_rows_s": round(plain_rs), "mydumper_rows_s": round(mydumper_rs), "rows": args.rows,
            "workers": args.workers, "driver": driver})
        chunks = len(doc["tables"][f"{DB}.{TABLE}"]["chunks"])
        write_section("snapshot", line, [
            f"`python -m bench.snapshot_bench`: {args.rows:,} rows of an 8-column table (BIGINT, BIGINT UNSIGNED, "
            "ENUM, DECIMAL(12,2), CHAR, DATETIME(6), VARCHAR, DOUBLE), MariaDB 10.11 on the same host, local "
            "Parquet destination, zstd.",
            "",
            "| dump | seconds | rows/s |",
            "|---|---|---|",
            f"| plain: one pymysql server-side cursor into Parquet | {plain_s:.1f} | {plain_rs:,.0f} |",
            f"| mysql2dynamo snapshot, {args.workers} workers, {chunks} chunks (incl. consistent point, manifest, "
            f"checksums) | {ours_s:.1f} | {ours_rs:,.0f} |",
            f"| mydumper 0.10, {args.workers} threads, `--trx-consistency-only`, {chunk_rows:,}-row chunks (SQL "
            f"text, no Parquet) | {mydumper_s:.1f} | {mydumper_rs:,.0f} |",
            "",
            f"1-minute load average {load:.1f} at the start: the 2 cores are shared with MariaDB itself (and "
            f"whatever else runs). The workers read through {driver} and parse the text protocol column-wise "
            "with Arrow; the plain read uses pymysql's decoders. mydumper's files are counted: the bench fails "
            "unless they hold every row. Where the workers' time goes: docs/snapshot.md.",
        ], smoke=args.smoke)
        print(line)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
