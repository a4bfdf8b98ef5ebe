"""`mysql2dynamo stream`: the capture process."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import boto3
import click
from mysql2dynamo.cdc.binlog import CaptureError
from mysql2dynamo.cdc.checkpoint import open_store
from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.cdc.stream import DEFAULT_RETENTION_HOURS, StreamSettings, run_stream

from mysql2dynamo.config import load_config
from mysql2dynamo.state import StreamState


def _position(value: str | None) -> BinlogPosition | None:
    if not value:
        return None
    file, sep, pos = value.rpartition(":")
    if not sep or not pos.isdigit():
        raise click.BadParameter(f"expected FILE:POSITION like binlog.000003:1234, got {value!r}")
    return BinlogPosition(file, int(pos))


@click.command()
@click.option("--config", "config_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="The mysql2dynamo config: captures the mapped tables, source.mysql_url as the last fallback.")
@click.option("--mysql-url", default=None, show_default="$M2D_CDC_MYSQL_URL, then $M2D_MYSQL_URL, then the config",
              help="Source (needs REPLICATION SLAVE/CLIENT).")
@click.option("--tables", default=None, help="Captured tables: db.table,db.table2 (default: the config's).")
@click.option("--stream", "stream_name", required=True, help="Kinesis stream name.")
@click.option("--create/--no-create", default=False, help="Create the stream when missing.")
@click.option("--shards", default=2, show_default=True, help="Shards when creating the stream.")
@click.option("--retention-hours", default=DEFAULT_RETENTION_HOURS, show_default=True,
              help="Stream retention; must outlast snapshot + bulk load + catch-up.")
@click.option("--checkpoint", default=None, help="File path or dynamodb://table/id "
              "(default .local/cdc/STREAM.checkpoint.json).")
@click.option("--from-position", default=None, help="FILE:POS to start at when there is no checkpoint "
              "(default: the server's current position).")
@click.option("--until-position", default=None, help="Stop after the transaction that reaches FILE:POS.")
@click.option("--max-seconds", type=float, default=None, help="Stop after this long.")
@click.option("--stop-at-end", is_flag=True, help="Stop when the end of the binlog is reached.")
@click.option("--claim-check", default=None, help="s3://bucket/prefix for records over 1 MiB.")
@click.option("--on-truncate", type=click.Choice(["fail", "warn"]), default="fail", show_default=True)
@click.option("--metrics", "metrics_path", default=None,
              help="JSON metrics file (default .local/cdc/STREAM.metrics.json).")
@click.option("--checkpoint-every", default=1.0, show_default=True,
              help="Seconds between checkpoint writes (a cutover waits for the one after its fence).")
@click.option("--server-id", default=54321, show_default=True,
              help="Replica id this reader uses (unique per reader).")
def stream(config_path, mysql_url, tables, stream_name, create, shards, retention_hours, checkpoint, from_position,
           until_position, max_seconds, stop_at_end, claim_check, on_truncate, metrics_path, checkpoint_every,
           server_id) -> None:
    """Capture row changes from the MySQL binlog onto a Kinesis stream, checkpointed and restartable."""
    config = load_config(config_path) if config_path else None
    mysql_url = (mysql_url or os.environ.get("M2D_CDC_MYSQL_URL") or os.environ.get("M2D_MYSQL_URL")
                 or (config.source.mysql_url if config else None))
    if not mysql_url:
        raise click.UsageError("no source: pass --mysql-url or --config, or set M2D_CDC_MYSQL_URL / M2D_MYSQL_URL")
    tables = tables or (",".join(config.mapping.sources) if config else None)
    if not tables:
        raise click.UsageError("no tables: pass --tables db.t1,db.t2 or --config")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    state = StreamState.of(stream_name)
    settings = StreamSettings(
        mysql_url=mysql_url, tables=[t.strip() for t in tables.split(",") if t.strip()], stream=stream_name,
        checkpoint=open_store(checkpoint or str(state.capture_checkpoint), stream_name),
        create_stream=create, shards=shards, retention_hours=retention_hours, start=_position(from_position),
        until=_position(until_position), max_seconds=max_seconds, stop_at_end=stop_at_end,
        claim_check=claim_check, on_truncate=on_truncate, reader_id=server_id,
        metrics_path=Path(metrics_path) if metrics_path else state.capture_metrics,
        checkpoint_every=checkpoint_every,
    )
    try:
        metrics = run_stream(settings, boto3.client("kinesis"), boto3.client("s3") if claim_check else None,
                             progress=lambda m: click.echo(m, err=True))
    except CaptureError as e:
        raise click.ClickException(str(e)) from e
    click.echo(json.dumps(metrics.as_dict(), indent=2))
