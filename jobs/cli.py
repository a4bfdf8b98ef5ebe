"""`mysql2dynamo load`: the bulk load on local Spark, or the spark-submit / EMR step that runs it.

    mysql2dynamo load --manifest s3://b/snap --mapping map.yaml [--sink dynamodb] [--max-wcu 2000]
    mysql2dynamo load ... --print-submit          # the local spark-submit command line (Maven jars)
    mysql2dynamo load ... --emr-step s3://b/m2d/  # the EMR step (artifacts prefix) as JSON
"""

from __future__ import annotations

import json
import sys

import click
from mysql2dynamo.jobs.bulk_load import SINKS, LoadError, LoadOptions


def _say(msg: str) -> None:
    click.echo(msg, err=True)


def _job_args(opts: LoadOptions) -> list[str]:
    from mysql2dynamo.emr.definitions import job_args

    load = {k: getattr(opts, k) for k in ("manifest", "mapping", "sink", "max_wcu", "max_items_per_second",
                                          "write_tasks", "threads", "endpoint", "region", "rejects", "summary",
                                          "import_s3", "table_definition", "fs_scheme")}
    load["tables"] = opts.tables
    if opts.on_collision != "report":
        load["on_collision"] = opts.on_collision
    if opts.write_percent != 1.0:
        load["write_percent"] = opts.write_percent
    if opts.progress_interval != 10.0:
        load["progress_interval"] = opts.progress_interval
    if opts.threads == 4:
        load["threads"] = None
    return job_args(load)


@click.command()
@click.option("--manifest", required=True, help="Snapshot folder or manifest.json (local or s3://).")
@click.option("--mapping", "--config", "mapping", required=True, help="Mapping / config YAML with `tables:`.")
@click.option("--sink", type=click.Choice(SINKS), default="emr-connector", show_default=True)
@click.option("--tables", default=None, help="db.table,... (default: every source of the mapping).")
@click.option("--max-wcu", type=float, default=None, help="Write budget of the whole job in WCU/s.")
@click.option("--max-items-per-second", type=float, default=None, help="Write budget in items/s.")
@click.option("--write-tasks", type=int, default=None, help="Parallel write tasks (default: task slots).")
@click.option("--write-percent", type=float, default=1.0, show_default=True,
              help="Without a budget: share of a provisioned table's WCU (emr-connector).")
@click.option("--threads", type=int, default=4, show_default=True, help="dynamodb sink: batches in flight per task.")
@click.option("--endpoint", default=None, help="DynamoDB endpoint (default: AWS_ENDPOINT_URL_DYNAMODB / AWS).")
@click.option("--region", default=None)
@click.option("--rejects", default=None, help="Write refused rows here (JSON lines; local or s3://).")
@click.option("--summary", default=None, help="Also write the summary JSON here.")
@click.option("--on-collision", type=click.Choice(["report", "fail"]), default="report", show_default=True)
@click.option("--import-s3", default=None, help="s3-import: s3://bucket/prefix for the DynamoDB JSON files.")
@click.option("--table-definition", default=None, help="s3-import: JSON of extra TableCreationParameters.")
@click.option("--fs-scheme", type=click.Choice(["s3", "s3a"]), default=None)
@click.option("--progress-interval", type=float, default=10.0, show_default=True)
@click.option("--master", default="local[2]", show_default=True, help="Spark master of the local run.")
@click.option("--print-submit", is_flag=True, help="Print the local spark-submit command line and exit.")
@click.option("--emr-step", "emr_artifacts", default=None, metavar="S3_PREFIX",
              help="Print the EMR step (artifacts under S3_PREFIX) and exit; `mysql2dynamo emr submit` sends it.")
def load(manifest, mapping, sink, tables, max_wcu, max_items_per_second, write_tasks, write_percent, threads, endpoint,
         region, rejects, summary, on_collision, import_s3, table_definition, fs_scheme, progress_interval, master,
         print_submit, emr_artifacts) -> None:
    """Bulk-load a snapshot into DynamoDB through the mapping (phase 3)."""
    if max_wcu is not None and max_items_per_second is not None:
        raise click.UsageError("give --max-wcu or --max-items-per-second, not both")
    opts = LoadOptions(
        manifest=manifest, mapping=mapping, sink=sink,
        tables=[t.strip() for t in tables.split(",") if t.strip()] if tables else None,
        max_wcu=max_wcu, max_items_per_second=max_items_per_second, write_tasks=write_tasks,
        write_percent=write_percent, threads=threads, endpoint=endpoint, region=region, rejects=rejects,
        summary=summary, on_collision=on_collision, import_s3=import_s3, table_definition=table_definition,
        fs_scheme=fs_scheme, progress_interval=progress_interval)
    if print_submit:
        from mysql2dynamo.emr.definitions import ROOT
        from mysql2dynamo.jobs.session import spark_submit_command

        cmd = spark_submit_command(ROOT / "jobs" / "bulk_load.py", _job_args(opts), master)
        click.echo(" ".join(_quote(c) for c in cmd))
        return
    if emr_artifacts:
        from mysql2dynamo.emr import definitions as d

        emr = d.emr_settings({}, {"artifacts": emr_artifacts})
        click.echo(json.dumps(d.load_step(emr, d.artifact_urls(emr), _job_args(opts)), indent=2))
        return
    from mysql2dynamo.jobs.bulk_load import run_load
    from mysql2dynamo.jobs.session import local_spark

    spark = local_spark("mysql2dynamo-load", master)
    try:
        result = run_load(spark, opts, _say)
    except LoadError as e:
        raise click.ClickException(str(e)) from e
    click.echo(json.dumps(result))
    sys.stdout.flush()


def _quote(s: str) -> str:
    import shlex

    return shlex.quote(s)
