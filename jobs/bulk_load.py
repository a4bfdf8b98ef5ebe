"""Phase 3, the bulk load: snapshot Parquet -> key mapping (native Spark expressions) -> DynamoDB.

    spark-submit [--jars ...] jobs/bulk_load.py --manifest s3://bucket/snap --mapping s3://bucket/map.yaml \\
        [--sink emr-connector|dynamodb|s3-import] [--max-wcu N | --max-items-per-second N] ...
    mysql2dynamo local submit jobs/bulk_load.py ...     # the same, on local Spark with the Maven jars
    mysql2dynamo load ...                                # in-process local Spark, or print the EMR step

Every item carries the `ver` of the snapshot file its row came from (the version attribute,
`_ver` by default). The writes are plain puts (the connector and BatchWriteItem cannot be
conditional), so **the replay must start after the load has finished** — from the manifest's
binlog position; its guarded writes then supersede the loaded items where the stream is newer.

Output: progress lines on stderr, the summary as one JSON line on stdout (and at --summary),
refused rows at --rejects (JSON lines: source, rule, target, reason, message, source_key).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field, replace

from mysql2dynamo.jobs.session import on_emr, spark_url
from mysql2dynamo.jobs.sinks import SINKS


class LoadError(RuntimeError):
    pass


@dataclass
class LoadOptions:
    manifest: str
    mapping: str
    sink: str = "emr-connector"
    tables: list[str] | None = None  # default: every source of the mapping
    max_wcu: float | None = None
    max_items_per_second: float | None = None
    write_tasks: int | None = None  # default: the task slots of the cluster
    write_percent: float = 1.0  # without a budget, of a provisioned table's WCU (emr-connector)
    threads: int = 4  # dynamodb sink: batches in flight per task
    endpoint: str | None = None  # DynamoDB endpoint (default: boto3's AWS_ENDPOINT_URL_DYNAMODB / AWS)
    region: str | None = None
    rejects: str | None = None  # where the rejects dataset goes (JSON lines); none: only counted
    summary: str | None = None
    on_collision: str = "report"  # report | fail
    import_s3: str | None = None  # s3-import: s3://bucket/prefix for the DynamoDB JSON files
    table_definition: str | None = None  # s3-import: JSON with BillingMode, GlobalSecondaryIndexes, ...
    fs_scheme: str | None = None  # s3a (local) / s3 (EMRFS); default: s3 on EMR, else s3a
    progress_interval: float = 10.0
    examples: int = 10
    client_factory: str | None = None  # dynamodb sink: module:function(endpoint, region) (tests)
    extra: dict = field(default_factory=dict)

    def budget(self):
        from mysql2dynamo.jobs.rate import Budget

        return Budget(items_per_second=self.max_items_per_second, wcu_per_second=self.max_wcu)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load_mapping(url: str):
    from mysql2dynamo.jobs.load_report import read_text
    from mysql2dynamo.keymap.spec import load_mapping as parse

    return parse(read_text(url), url)


def mapped_frame(spark, manifest, checked, sources: list[str], scheme: str):
    """One DataFrame of every (row, rule) of `sources`: the keymap output columns plus `_source`
    and `_source_key` (the row's primary key as JSON, for reject and collision examples)."""
    from functools import reduce

    from mysql2dynamo.cdc.snapshot.spark import VER_COLUMN, read_table
    from mysql2dynamo.keymap.compile_spark import OUTPUT_COLUMNS, compile_spark, quote
    from pyspark.sql import functions as F

    frames = []
    for source in sources:
        df = read_table(spark, manifest, source, scheme=scheme, with_ver=True)
        pk = list(manifest.table(source).schema.primary_key)
        out = compile_spark(checked, source).apply(df, version=F.col(VER_COLUMN), keep=pk)
        key = F.to_json(F.struct(*[F.col(quote(c)) for c in pk])) if pk else F.lit("{}")
        frames.append(out.select(F.lit(source).alias("_source"), key.alias("_source_key"),
                                 *[F.col(c) for c in OUTPUT_COLUMNS]))
    return reduce(lambda a, b: a.unionByName(b), frames)


def check_targets(client, checked) -> None:
    """Fail before Spark does any work when DynamoDB would refuse the items: a missing target table,
    a table key that is not the items' key, a GSI key attribute of another type."""
    from mysql2dynamo.jobs.targets import describe_target, target_problems

    targets = [describe_target(client, name) for name in dict.fromkeys(cr.rule.target for cr in checked.rules)]
    errors, _ = target_problems(checked, targets)
    missing = [t.table for t in targets if not t.exists]
    if missing:
        errors.insert(0, f"target table(s) {', '.join(missing)} do not exist: create them first "
                         "(or load a new table with --sink s3-import)")
    if errors:
        raise LoadError("DynamoDB would refuse the items:\n" + "\n".join(errors))


def run_load(spark, opts: LoadOptions, say=_say) -> dict:
    """Run the whole load in `spark`; returns the summary (also written to opts.summary)."""
    from mysql2dynamo.cdc.snapshot import load_manifest
    from mysql2dynamo.jobs import load_report as report
    from mysql2dynamo.jobs.sinks import make_sink
    from mysql2dynamo.jobs.sinks.base import WriteJob
    from mysql2dynamo.jobs.sinks.dynamodb import make_client
    from mysql2dynamo.keymap.checker import check
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    if opts.sink not in SINKS:
        raise LoadError(f"unknown sink {opts.sink!r}: expected one of {', '.join(SINKS)}")
    if opts.on_collision not in ("report", "fail"):
        raise LoadError("--on-collision must be report or fail")
    try:
        sink = make_sink(opts.sink, opts)
    except ValueError as e:  # an option the sink needs is missing
        raise LoadError(str(e)) from e
    budget = opts.budget()
    started = time.monotonic()
    scheme = opts.fs_scheme or ("s3" if on_emr() else "s3a")

    manifest = load_manifest(opts.manifest)
    mapping = load_mapping(opts.mapping)
    sources = opts.tables or mapping.sources
    missing = [s for s in sources if s not in manifest.table_names]
    if missing:
        raise LoadError(f"{', '.join(missing)} not in the snapshot {opts.manifest} "
                        f"(it holds {', '.join(manifest.table_names)})")
    unmapped = [s for s in sources if s not in mapping.sources]
    if unmapped:
        raise LoadError(f"no mapping rule for {', '.join(unmapped)} in {opts.mapping}")
    mapping = replace(mapping, rules=tuple(r for r in mapping.rules if r.source in sources))
    checked = check(mapping, {s: manifest.table(s).schema for s in sources}).raise_on_errors()
    for w in checked.warnings:
        say(f"mapping {w}")
    if not sink.creates_table:
        check_targets(make_client(opts.endpoint, opts.region), checked)
    rows_in = {s: manifest.table(s).rows for s in sources}
    say(f"load: {sum(rows_in.values()):,} rows of {len(sources)} tables from {opts.manifest} "
        f"(ver {manifest.ver}) via {opts.sink}, budget {budget.describe()}")

    mapped = mapped_frame(spark, manifest, checked, sources, scheme).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts = report.count(mapped)
        dup = report.collisions(mapped, opts.examples)
        rejects = {"total": counts.rejects, "by_reason": counts.rejects_by_reason,
                   "examples": report.reject_examples(mapped, opts.examples) if counts.rejects else [],
                   "path": None}
        if counts.rejects and opts.rejects:
            report.reject_rows(mapped).write.mode("overwrite").json(spark_url(opts.rejects, scheme))
            rejects["path"] = opts.rejects
        if counts.rejects:
            say(f"load: {counts.rejects:,} rows refused by the mapping ({counts.rejects_by_reason}); "
                f"e.g. {rejects['examples'][0]['message']}")
        if dup["keys"]:
            ex = dup["examples"][0]
            say(f"load: {dup['keys']:,} target keys get {dup['rows']:,} source rows (duplicate keys); e.g. "
                f"{ex['target']} {json.dumps(ex['key'])} <- {[s['key'] for s in ex['sources']]}")
            if opts.on_collision == "fail":
                raise LoadError(f"{dup['keys']} duplicate target keys (--on-collision fail); "
                                f"first: {json.dumps(ex)}")

        tasks = opts.write_tasks or spark.sparkContext.defaultParallelism
        items = mapped.where(F.col("_item").isNotNull())
        if dup["keys"]:
            items = report.one_item_per_key(items)
        items = items.select("_target", "_item", "_size")
        targets = {}
        write_started = time.monotonic()
        for target in sorted(counts.items_by_target):
            n = counts.items_by_target[target] - dup["superseded_by_target"].get(target, 0)
            wcu = counts.wcu_by_target[target]  # (with collisions: of every mapped item, an upper bound)
            part = items.where(F.col("_target") == target).repartition(tasks)
            t0 = time.monotonic()
            label = f"load {target} via {opts.sink}"
            job = WriteJob(target, tasks, budget, wcu / n if n else 1.0, checked, scheme, say)
            with report.SparkStageReporter(spark, label, n, tasks, opts.progress_interval):
                stats = sink.write(part, job)
            secs = time.monotonic() - t0
            targets[target] = {"items": n, "wcu_estimated": wcu, "bytes": counts.bytes_by_target[target],
                               "seconds": round(secs, 3), "items_per_second": round(n / secs, 1) if secs else None,
                               "wcu_per_second": round(wcu / secs, 1) if secs else None, **stats}
            say(f"{label}: {n:,} items in {secs:.1f}s ({n / secs if secs else 0:,.0f} items/s)")
        write_seconds = time.monotonic() - write_started
    finally:
        mapped.unpersist()

    seconds = time.monotonic() - started
    items_out = sum(t["items"] for t in targets.values())
    wcu_total = sum(counts.wcu_by_target.values())
    consumed = [t.get("wcu_consumed") for t in targets.values() if t.get("wcu_consumed")]
    summary = {
        "sink": opts.sink,
        "manifest": opts.manifest,
        "snapshot_ver": manifest.ver,
        "rows_in": sum(rows_in.values()),
        "rows_in_by_table": rows_in,
        "items_out": items_out,  # written: one per target key
        "items_mapped": counts.items,
        "filtered": sum(rows_in[r["source"]] - r["items"] - r["rejects"] for r in counts.by_rule),
        "rejects": rejects,
        "collisions": dup,
        "by_rule": counts.by_rule,
        "targets": targets,
        "write_tasks": tasks,
        "budget": budget.as_dict(),
        "wcu_estimated": wcu_total,
        "wcu_consumed": round(sum(consumed), 1) if consumed else None,
        "seconds": round(seconds, 3),
        "write_seconds": round(write_seconds, 3),
        "items_per_second": round(items_out / write_seconds, 1) if write_seconds else None,
        "wcu_per_second": round(wcu_total / write_seconds, 1) if write_seconds else None,
    }
    if opts.summary:
        report.write_text(opts.summary, json.dumps(summary, indent=2))
    return summary


# --- command line ---------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bulk_load.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", required=True, help="snapshot dir or manifest.json (local, s3://)")
    p.add_argument("--mapping", required=True, help="mapping/config YAML with `tables:` (local, s3://)")
    p.add_argument("--sink", choices=SINKS, default="emr-connector")
    p.add_argument("--tables", help="db.table,... (default: every source of the mapping)")
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--max-wcu", type=float, help="write budget of the whole job, WCU/s")
    rate.add_argument("--max-items-per-second", type=float, help="write budget of the whole job, items/s")
    p.add_argument("--write-tasks", type=int, help="parallel write tasks (default: the cluster's task slots)")
    p.add_argument("--write-percent", type=float, default=1.0,
                   help="without a budget: share of a provisioned table's WCU (emr-connector)")
    p.add_argument("--threads", type=int, default=4, help="dynamodb sink: batches in flight per task")
    p.add_argument("--endpoint", help="DynamoDB endpoint URL (default: AWS_ENDPOINT_URL_DYNAMODB or AWS)")
    p.add_argument("--region")
    p.add_argument("--rejects", help="where refused rows go (JSON lines; local or s3://)")
    p.add_argument("--summary", help="also write the summary JSON here (local or s3://)")
    p.add_argument("--on-collision", choices=("report", "fail"), default="report")
    p.add_argument("--import-s3", help="s3-import: s3://bucket/prefix for the DynamoDB JSON files")
    p.add_argument("--table-definition", help="s3-import: JSON of extra TableCreationParameters "
                   "(BillingMode, GlobalSecondaryIndexes, ...), optionally keyed by target table")
    p.add_argument("--fs-scheme", choices=("s3", "s3a"), help="how Spark reads s3:// (default: s3 on EMR, else s3a)")
    p.add_argument("--progress-interval", type=float, default=10.0)
    return p


def options_from_args(argv: list[str]) -> LoadOptions:
    a = parser().parse_args(argv)
    return LoadOptions(
        manifest=a.manifest, mapping=a.mapping, sink=a.sink,
        tables=[t.strip() for t in a.tables.split(",") if t.strip()] if a.tables else None,
        max_wcu=a.max_wcu, max_items_per_second=a.max_items_per_second, write_tasks=a.write_tasks,
        write_percent=a.write_percent, threads=a.threads, endpoint=a.endpoint, region=a.region,
        rejects=a.rejects, summary=a.summary, on_collision=a.on_collision, import_s3=a.import_s3,
        table_definition=a.table_definition, fs_scheme=a.fs_scheme, progress_interval=a.progress_interval)


def main(argv: list[str] | None = None) -> int:
    from pyspark.sql import SparkSession

    opts = options_from_args(sys.argv[1:] if argv is None else argv)
    spark = SparkSession.builder.appName("mysql2dynamo-load").getOrCreate()
    try:
        summary = run_load(spark, opts)
    except LoadError as e:
        _say(f"load failed: {e}")
        return 2
    finally:
        spark.stop()
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
