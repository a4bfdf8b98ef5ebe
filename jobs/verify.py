"""Phase 5: prove that DynamoDB equals MySQL under the key mapping (`mysql2dynamo verify`).

1. Source side: a consistent snapshot of the mapped tables (a fresh one, or an existing manifest)
   mapped with the keymap Spark engine, the same select the bulk load runs.
2. Target side: every item of the target tables, read with parallel Scan segments.
3. Both canonicalised (`jobs.canonical`: sorted attributes, canonical numbers and sets, no version
   attribute), then compared coarse to fine: counts and a digest per key bucket; only the buckets
   whose digests differ are joined row by row, giving the exact missing, extra and different keys
   (with the differing attributes).
4. Rows that changed after the snapshot's binlog position (read from the binlog) are reported as
   in flight, not as differences: they are still being replayed. At cutover, with writes fenced,
   there are none.

Tombstones and items orphaned by key changes are extra items unless `ignore_tombstones`. Usable as
`spark-submit jobs/verify.py --config C.yaml ...` and through `mysql2dynamo verify`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from mysql2dynamo.ground.log import say
from mysql2dynamo.ground.options import add_arguments, from_values, setting
from mysql2dynamo.jobs.canonical import canonical_item, differing_attributes
from mysql2dynamo.jobs.dynamodb_scan import scan_tables
from mysql2dynamo.keymap.checked import CheckedMapping
from mysql2dynamo.keymap.checker import check
from mysql2dynamo.keymap.spec import Mapping, mapping_from_config

DELETED = "_deleted"
TTL = "_ttl"


@dataclass(frozen=True)
class VerifyOptions:
    """How verify compares: the one definition behind `verify.py`'s arguments and the CLI's flags."""

    examples: int = setting(10, "Differences shown per kind.")
    buckets: int = setting(256, "Digest buckets compared before joining row by row.")
    segments: int = setting(8, "Parallel Scan segments per target table.")
    ignore_tombstones: bool = setting(False, "Do not count delete tombstones as extra items.")


@dataclass
class VerifyReport:
    source_rows: int = 0
    source_items: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    target_items: int = 0
    tombstones: int = 0
    buckets: int = 0
    differing_buckets: int = 0
    missing: int = 0
    extra: int = 0
    different: int = 0
    in_flight: int = 0
    snapshot: str | None = None
    position: str | None = None  # the snapshot's binlog position (the cutover's baseline)
    in_flight_keys: list[dict] = field(default_factory=list)  # {"table": db.table, "key": {pk column: value}}
    seconds: float = 0.0
    examples: dict[str, list] = field(default_factory=lambda: {"missing": [], "extra": [], "different": []})

    @property
    def clean(self) -> bool:
        return self.missing == 0 and self.extra == 0 and self.different == 0

    def as_dict(self) -> dict:
        return {**self.__dict__, "clean": self.clean}

    def text(self) -> str:
        lines = [
            f"source: {self.source_rows} rows -> {self.source_items} items"
            + (f" ({sum(self.rejected.values())} rejected: {self.rejected})" if self.rejected else ""),
            f"target: {self.target_items} items ({self.tombstones} tombstones)",
            f"buckets: {self.differing_buckets} of {self.buckets} differ",
            f"missing {self.missing}, extra {self.extra}, different {self.different}, in flight {self.in_flight}",
        ]
        for kind in ("missing", "extra", "different"):
            for ex in self.examples[kind]:
                lines.append(f"  {kind}: {json.dumps(ex, ensure_ascii=False)}")
        lines.append("VERIFY " + ("CLEAN" if self.clean else "DIFFERENCES FOUND"))
        return "\n".join(lines)


def _source_side(spark, manifest, checked: CheckedMapping, report: VerifyReport):
    from pyspark.sql import functions as F

    from mysql2dynamo.cdc.snapshot.spark import read_table
    from mysql2dynamo.keymap.compile_spark import compile_spark

    frames = []
    for source in checked.mapping.sources:
        table = manifest.table(source)
        pk = list(table.schema.primary_key)
        df = read_table(spark, manifest, source, with_ver=False)
        out = compile_spark(checked, source).apply(df, keep=pk)
        frames.append(out.select("_target", "_key", "_item", "_reject_reason",
                                 F.lit(source).alias("_source"),
                                 F.to_json(F.struct(*[F.col(f"`{c}`") for c in pk])).alias("_src")))
        report.source_rows += table.rows
    mapped = frames[0]
    for f in frames[1:]:
        mapped = mapped.unionByName(f)
    mapped = mapped.cache()
    report.rejected = {r["_reject_reason"]: r["count"] for r in
                       mapped.where("_reject_reason IS NOT NULL").groupBy("_reject_reason").count().collect()}
    items = mapped.where("_item IS NOT NULL").select("_target", "_key", "_item", "_source", "_src")
    drop = (checked.mapping.version_attribute,)  # a local: the closure ships it to the executors
    canon = items.rdd.map(lambda r: (r._target, canonical_item(json.loads(r._key)),
                                     canonical_item(json.loads(r._item), drop=drop), r._source, r._src))
    return spark.createDataFrame(canon, "_target string, _key string, _item string, _source string, _src string")


def _target_side(spark, tables: list[str], key_names: dict[str, list[str]], segments: int, version: str):
    def canon(row):
        item = json.loads(row._raw)
        key = {k: item[k] for k in key_names[row._target]}
        return (row._target, canonical_item(key), canonical_item(item, drop=(version, DELETED, TTL)),
                DELETED in item)

    rdd = scan_tables(spark, tables, segments).rdd.map(canon)
    return spark.createDataFrame(rdd, "_target string, _key string, _item string, _tombstone boolean")


def compare(spark, source, target, report: VerifyReport, buckets: int, examples: int, ignore_tombstones: bool):
    from pyspark.sql import functions as F

    if ignore_tombstones:
        target = target.where(~F.col("_tombstone"))

    def digests(df):
        return (df.withColumn("_bucket", F.pmod(F.xxhash64("_target", "_key"), F.lit(buckets)))
                .groupBy("_bucket").agg(F.count("*").alias("n"),
                                        F.bit_xor(F.xxhash64("_target", "_key", "_item")).alias("d")))

    source, target = source.cache(), target.cache()
    report.source_items = source.count()
    report.target_items = target.where(~F.col("_tombstone")).count()
    report.tombstones = target.where(F.col("_tombstone")).count()
    report.buckets = buckets
    s, t = digests(source).alias("s"), digests(target).alias("t")
    differing = [r["_bucket"] for r in s.join(t, "_bucket", "full_outer")
                 .where("s.n IS NULL OR t.n IS NULL OR s.n != t.n OR s.d != t.d").select("_bucket").collect()]
    report.differing_buckets = len(differing)
    if not differing:
        return []

    def in_buckets(df):
        return df.where(F.pmod(F.xxhash64("_target", "_key"), F.lit(buckets)).isin(differing))

    joined = in_buckets(source).alias("s").join(in_buckets(target).alias("t"), ["_target", "_key"], "full_outer")
    rows = joined.where("s._item IS NULL OR t._item IS NULL OR s._item != t._item").select(
        "_target", "_key", F.col("s._item").alias("src_item"), F.col("t._item").alias("dst_item"),
        "s._source", "s._src", "t._tombstone").collect()
    return rows


def in_flight_keys(cdc_url: str, manifest, checked: CheckedMapping) -> set[tuple[str, str]]:
    """Item keys touched by changes after the snapshot's binlog position (still being replayed)."""
    from mysql2dynamo.cdc.binlog import BinlogSource, Transaction
    from mysql2dynamo.cdc.server import server_info
    from mysql2dynamo.ground.mysql import MySQLTarget
    from mysql2dynamo.keymap.compile_python import compile_python

    if manifest.binlog is None:
        return set()
    mapper = compile_python(checked)
    target = MySQLTarget.parse(cdc_url)
    conn = target.connect()
    source = BinlogSource(target, checked.mapping.sources, manifest.binlog, server_info(conn), reader_id=54399,
                          blocking=False)
    keys = set()
    try:
        for item in source:
            if not isinstance(item, Transaction):
                continue
            for change in item.changes:
                for image in (change.before, change.after):
                    if image is None:
                        continue
                    for result in mapper.map_row(f"{change.db}.{change.table}", image):
                        if result.key:
                            keys.add((result.target, canonical_item(json.loads(result.key))))
    finally:
        source.close()
        conn.close()
    return keys


def run_verify(spark, mapping: Mapping, manifest, *, cdc_url: str | None = None,
               options: VerifyOptions = VerifyOptions()) -> VerifyReport:
    import boto3

    examples = options.examples
    started = time.monotonic()
    report = VerifyReport(snapshot=manifest.snapshot_id, position=str(manifest.binlog) if manifest.binlog else None)
    checked = check(mapping, {s: manifest.table(s).schema for s in mapping.sources}).raise_on_errors()
    tables = sorted({r.target for r in mapping.rules})
    ddb = boto3.client("dynamodb")
    key_names = {t: [k["AttributeName"] for k in ddb.describe_table(TableName=t)["Table"]["KeySchema"]]
                 for t in tables}
    source = _source_side(spark, manifest, checked, report)
    target = _target_side(spark, tables, key_names, options.segments, mapping.version_attribute)
    rows = compare(spark, source, target, report, options.buckets, examples, options.ignore_tombstones)
    flying = in_flight_keys(cdc_url, manifest, checked) if rows and cdc_url else set()
    for r in rows:
        if (r._target, r._key) in flying:
            report.in_flight += 1
            continue
        key = json.loads(r._key)
        if r.dst_item is None:
            report.missing += 1
            if len(report.examples["missing"]) < examples:
                report.examples["missing"].append({"table": r._target, "key": key, "source": r._source,
                                                   "source_key": json.loads(r._src)})
        elif r.src_item is None:
            report.extra += 1
            if len(report.examples["extra"]) < examples:
                report.examples["extra"].append({"table": r._target, "key": key, "tombstone": bool(r._tombstone)})
        else:
            report.different += 1
            if len(report.examples["different"]) < examples:
                report.examples["different"].append({"table": r._target, "key": key, "source": r._source,
                                                     "source_key": json.loads(r._src),
                                                     "attributes": differing_attributes(r.src_item, r.dst_item)})
    report.seconds = round(time.monotonic() - started, 2)
    return report


def fresh_snapshot(mysql_url: str, mapping: Mapping, dest: str | None = None, say=lambda m: None):
    """A new consistent snapshot of the mapped tables (to `dest`, or a temporary folder)."""
    from mysql2dynamo.cdc.snapshot.manifest import load_manifest
    from mysql2dynamo.cdc.snapshot.run import run_snapshot

    dest = dest or tempfile.mkdtemp(prefix="m2d-verify-")
    run_snapshot(mysql_url, mapping.sources, dest, say=say)
    return load_manifest(dest)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Compare DynamoDB with MySQL under the key mapping.")
    ap.add_argument("--config", required=True, help="mapping config (YAML with tables:; local or s3://)")
    ap.add_argument("--snapshot", help="existing snapshot manifest (path or s3://); default: take a fresh one")
    ap.add_argument("--mysql-url", help="source for a fresh snapshot and the in-flight check")
    ap.add_argument("--report", help="write the JSON report here")
    add_arguments(ap, VerifyOptions)
    args = ap.parse_args(argv)

    from pyspark.sql import SparkSession

    from mysql2dynamo.cdc.snapshot.manifest import load_manifest
    from mysql2dynamo.ground.files import read_text

    mapping = mapping_from_config(read_text(args.config), args.config)
    if args.snapshot:
        manifest = load_manifest(args.snapshot)
    elif args.mysql_url:
        manifest = fresh_snapshot(args.mysql_url, mapping, say=say)
    else:
        ap.error("pass --snapshot or --mysql-url")
    spark = SparkSession.builder.appName("mysql2dynamo-verify").getOrCreate()
    options = from_values(VerifyOptions, vars(args))
    report = run_verify(spark, mapping, manifest, cdc_url=args.mysql_url, options=options)
    print(report.text())
    if args.report:
        Path(args.report).write_text(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    return 0 if report.clean else 1


if __name__ == "__main__":
    sys.exit(main())
