"""Benchmark: the bulk load's sinks vs a bare multi-process boto3 BatchWriteItem loader of the same
items, into the local DynamoDB (dynalite), in one run; plus budgeted runs (achieved rate vs budget; not in `--smoke`).

The sample shop (~200,000 rows over customers, orders, order_items) is snapshotted to the local S3
once (database `bench_load`, kept for later runs). Items per sink are the same (the test mapping of
tests/load). The bare loader gets the exact item texts the Spark rules made and writes them with N
processes x BatchWriteItem (retrying UnprocessedItems): the ceiling of this machine's DynamoDB
server. A sink's rate is its write phase (items / seconds of the write; the mapping, counts and
collision check before it are reported separately as `seconds`). s3-import writes its files to
the local S3 and imports them into moto's DynamoDB (dynalite has no ImportTable): it is reported,
not compared with the ceiling (a different server).

Prints as its LAST line: BENCH load ratio=<best sink / bare loader> ...
and writes the `## load` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import tempfile
import time
import uuid

import boto3

from bench.report import arguments, bench_line, write_section
from mysql2dynamo.local.config import StackConfig

DB = "bench_load"
TABLES = ("customers", "orders", "order_items")


def _bare_worker(args) -> int:
    path, start, stop, table, endpoint = args
    from mysql2dynamo.ground.dynamo_json import to_client_item

    ddb = boto3.client("dynamodb", endpoint_url=endpoint)
    with open(path) as f:
        lines = f.read().splitlines()[start:stop]
    n = 0
    for i in range(0, len(lines), 25):
        pending = [{"PutRequest": {"Item": to_client_item(t)}} for t in lines[i:i + 25]]
        while pending:
            resp = ddb.batch_write_item(RequestItems={table: pending})
            pending = (resp.get("UnprocessedItems") or {}).get(table) or []
        n += min(25, len(lines) - i)
    return n


def bare_loader(path: str, count: int, table: str, endpoint: str, procs: int) -> float:
    step = (count + procs - 1) // procs
    jobs = [(path, i * step, min(count, (i + 1) * step), table, endpoint) for i in range(procs)]
    ctx = mp.get_context("spawn")
    with ctx.Pool(procs) as pool:
        pool.map(_bare_worker, [(path, 0, 0, table, endpoint)] * procs)  # start the processes first
        t0 = time.monotonic()
        written = sum(pool.map(_bare_worker, jobs))
        secs = time.monotonic() - t0
    assert written == count, (written, count)
    return secs


def ensure_snapshot(cfg: StackConfig, customers: int, bucket: str) -> str:
    from mysql2dynamo.cdc.snapshot.run import run_snapshot
    from mysql2dynamo.sample.create import create_sample

    s3 = cfg.client("s3")
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    url = f"s3://{bucket}/snap-{customers}"
    try:
        s3.head_object(Bucket=bucket, Key=f"snap-{customers}/manifest.json")
        return url
    except Exception:  # noqa: BLE001 - not there yet
        pass
    print(f"creating {customers} sample customers and a snapshot at {url}", flush=True)
    create_sample(cfg.mysql_url, DB, customers, seed=11)
    run_snapshot(cfg.cdc_mysql_url, [f"{DB}.{t}" for t in TABLES], url)
    return url


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=25_000, help="~8 rows per customer over the 3 tables")
    ap.add_argument("--procs", type=int, default=4, help="bare loader processes")
    ap.add_argument("--budget", type=float, default=2000.0, help="items/s of the budgeted runs")
    args = arguments(ap, {"customers": 40, "procs": 2})

    cfg = StackConfig()
    os.environ.update(cfg.env())
    from pyspark.sql import functions as F

    from mysql2dynamo.jobs.bulk_load import LoadOptions, mapped_frame, run_load
    from mysql2dynamo.jobs.session import local_spark
    from mysql2dynamo.jobs.targets import create_table
    from mysql2dynamo.keymap.checker import check
    from mysql2dynamo.keymap.spec import load_mapping
    from mysql2dynamo.sample.mappings import mapping_text

    ddb = cfg.client("dynamodb")
    endpoint = cfg.url(cfg.dynamodb_port)
    snap = ensure_snapshot(cfg, args.customers, "bench-load")
    spark = local_spark("bench-load", "local[2]")
    work = tempfile.mkdtemp(prefix="bench-load-")
    results: dict[str, dict] = {}
    tables: list[str] = []
    try:
        # the exact items the Spark rules make, for the bare loader
        from mysql2dynamo.cdc.snapshot import load_manifest

        m = load_manifest(snap)
        probe = f"bench_{uuid.uuid4().hex[:6]}"
        mapping = load_mapping(mapping_text(DB, probe))
        checked = check(mapping, {s: m.table(s).schema for s in mapping.sources})
        items = mapped_frame(spark, m, checked, mapping.sources, "s3a").where(F.col("_item").isNotNull())
        texts = [r[0] for r in items.select("_item").collect()]
        rows = sum(m.table(s).rows for s in mapping.sources)
        path = os.path.join(work, "items.jsonl")
        with open(path, "w") as f:
            f.write("\n".join(texts) + "\n")
        n = len(texts)
        del texts
        print(f"{rows:,} rows -> {n:,} items", flush=True)

        bare_table = f"bench_bare_{uuid.uuid4().hex[:6]}"
        create_table(ddb, bare_table)
        tables.append(bare_table)
        bare_s = bare_loader(path, n, bare_table, endpoint, args.procs)
        bare_rate = n / bare_s
        print(f"bare loader ({args.procs} processes): {n:,} items in {bare_s:.1f}s = {bare_rate:,.0f} items/s",
              flush=True)

        def run(sink: str, tag: str, **kw) -> dict:
            table = f"bench_{tag}_{uuid.uuid4().hex[:6]}"
            mpath = os.path.join(work, f"{tag}.yaml")
            with open(mpath, "w") as f:
                f.write(mapping_text(DB, table))
            if sink != "s3-import":
                create_table(ddb, table)
                tables.append(table)
            s = run_load(spark, LoadOptions(manifest=snap, mapping=mpath, sink=sink, progress_interval=0, **kw),
                         say=lambda msg: None)
            t = s["targets"][table]
            out = {"items": t["items"], "write_s": t["seconds"], "items_s": t["items"] / t["seconds"],
                   "wcu_s": t["wcu_estimated"] / t["seconds"], "total_s": s["seconds"]}
            print(f"{tag}: {json.dumps({k: round(v, 1) for k, v in out.items()})}", flush=True)
            return out

        results["dynamodb"] = run("dynamodb", "dynamodb", threads=4)
        results["emr_connector"] = run("emr-connector", "connector")
        bucket = "bench-load"
        results["s3_import"] = run("s3-import", "s3import", import_s3=f"s3://{bucket}/import-{uuid.uuid4().hex[:6]}",
                                   endpoint=cfg.url(cfg.moto_port))
        if not args.smoke:  # the same `run` as above, with options tests/load/test_rate_and_cli.py covers
            customers = [f"{DB}.customers"]
            results["budget_dynamodb"] = run("dynamodb", "budgetddb", tables=customers,
                                             max_items_per_second=args.budget)
            results["budget_connector"] = run("emr-connector", "budgetconn", tables=customers,
                                              max_items_per_second=args.budget)
    finally:
        spark.stop()
        for t in tables:
            try:
                ddb.delete_table(TableName=t)
            except Exception:  # noqa: BLE001
                pass

    best_name = max(("dynamodb", "emr_connector"), key=lambda k: results[k]["items_s"])
    best = results[best_name]["items_s"]
    ratio = best / bare_rate
    figures = {
        "best": best_name, "bare_items_s": f"{bare_rate:.0f}",
        "dynamodb_items_s": f"{results['dynamodb']['items_s']:.0f}",
        "connector_items_s": f"{results['emr_connector']['items_s']:.0f}",
        "s3_import_items_s": f"{results['s3_import']['items_s']:.0f}",
        "items": n, "rows": rows,
    }
    budgeted = []
    if "budget_dynamodb" in results:
        bd, bc = results["budget_dynamodb"], results["budget_connector"]
        figures.update({
            "budget_items_s": f"{args.budget:.0f}",
            "budget_dynamodb_achieved": f"{bd['items_s']:.0f}({bd['items_s'] / args.budget:.2f}x)",
            "budget_connector_achieved": f"{bc['items_s']:.0f}({bc['items_s'] / args.budget:.2f}x)"})
        budgeted = [f"- budgeted runs (customers only, budget {args.budget:.0f} items/s for the whole job): dynamodb "
                    f"sink {bd['items_s']:,.0f} items/s, emr-connector {bc['items_s']:,.0f} items/s."]
    line = bench_line("load", ratio, figures)
    details = [
        f"- {rows:,} sample rows -> {n:,} items (test mapping of tests/load: 2 rules on customers, orders with "
        "`where`, order_items), local[2] Spark, dynalite, all on one 2-core machine.",
        f"- bare loader: {args.procs} processes x boto3 BatchWriteItem of the same item texts: "
        f"{bare_rate:,.0f} items/s ({bare_s:.1f} s).",
        *[f"- {k}: {v['items']:,} items, write {v['write_s']:.1f} s = {v['items_s']:,.0f} items/s "
          f"({v['wcu_s']:,.0f} WCU/s); whole job {v['total_s']:.1f} s" for k, v in results.items()],
        *budgeted,
        "- s3-import goes to moto (S3 files + ImportTable), not dynalite: not comparable with the ceiling.",
    ]
    write_section("load", line, details, smoke=args.smoke)
    print("\n".join(details))
    print(line)


if __name__ == "__main__":
    main()
