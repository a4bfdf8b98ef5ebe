"""`mysql2dynamo keymap check|preview|analyze`: the mapping against the live source schema and rows, and
the key design measured on a snapshot."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click
import pymysql

from mysql2dynamo.commands.common import (
    ConfigFailure,
    configured,
    connect_source,
    mysql_url_option,
    say,
    source_url,
    wants_json,
)
from mysql2dynamo.config import Config
from mysql2dynamo.keymap.schema import TableSchema, read_schemas, read_table_schema


@click.group()
def keymap() -> None:
    """Check and preview the key mapping (the keymap DSL, docs/keymap.md)."""


@keymap.command()
@mysql_url_option
@configured(required=True)
def check(cfg: Config, mysql_url: str | None) -> None:
    """Static checks of the mapping against the live schema; exit 1 on errors."""
    from mysql2dynamo.cdc.server import check_binlog_settings, server_info
    from mysql2dynamo.keymap.checker import check as run_check

    conn = connect_source(source_url(mysql_url, cfg))
    try:
        try:
            schemas = read_schemas(conn, cfg.mapping.sources)
        except LookupError as e:
            raise ConfigFailure(str(e)) from None
        result = run_check(cfg.mapping, schemas)
        server = [f"server: {p}" for p in check_binlog_settings(conn, server_info(conn))]
    finally:
        conn.close()
    if wants_json():
        click.echo(json.dumps({"rules": len(result.rules), "errors": [str(d) for d in result.errors],
                               "warnings": [str(d) for d in result.warnings] + server}, indent=2))
        sys.exit(1 if result.errors else 0)
    for d in result.diagnostics:
        click.echo(str(d), err=d.level == "error")
    for w in server:
        click.echo(f"{cfg.path}: warning: {w}")
    click.echo(f"{len(result.rules)} rule(s) checked: {len(result.errors)} error(s), "
               f"{len(result.warnings) + len(server)} warning(s)")
    sys.exit(1 if result.errors else 0)


def read_rows(conn: pymysql.Connection, schema: TableSchema, limit: int) -> list[dict]:
    """The first `limit` rows in primary key order, decoded as the binlog reader and the snapshot decode them."""
    from mysql2dynamo.keymap.compile_spark import quote
    from mysql2dynamo.keymap.preview import decoded_row

    order = ", ".join(quote(c) for c in schema.primary_key) or "1"
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {quote(schema.db)}.{quote(schema.name)} ORDER BY {order} LIMIT %s", (limit,))
        names = [d[0] for d in cur.description]
        return [decoded_row(schema, dict(zip(names, row, strict=True))) for row in cur.fetchall()]


def preview_results(cfg: Config, url: str, table: str, limit: int, engine: str, spark=None):
    """(row, Result) pairs of a preview, in primary key order."""
    from mysql2dynamo.keymap.checker import check as run_check
    from mysql2dynamo.keymap.compile_python import compile_python
    from mysql2dynamo.keymap.preview import preview_rows, preview_spark

    if table not in cfg.mapping.sources:
        raise ConfigFailure(f"no rule for {table} in {cfg.path} (mapped: {', '.join(cfg.mapping.sources)})")
    conn = connect_source(url)
    try:
        schema = read_table_schema(conn, *table.split(".", 1))
        rows = read_rows(conn, schema, limit)
    finally:
        conn.close()
    only = dataclasses.replace(cfg.mapping, rules=cfg.mapping.rules_for(table))
    checked = run_check(only, {table: schema})
    if checked.errors:
        raise ConfigFailure("; ".join(str(d) for d in checked.errors))
    if engine == "python":
        return preview_rows(compile_python(checked), table, rows)
    if spark is None:
        from mysql2dynamo.jobs.session import local_spark

        spark = local_spark("keymap-preview")
    return preview_spark(spark, checked, schema, rows)


@keymap.command()
@click.option("--table", required=True, help="Source table as db.table.")
@click.option("--limit", default=20, show_default=True, help="Rows to read (primary key order).")
@click.option("--engine", type=click.Choice(["python", "spark"]), default="python", show_default=True)
@mysql_url_option
@configured(required=True)
def preview(cfg: Config, table: str, limit: int, engine: str, mysql_url: str | None) -> None:
    """Print the items of the first rows as DynamoDB JSON, one per line; rejects go to stderr."""
    for _, result in preview_results(cfg, source_url(mysql_url, cfg), table, limit, engine):
        if result.status == "item":
            click.echo(result.item)
        else:
            click.echo(f"REJECT {result.reason}: {result.message}", err=True)


def _layouts(checked) -> tuple[dict, list]:
    """Each target's partition key and GSIs, from DynamoDB when the table exists there, else from the
    mapping (its first key attribute, no GSIs); and the described tables."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from mysql2dynamo.jobs.analyze import KeyLayout, default_layouts
    from mysql2dynamo.jobs.targets import describe_target

    layouts = default_layouts(checked)
    described = []
    try:
        ddb = boto3.client("dynamodb")
        described = [t for t in (describe_target(ddb, name) for name in layouts) if t.exists]
    except (BotoCoreError, ClientError) as e:
        say(f"note: target tables not described ({e}); partition keys from the mapping, no GSIs")
    for t in described:
        layouts[t.table] = KeyLayout(next(iter(t.key)), {i: next(iter(k)) for i, k in t.gsi_keys.items()})
    return layouts, described


def _sampled_changes(stream: str, per_shard: int, window_s: float) -> list | None:
    """Up to `per_shard` changes of each shard of `stream`, from `window_s` seconds ago on (None: no such
    stream). Claim-check pointers (their rows are stored elsewhere) are left out of the sample."""
    import time

    import boto3

    from mysql2dynamo.cdc.envelope import changes_in

    kinesis = boto3.client("kinesis")
    try:
        shards = [s["ShardId"] for s in kinesis.list_shards(StreamName=stream)["Shards"]]
    except kinesis.exceptions.ResourceNotFoundException:
        return None
    changes = []
    for shard in shards:
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="AT_TIMESTAMP",
                                              Timestamp=time.time() - window_s)["ShardIterator"]
        read = 0
        while iterator and read < per_shard:
            resp = kinesis.get_records(ShardIterator=iterator, Limit=min(10000, per_shard - read))
            read += len(resp["Records"])
            changes += [c for r in resp["Records"] for c in changes_in(r["Data"]) if not c.claim_check]
            if not resp["Records"] and not resp.get("MillisBehindLatest"):
                break
            iterator = resp.get("NextShardIterator")
    return changes


@keymap.command()
@click.option("--manifest", required=True, help="Snapshot manifest (path or s3://) the items are computed from.")
@click.option("--max-wcu", type=float, default=None,
              help="The load's write rate in WCU/s (default: load.max_wcu, else what the tables take).")
@click.option("--read-rcu", type=float, default=None, help="The application's planned reads per table in RCU/s.")
@click.option("--top", default=10, show_default=True, help="Hottest keys shown per table and index.")
@click.option("--html", "html_path", default=None, type=click.Path(dir_okay=False),
              help="Also write the pictures as a self-contained HTML page.")
@click.option("--stream", default=None, help="Change stream whose recent changes give each hot key's share of "
              "writes (default: the config's stream.stream; none: shares of items only).")
@click.option("--write-sample", default=10000, show_default=True, help="Changes read per shard of the stream.")
@click.option("--write-window", default=600.0, show_default=True,
              help="Read the stream's changes from this many seconds ago on.")
@configured("load.max_wcu", "stream.stream", required=True)
def analyze(cfg: Config, manifest: str, max_wcu: float | None, read_rcu: float | None, top: int,
            html_path: str | None, stream: str | None, write_sample: int, write_window: float) -> None:
    """The key design measured on the snapshot with Spark: partition-key cardinality, hottest keys (with
    their share of the stream's recent writes when a stream exists), item sizes vs the 1 KB write-unit
    steps and 400 KB, GSI fan-out and skew, partitions over 1,000 WCU / 3,000 RCU at the planned rate.
    Exit 1 when a partition would pass a limit."""
    from mysql2dynamo.cdc.snapshot.manifest import load_manifest
    from mysql2dynamo.jobs.analyze import Rates, render, write_counts
    from mysql2dynamo.jobs.analyze import analyze as run_analyze
    from mysql2dynamo.jobs.rate import Budget
    from mysql2dynamo.jobs.session import local_spark
    from mysql2dynamo.jobs.spark_progress import SparkProgress
    from mysql2dynamo.keymap.checker import check as run_check
    from mysql2dynamo.keymap.compile_python import compile_python
    from mysql2dynamo.plan import load_rate

    m = load_manifest(manifest)
    missing = [s for s in cfg.mapping.sources if s not in m.table_names]
    if missing:
        raise ConfigFailure(f"{', '.join(missing)} not in the snapshot {manifest} "
                            f"(it holds {', '.join(m.table_names)})")
    checked = run_check(cfg.mapping, {s: m.table(s).schema for s in cfg.mapping.sources})
    if checked.errors:
        raise ConfigFailure("; ".join(str(d) for d in checked.errors))
    layouts, described = _layouts(checked)
    rate = max_wcu or load_rate(Budget(), described, 1.0)[0]
    writes = None
    if stream:
        changes = _sampled_changes(stream, write_sample, write_window)
        if changes is None:
            say(f"note: no stream {stream}: shares of items only")
        else:
            writes = write_counts(changes, compile_python(checked), layouts)
            say(f"write sample: {len(changes):,} changes of {stream} from the last {write_window:,.0f}s")
    spark = local_spark("mysql2dynamo-keymap-analyze")
    with SparkProgress(spark, "keymap analyze"):
        result = run_analyze(spark, m, checked, layouts, {t: Rates(rate, read_rcu) for t in layouts}, top,
                             writes=writes)
    if html_path:
        from mysql2dynamo.report.page import render as render_page

        Path(html_path).write_text(render_page({}, result, "mysql2dynamo key design"), encoding="utf-8")
        say(f"key design page: {html_path}")
    click.echo(json.dumps(result, indent=2) if wants_json() else render(result))
    sys.exit(1 if any(t["warnings"] for t in result["targets"]) else 0)
