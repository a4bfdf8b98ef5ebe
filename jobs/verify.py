"""Phase 5: prove that DynamoDB equals MySQL under the key mapping (`mysql2dynamo verify`).

1. Source side: a consistent snapshot of the mapped tables (a fresh one, or an existing manifest)
   mapped with the keymap Spark engine, the same select the bulk load runs.
2. Target side: every item of the target tables, read with parallel Scan segments (the pages' bodies
   go to Spark as they came, `jobs.dynamodb_scan`), at the same time as the source side is mapped.
3. Both canonicalised in the JVM (`jobs.canonical`: sorted attributes, canonical numbers and sets, no
   version attribute), then compared coarse to fine: counts and a digest per key bucket; only the buckets
   whose digests differ are joined row by row, giving the exact missing, extra and different keys
   (with the differing attributes).
4. Rows that changed after the snapshot's binlog position (read from the binlog) are in flight:
   their keys are not excused but re-checked against the rows MySQL holds now (`jobs.recheck`,
   a few re-reads while replay catches up); a key still wrong then is missing, extra or different
   when DynamoDB holds the version of its latest change, and pending when the replay had not applied
   that change yet or the key changed while it was read (judged by versions: `jobs.recheck`).

CLEAN means no missing, extra, different or pending item and no rejected row. Pending keys alone
(under live writes) print `NO DIFFERENCES, N KEYS PENDING`: not judged, and not CLEAN; cutover goes
on and compares them under the fence. A fresh snapshot taken for a
verify lives in a temporary folder removed when the run ends (`temporary_snapshot`).

Tombstones and items orphaned by key changes are extra items unless `ignore_tombstones`. Usable as
`spark-submit jobs/verify.py --config C.yaml ...` and through `mysql2dynamo verify`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.ground.log import say
from mysql2dynamo.ground.options import add_arguments, from_values, setting
from mysql2dynamo.jobs.canonical import CANONICAL_CLASS, DELETED, TTL, differing_attributes
from mysql2dynamo.jobs.dynamodb_scan import scan_tables
from mysql2dynamo.keymap.checked import CheckedMapping
from mysql2dynamo.keymap.checker import check
from mysql2dynamo.keymap.schema import TableSchema
from mysql2dynamo.keymap.spec import Mapping, mapping_from_config

if TYPE_CHECKING:
    from pyspark.sql import Column

    from mysql2dynamo.jobs.repair import Divergence


@dataclass(frozen=True)
class VerifyOptions:
    """How verify compares: the one definition behind `verify.py`'s arguments and the CLI's flags."""

    examples: int = setting(10, "Differences shown per kind.")
    buckets: int = setting(256, "Digest buckets compared before joining row by row.")
    segments: int = setting(8, "Parallel Scan segments per target table.")
    ignore_tombstones: bool = setting(False, "Do not count delete tombstones as extra items.")
    repair: bool = setting(False, "Re-sync the keys found missing, extra or different from MySQL's current rows "
                                  "(guarded by the version attribute; stale items become tombstones).")


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
    in_flight: int = 0  # item keys of rows changed after the snapshot, re-checked against the current rows
    in_flight_reads: int = 0  # rounds of that re-check (more than one: replay was catching up)
    pending: int = 0  # in-flight item keys not judged: their latest change was not applied yet, or came while read
    snapshot: str | None = None
    position: str | None = None  # the snapshot's binlog position (cdc.position.BinlogPosition)
    # source rows changed after `position` (read from the binlog): {"table": "db.table", "key": {pk column:
    # value}, "types": {pk column: codec tag}}, values encoded as in the change envelope (cdc.codec)
    in_flight_keys: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    # where the time went: source (snapshot read + mapping, with the rejected rows), target (the Scan),
    # compare (digests and the differing buckets' rows), in_flight (the re-check against MySQL)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    examples: dict[str, list] = field(default_factory=lambda: {"missing": [], "extra": [], "different": [],
                                                               "pending": []})
    repaired: dict | None = None  # what `repair` did (jobs.repair.RepairReport)

    @property
    def divergent(self) -> bool:
        return bool(self.missing or self.extra or self.different or self.rejected)

    @property
    def clean(self) -> bool:
        return not self.divergent and self.pending == 0

    def add(self, kind: str, example: dict, examples: int) -> None:
        """Count one missing, extra, different or pending key, keeping the first `examples` of each kind."""
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.examples[kind]) < examples:
            self.examples[kind].append(example)

    @property
    def verdict(self) -> str:
        return ("DIFFERENCES FOUND" if self.divergent
                else f"NO DIFFERENCES, {self.pending} KEYS PENDING" if self.pending else "CLEAN")

    def as_dict(self) -> dict:
        return {**self.__dict__, "divergent": self.divergent, "clean": self.clean, "verdict": self.verdict}

    def text(self) -> str:
        lines = [
            f"source: {self.source_rows} rows -> {self.source_items} items"
            + (f" ({sum(self.rejected.values())} rejected: {self.rejected})" if self.rejected else ""),
            f"target: {self.target_items} items ({self.tombstones} tombstones)",
            f"buckets: {self.differing_buckets} of {self.buckets} differ",
            f"missing {self.missing}, extra {self.extra}, different {self.different}; in flight {self.in_flight} "
            f"(re-checked against the current rows, {self.in_flight_reads} reads)"
            + (f", {self.pending} pending (their latest change was not applied yet or came while they were read: "
               "not judged; verify again, or cutover compares them under the fence)" if self.pending else ""),
        ]
        if self.phase_seconds:
            lines.append(f"time: {self.seconds} s (" + ", ".join(f"{k.replace('_', ' ')} {v} s"
                                                            for k, v in self.phase_seconds.items()) + ")")
        for kind in ("missing", "extra", "different", "pending"):
            for ex in self.examples[kind]:
                lines.append(f"  {kind}: {json.dumps(ex, ensure_ascii=False)}")
        if self.repaired is not None:
            r = self.repaired
            lines.append(f"repaired at {r['position']}: {r['puts']} items written from the current rows, "
                         f"{r['tombstones']} stale items tombstoned, {r['newer']} left (newer version), "
                         f"{r['left']} tombstones left")
        lines.append(f"VERIFY {self.verdict}")
        return "\n".join(lines)


def _source_side(spark, manifest, checked: CheckedMapping, source: str):
    """One source table's items (canonical, cached) and its rejected rows (source, primary key JSON, reason):
    mapped, canonicalised and cached in one pass over the snapshot."""
    from pyspark.sql import functions as F

    from mysql2dynamo.cdc.snapshot.spark import read_table
    from mysql2dynamo.keymap.compile_spark import compile_spark

    pk = list(manifest.table(source).schema.primary_key)
    df = read_table(spark, manifest, source, with_ver=False)
    out = compile_spark(checked, source).apply(df, keep=pk)
    drop = json.dumps([checked.mapping.version_attribute])
    ok = F.col("_reject_reason").isNull()  # reflect() turns a null result into the text "null"
    frame = out.select("_target", F.when(ok, _canonical("item", "_key", "[]")).alias("_key"),
                       F.when(ok, _canonical("item", "_item", drop)).alias("_item"), "_reject_reason",
                       F.lit(source).alias("_source"),
                       F.to_json(F.struct(*[F.col(f"`{c}`") for c in pk])).alias("_src")).cache()
    rejected = [(source, r._src, r._reject_reason) for r in
                frame.where("_reject_reason IS NOT NULL").select("_src", "_reject_reason").collect()]
    items = frame.where(ok).drop("_reject_reason")
    return items, items.count(), rejected


def _canonical(method: str, column: str, names: str | Column) -> Column:
    """jobs.canonical.canonical_item computed in the JVM (Canonical.item drops the attributes `names`,
    Canonical.keep keeps only them; `names` a JSON array, or a column holding one)."""
    from pyspark.sql import Column
    from pyspark.sql import functions as F

    names = names if isinstance(names, Column) else F.lit(names)
    return F.call_function("reflect", F.lit(CANONICAL_CLASS), F.lit(method), F.col(column), names)


def _target_side(spark, tables: list[str], key_names: dict[str, list[str]], segments: int, version: str):
    """Every item of the target tables (canonical, cached) and the tombstone count (item count, tombstones)."""
    from pyspark.sql import functions as F

    keys = F.create_map(*[x for t in tables for x in (F.lit(t), F.lit(json.dumps(key_names[t])))])
    frame = scan_tables(spark, tables, segments).select(
        "_target", _canonical("keep", "_raw", keys[F.col("_target")]).alias("_key"),
        _canonical("item", "_raw", json.dumps([version, DELETED, TTL])).alias("_item"),
        F.get_json_object("_raw", f"$.{DELETED}").isNotNull().alias("_tombstone")).cache()
    counts = {r["_tombstone"]: r["count"] for r in frame.groupBy("_tombstone").count().collect()}
    return frame, counts.get(False, 0), counts.get(True, 0)


def _read_both_sides(spark, manifest, checked: CheckedMapping, tables: list[str], key_names: dict[str, list[str]],
                     options: VerifyOptions, report: VerifyReport):
    """The source's items and rejected rows, and the target's items, read at the same time: the Scan in one
    thread, each source table mapped in another, so the Scan's waits on DynamoDB overlap Spark's planning
    and mapping. Fills the report's counts and the seconds each side took from the common start."""
    from functools import reduce

    from pyspark.util import inheritable_thread_target

    started = time.monotonic()

    def timed(side: str, f, *args):
        def run():
            out = f(*args)
            return side, time.monotonic() - started, out
        # the caller's job group (SparkProgress) and the session's tags reach the jobs run in the thread
        return inheritable_thread_target(spark)(run)

    sources = checked.mapping.sources
    jobs = [timed("target", _target_side, spark, tables, key_names, options.segments,
                  checked.mapping.version_attribute)]
    jobs += [timed("source", _source_side, spark, manifest, checked, s) for s in sources]
    with ThreadPoolExecutor(len(jobs)) as pool:
        done = [f.result() for f in [pool.submit(j) for j in jobs]]
    frames, rejected = [], []
    for side, seconds, out in sorted(done, key=lambda d: d[0]):  # source first in the report
        report.phase_seconds[side] = round(max(report.phase_seconds.get(side, 0.0), seconds), 2)
        if side == "target":
            target, report.target_items, report.tombstones = out
        else:
            frames.append(out[0])
            report.source_items += out[1]
            rejected += out[2]
    report.source_rows = sum(manifest.table(s).rows for s in sources)
    return reduce(lambda a, b: a.unionByName(b), frames), rejected, target


def compare(spark, source, target, report: VerifyReport, buckets: int, examples: int, ignore_tombstones: bool):
    """The rows of the key buckets whose digests differ (source and target cached, counted in the report)."""
    from pyspark.sql import functions as F

    def digests(df):
        return (df.withColumn("_bucket", F.pmod(F.xxhash64("_target", "_key"), F.lit(buckets)))
                .groupBy("_bucket").agg(F.count("*").alias("n"),
                                        F.bit_xor(F.xxhash64("_target", "_key", "_item")).alias("d")))

    t2 = time.monotonic()
    if ignore_tombstones:
        target = target.where(~F.col("_tombstone"))
    report.buckets = buckets
    s, t = digests(source).alias("s"), digests(target).alias("t")
    differing = [r["_bucket"] for r in s.join(t, "_bucket", "full_outer")
                 .where("s.n IS NULL OR t.n IS NULL OR s.n != t.n OR s.d != t.d").select("_bucket").collect()]
    report.differing_buckets = len(differing)
    if not differing:
        report.phase_seconds["compare"] = round(time.monotonic() - t2, 2)
        return []

    def in_buckets(df):
        return df.where(F.pmod(F.xxhash64("_target", "_key"), F.lit(buckets)).isin(differing))

    joined = in_buckets(source).alias("s").join(in_buckets(target).alias("t"), ["_target", "_key"], "full_outer")
    rows = joined.where("s._item IS NULL OR t._item IS NULL OR s._item != t._item").select(
        "_target", "_key", F.col("s._item").alias("src_item"), F.col("t._item").alias("dst_item"),
        "s._source", "s._src", "t._tombstone").collect()
    report.phase_seconds["compare"] = round(time.monotonic() - t2, 2)
    return rows


def run_verify(spark, mapping: Mapping, manifest, *, cdc_url: str | None = None,
               options: VerifyOptions = VerifyOptions()) -> VerifyReport:
    import boto3

    from mysql2dynamo.jobs.repair import Divergence

    if options.repair and not (cdc_url and manifest.binlog):
        raise ValueError("verify --repair reads the current rows and the binlog: it needs the MySQL URL and a "
                         "snapshot with a binlog position")
    started = time.monotonic()
    report = VerifyReport(snapshot=manifest.snapshot_id, position=str(manifest.binlog) if manifest.binlog else None)
    schemas = {s: manifest.table(s).schema for s in mapping.sources}
    checked = check(mapping, schemas).raise_on_errors()
    tables = sorted({r.target for r in mapping.rules})
    ddb = boto3.client("dynamodb")
    key_names = {t: [k["AttributeName"] for k in ddb.describe_table(TableName=t)["Table"]["KeySchema"]]
                 for t in tables}
    source, rejected, target = _read_both_sides(spark, manifest, checked, tables, key_names, options, report)
    rows = compare(spark, source, target, report, options.buckets, options.examples, options.ignore_tombstones)
    rechecked: set[tuple[str, str]] = set()
    known = manifest.binlog  # no row change after this is unknown to the verify
    changed: set[tuple[str, str]] = set()
    divergences: list[Divergence] = []
    if cdc_url and manifest.binlog is not None:  # after the target scan: every change it may hold is read
        t0 = time.monotonic()
        rechecked, known, changed = _recheck_in_flight(cdc_url, manifest.binlog, checked, schemas, ddb, options,
                                                       report, divergences)
        report.phase_seconds["in_flight"] = round(time.monotonic() - t0, 2)
    for name, key, reason in rejected:
        if (name, json.dumps(json.loads(key), sort_keys=True)) not in changed:  # else judged as it is now
            report.rejected[reason] = report.rejected.get(reason, 0) + 1
    for r in rows:
        if (r._target, r._key) in rechecked:
            continue  # judged against the current row instead
        key = json.loads(r._key)
        if r.dst_item is None:
            found = {"table": r._target, "key": key, "source": r._source, "source_key": json.loads(r._src)}
            kind = "missing"
        elif r.src_item is None:
            found, kind = {"table": r._target, "key": key, "tombstone": bool(r._tombstone)}, "extra"
        else:
            found = {"table": r._target, "key": key, "source": r._source, "source_key": json.loads(r._src),
                     "attributes": differing_attributes(r.src_item, r.dst_item)}
            kind = "different"
        report.add(kind, found, options.examples)
        divergences.append(Divergence(kind, r._target, key, found.get("source"), found.get("source_key"),
                                      bool(r._tombstone)))
    if options.repair and divergences:
        from mysql2dynamo.ground.mysql import MySQLTarget
        from mysql2dynamo.jobs.repair import repair
        from mysql2dynamo.keymap.compile_python import compile_python

        done = repair(MySQLTarget.parse(cdc_url), compile_python(checked), schemas, divergences, ddb, known,
                      options.examples)
        report.repaired = done.__dict__
    report.seconds = round(time.monotonic() - started, 2)
    return report


def _recheck_in_flight(cdc_url: str, position: BinlogPosition, checked: CheckedMapping,
                       schemas: dict[str, TableSchema], ddb, options: VerifyOptions, report: VerifyReport,
                       divergences: list[Divergence]) -> tuple[set[tuple[str, str]], BinlogPosition,
                                                               set[tuple[str, str]]]:
    """Re-check the keys of rows changed after the snapshot against the current rows (jobs.recheck);
    returns the item keys re-checked, the binlog position read to and the changed rows (source, key JSON)."""
    from mysql2dynamo.ground.mysql import MySQLTarget
    from mysql2dynamo.jobs.recheck import ChangedRows, recheck
    from mysql2dynamo.jobs.repair import Divergence
    from mysql2dynamo.keymap.compile_python import compile_python

    mapper = compile_python(checked)
    target = MySQLTarget.parse(cdc_url)
    changed = ChangedRows(position)
    result = recheck(target, mapper, schemas, changed, ddb, ignore_tombstones=options.ignore_tombstones)
    report.in_flight, report.in_flight_reads = len(result.keys), result.reads
    report.in_flight_keys = changed.entries()
    for reason, count in result.rejected.items():
        report.rejected[reason] = report.rejected.get(reason, 0) + count
    for f in result.findings:
        report.add(f.kind, {"table": f.table, "key": f.key, **f.detail, "in_flight": True}, options.examples)
        divergences.append(Divergence(f.kind, f.table, f.key, f.detail.get("source"), f.detail.get("source_key"),
                                      bool(f.detail.get("tombstone"))))
    for f in result.pending:
        report.add("pending", {"table": f.table, "key": f.key, **f.detail, "in_flight": True}, options.examples)
    return result.keys, changed.position, set(changed.rows)


@contextmanager
def temporary_snapshot(mysql_url: str, mapping: Mapping, say=lambda m: None) -> Iterator:
    """A fresh snapshot of the mapped tables in a temporary folder, removed when the block ends."""
    dest = tempfile.mkdtemp(prefix="m2d-verify-")
    try:
        yield fresh_snapshot(mysql_url, mapping, dest, say)
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def fresh_snapshot(mysql_url: str, mapping: Mapping, dest: str, say=lambda m: None):
    """A new consistent snapshot of the mapped tables, written to `dest`."""
    from mysql2dynamo.cdc.snapshot.manifest import load_manifest
    from mysql2dynamo.cdc.snapshot.run import run_snapshot

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
    if not (args.snapshot or args.mysql_url):
        ap.error("pass --snapshot or --mysql-url")
    spark = SparkSession.builder.appName("mysql2dynamo-verify").getOrCreate()
    options = from_values(VerifyOptions, vars(args))
    with (nullcontext(load_manifest(args.snapshot)) if args.snapshot
          else temporary_snapshot(args.mysql_url, mapping, say)) as manifest:
        report = run_verify(spark, mapping, manifest, cdc_url=args.mysql_url, options=options)
    print(report.text())
    if args.report:
        Path(args.report).write_text(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    return 0 if report.clean else 1


if __name__ == "__main__":
    sys.exit(main())
