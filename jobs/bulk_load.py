"""Phase 3, the bulk load: snapshot Parquet -> key mapping (native Spark expressions) -> DynamoDB.

    spark-submit [--jars ...] jobs/bulk_load.py --manifest s3://bucket/snap --mapping s3://bucket/map.yaml \\
        [--sink emr-connector|dynamodb|s3-import] [--max-wcu N | --max-items-per-second N] ...
    mysql2dynamo local submit jobs/bulk_load.py ...     # the same, on local Spark with the Maven jars
    mysql2dynamo load ...                                # in-process local Spark, or print the EMR step

Every item carries the `ver` of the snapshot file its row came from (the version attribute,
`_ver` by default). Into an empty table the writes are plain puts (the connector and
BatchWriteItem cannot be conditional), so **the first load must finish before the replay
starts** — from the manifest's binlog position; its guarded writes then supersede the loaded
items where the stream is newer. A re-load into a table that already holds items (a restarted or
partial load, possibly while the replay runs) is guarded like the replay's writes — an item only
replaces an absent or older one — with the `dynamodb` sink; the `emr-connector` sink cannot write
conditionally and refuses such a table.

Output: progress lines on stderr, the summary as one JSON line on stdout (and at --summary),
refused rows at --rejects (JSON lines: source, rule, target, reason, message, source_key).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from mysql2dynamo.ground.log import say
from mysql2dynamo.ground.options import add_arguments, as_arguments, from_values, option_values, setting
from mysql2dynamo.jobs.session import on_emr, spark_url
from mysql2dynamo.jobs.sinks import SINKS
from mysql2dynamo.jobs.targets import LOADING_TAG, loads_below_floor, tag_tables


class LoadError(RuntimeError):
    pass


@dataclass
class LoadOptions:
    """The load's options: the one definition behind `bulk_load.py`'s arguments, `mysql2dynamo load`'s
    flags, the config's `load:` section and the EMR step's job arguments."""

    manifest: str = setting(help="Snapshot folder or manifest.json (local or s3://).")
    mapping: str = setting(help="Mapping / config YAML with `tables:` (local or s3://).")
    sink: str = setting("emr-connector", "How items are written.", choices=SINKS)
    tables: list[str] | None = setting(None, "db.table,... (default: every source of the mapping).")
    max_wcu: float | None = setting(None, "Write budget of the whole job in WCU/s.")
    max_items_per_second: float | None = setting(None, "Write budget of the whole job in items/s.")
    write_tasks: int | None = setting(None, "Parallel write tasks (default: the cluster's task slots).")
    write_percent: float = setting(1.0, "Without a budget: share of a provisioned table's WCU (emr-connector).")
    threads: int = setting(4, "dynamodb sink: batches in flight per task.")
    endpoint: str | None = setting(None, "DynamoDB endpoint URL (default: AWS_ENDPOINT_URL_DYNAMODB or AWS).")
    region: str | None = setting(None, "AWS region of the target tables.")
    rejects: str | None = setting(None, "Write refused rows here (JSON lines; local or s3://).")
    summary: str | None = setting(None, "Also write the summary JSON here (local or s3://).")
    on_collision: str = setting("report", "Two rows with one target key: report them, or fail.",
                                choices=("report", "fail"))
    import_s3: str | None = setting(None, "s3-import: s3://bucket/prefix for the DynamoDB JSON files.")
    table_definition: str | None = setting(None, "s3-import: JSON of extra TableCreationParameters "
                                                 "(BillingMode, GlobalSecondaryIndexes, ...), optionally keyed by "
                                                 "target table.")
    fs_scheme: str | None = setting(None, "How Spark reads s3:// (default: s3 on EMR, else s3a).",
                                    choices=("s3", "s3a"))
    progress_interval: float = setting(10.0, "Seconds between progress lines.")
    examples: int = 10
    client_factory: str | None = None  # dynamodb sink: module:function(endpoint, region) (tests)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_wcu is not None and self.max_items_per_second is not None:
            raise ValueError("give max_wcu or max_items_per_second, not both")

    def budget(self):
        from mysql2dynamo.jobs.rate import Budget

        return Budget(items_per_second=self.max_items_per_second, wcu_per_second=self.max_wcu)




def mapped_frame(spark, manifest, checked, sources: list[str], scheme: str):
    """One DataFrame of every (row, rule) of `sources`: the keymap output columns plus `_source`
    and `_source_key` (the row's primary key as JSON, for reject and collision examples)."""
    from functools import reduce

    from pyspark.sql import functions as F

    from mysql2dynamo.cdc.snapshot.spark import VER_COLUMN, read_table
    from mysql2dynamo.keymap.compile_spark import OUTPUT_COLUMNS, compile_spark, quote

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


def reload_guards(client, checked, sink: str, can_guard: bool) -> dict:
    """A `Guard` for each target table that already holds items (a re-load: the replay may have written
    newer versions there); LoadError when the sink cannot write conditionally."""
    from mysql2dynamo.jobs.sinks.base import Guard

    keys = {cr.rule.target: cr.keys[0].name for cr in checked.rules}
    held = [t for t in keys if client.scan(TableName=t, Limit=1, Select="COUNT")["Count"]]
    if held and not can_guard:
        raise LoadError(f"target table(s) {', '.join(held)} already hold items: a re-load with --sink {sink} "
                        "would overwrite them unconditionally and roll back changes the replay applied. Re-load with "
                        "--sink dynamodb (each item only replaces an absent or older one, by the version attribute), "
                        "or into new, empty tables")
    return {t: Guard(keys[t], checked.mapping.version_attribute) for t in held}


def run_load(spark, opts: LoadOptions, say: Callable[[str], None] = say) -> dict:
    """Run the whole load in `spark`; returns the summary (also written to opts.summary)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from mysql2dynamo.cdc.snapshot import load_manifest
    from mysql2dynamo.ground.files import read_text, write_text
    from mysql2dynamo.jobs import load_report as report
    from mysql2dynamo.jobs.sinks import make_sink
    from mysql2dynamo.jobs.sinks.base import WriteJob
    from mysql2dynamo.jobs.sinks.dynamodb import make_client
    from mysql2dynamo.jobs.spark_progress import SparkProgress
    from mysql2dynamo.keymap.checker import check
    from mysql2dynamo.keymap.spec import mapping_from_config

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
    mapping = mapping_from_config(read_text(opts.mapping), opts.mapping)
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
    guards = {}  # target -> Guard, for the tables that already hold items
    loading: list[str] = []  # tagged with the snapshot's ver while it loads: tombstone cleanup stays below it
    if not sink.creates_table:
        client = make_client(opts.endpoint, opts.region)
        check_targets(client, checked)
        guards = reload_guards(client, checked, opts.sink, sink.guards)
        loading = sorted({cr.rule.target for cr in checked.rules})
        tag_tables(client, loading, LOADING_TAG, str(manifest.ver))  # before the floor is read: see tombstone_floor
        below = loads_below_floor(client, loading, manifest.ver)
        if below:
            tag_tables(client, loading, LOADING_TAG, None)
            raise LoadError(f"the snapshot {opts.manifest} (ver {manifest.ver}) is older than the tombstones already "
                            f"removed from {', '.join(below)}: loading it would bring back rows deleted since. Take a "
                            "new snapshot (`mysql2dynamo snapshot`) and load that")
    rows_in = {s: manifest.table(s).rows for s in sources}
    say(f"load: {sum(rows_in.values()):,} rows of {len(sources)} tables from {opts.manifest} "
        f"(ver {manifest.ver}) via {opts.sink}, budget {budget.describe()}")

    mapped = None
    try:
        mapped = mapped_frame(spark, manifest, checked, sources, scheme).persist(StorageLevel.MEMORY_AND_DISK)
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
            job = WriteJob(target, tasks, budget, wcu / n if n else 1.0, checked, scheme, say, guards.get(target))
            with SparkProgress(spark, label, n, opts.progress_interval):
                stats = sink.write(part, job)
            secs = time.monotonic() - t0
            targets[target] = {"items": n, "wcu_estimated": wcu, "bytes": counts.bytes_by_target[target],
                               "seconds": round(secs, 3), "items_per_second": round(n / secs, 1) if secs else None,
                               "wcu_per_second": round(wcu / secs, 1) if secs else None, **stats}
            say(f"{label}: {n:,} items in {secs:.1f}s ({n / secs if secs else 0:,.0f} items/s)")
        write_seconds = time.monotonic() - write_started
    finally:
        if mapped is not None:
            mapped.unpersist()
        if loading:
            tag_tables(client, loading, LOADING_TAG, None)

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
        write_text(opts.summary, json.dumps(summary, indent=2))
    return summary


# --- command line ---------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bulk_load.py", description=__doc__.split("\n\n")[0])
    add_arguments(p, LoadOptions)
    return p


def options_from_args(argv: list[str]) -> LoadOptions:
    return from_values(LoadOptions, vars(parser().parse_args(argv)))


def job_args(load: dict[str, Any] | LoadOptions) -> list[str]:
    """The arguments of this job for a `load:` section or LoadOptions (unknown names are an error)."""
    return as_arguments(LoadOptions, option_values(load) if isinstance(load, LoadOptions) else load)


def main(argv: list[str] | None = None) -> int:
    from pyspark.sql import SparkSession

    try:
        opts = options_from_args(sys.argv[1:] if argv is None else argv)
    except ValueError as e:
        parser().error(str(e))
    spark = SparkSession.builder.appName("mysql2dynamo-load").getOrCreate()
    try:
        summary = run_load(spark, opts)
    except LoadError as e:
        say(f"load failed: {e}")
        return 2
    finally:
        spark.stop()
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
