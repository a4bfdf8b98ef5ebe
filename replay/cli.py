"""`mysql2dynamo replay` (the local Lambda runner) and `mysql2dynamo cleanup-tombstones`."""

from __future__ import annotations

import json
import os
import sys

import boto3
import click
from mysql2dynamo.keymap.schema import read_schemas
from mysql2dynamo.keymap.spec import load_mapping_file
from mysql2dynamo.replay.dead_letter import open_dead_letter
from mysql2dynamo.replay.runner import ReplayRunner, ShardCheckpoints
from mysql2dynamo.replay.runtime import ReplayRuntime
from mysql2dynamo.replay.tombstones import cleanup_tombstones

from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.state import StreamState


def _say(msg: str) -> None:
    click.echo(msg, err=True)


@click.command()
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The mysql2dynamo config (the `tables:` mapping).")
@click.option("--stream", "stream_name", required=True, help="Kinesis stream written by `mysql2dynamo stream`.")
@click.option("--manifest", default=None, help="Snapshot manifest (path or s3://): schemas and the snapshot ver.")
@click.option("--mysql-url", default=lambda: os.environ.get("M2D_MYSQL_URL"),
              help="Without --manifest: read the source schemas from MySQL.")
@click.option("--snapshot-ver", type=int, default=None,
              help="Skip changes at or below this ver (default: the manifest's; 0 without a manifest).")
@click.option("--checkpoint", default=None, help="Per-shard checkpoint file (default .local/replay/STREAM.json).")
@click.option("--dead-letter", default=None, help="Folder, s3://bucket/prefix or SQS queue URL "
              "(default .local/replay/STREAM-dead-letters).")
@click.option("--batch-size", default=500, show_default=True, help="Records per batch, as the event source mapping.")
@click.option("--until-caught-up", is_flag=True, help="Stop when every shard has nothing more to read.")
@click.option("--max-seconds", type=float, default=None)
def replay(config_path, stream_name, manifest, mysql_url, snapshot_ver, checkpoint, dead_letter, batch_size,
           until_caught_up, max_seconds) -> None:
    """Apply the change stream to DynamoDB through the mapping: the replay Lambda, run locally."""
    mapping = load_mapping_file(config_path)
    if manifest:
        from mysql2dynamo.cdc.snapshot.manifest import load_manifest

        m = load_manifest(manifest)
        schemas = {s: m.table(s).schema for s in mapping.sources}
        ver = m.ver if snapshot_ver is None else snapshot_ver
    elif mysql_url:
        conn = connect(mysql_url)
        schemas = read_schemas(conn, mapping.sources)
        conn.close()
        ver = snapshot_ver or 0
    else:
        raise click.UsageError("pass --manifest (after a snapshot) or --mysql-url to read the source schemas")
    state = StreamState.of(stream_name)
    dead = open_dead_letter(dead_letter or str(state.dead_letters))
    rt = ReplayRuntime.build(mapping, schemas, ver, dead)
    runner = ReplayRunner(rt, boto3.client("kinesis"), stream_name,
                          ShardCheckpoints(checkpoint or state.replay_checkpoints), batch_size=batch_size,
                          progress=_say, metrics_path=state.replay_metrics)
    _say(f"replaying {stream_name} into {sorted({r.target for r in mapping.rules})} (skipping ver <= {ver})")
    try:
        stats = runner.run(until_caught_up=until_caught_up, max_seconds=max_seconds)
    except KeyboardInterrupt:
        runner.stop.set()
        sys.exit(130)
    click.echo(json.dumps(stats.as_dict(), indent=2))


@click.command("cleanup-tombstones")
@click.option("--table", "tables", multiple=True, required=True, help="Target table (repeatable).")
@click.option("--version-attribute", default="_ver", show_default=True)
@click.option("--segments", default=4, show_default=True, help="Parallel scan segments.")
def cleanup(tables, version_attribute, segments) -> None:
    """Remove delete tombstones (guarded: a tombstone replaced meanwhile is kept)."""
    ddb = boto3.client("dynamodb")
    for table in tables:
        stats = cleanup_tombstones(ddb, table, version_attribute, segments)
        click.echo(json.dumps({"table": table, **stats.__dict__}))


@click.group()
def deploy() -> None:
    """Deploy to AWS (boto3; credentials from the environment or the AWS credential chain)."""


@deploy.command("replay")
@click.option("--function-name", default="mysql2dynamo-replay", show_default=True)
@click.option("--stream-arn", required=True)
@click.option("--table-arn", "table_arns", multiple=True, required=True, help="Target table ARN (repeatable).")
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--manifest", required=True, help="s3:// URL of the snapshot manifest.")
@click.option("--dead-letter", required=True, help="s3://bucket/prefix or SQS queue URL for poison records.")
@click.option("--on-failure-arn", required=True, help="SQS queue or SNS topic ARN for batches out of retries.")
@click.option("--batch-size", default=500, show_default=True)
@click.option("--parallelization-factor", default=2, show_default=True)
@click.option("--max-retries", default=100, show_default=True)
@click.option("--zip", "zip_path", default=None, type=click.Path(dir_okay=False), help="Also write the package here.")
@click.option("--dry-run", is_flag=True, help="Print what would be created, change nothing.")
def deploy_replay(function_name, stream_arn, table_arns, config_path, manifest, dead_letter, on_failure_arn,
                  batch_size, parallelization_factor, max_retries, zip_path, dry_run) -> None:
    """Package the replay Lambda and create or update it with its Kinesis event source mapping."""
    from pathlib import Path

    from mysql2dynamo.replay.deploy import ReplayDeployment, build_zip, plan
    from mysql2dynamo.replay.deploy import deploy as do_deploy

    d = ReplayDeployment(function_name, stream_arn, list(table_arns), Path(config_path), manifest, dead_letter,
                         on_failure_arn, batch_size=batch_size, parallelization_factor=parallelization_factor,
                         maximum_retry_attempts=max_retries)
    package = build_zip(d.config_path)
    if zip_path:
        Path(zip_path).write_bytes(package)
    if dry_run:
        click.echo(json.dumps(plan(d, package), indent=2))
        return
    click.echo(json.dumps(do_deploy(d, package, boto3.client("lambda"), boto3.client("iam")), indent=2))
