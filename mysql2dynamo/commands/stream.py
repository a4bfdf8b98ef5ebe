"""`mysql2dynamo stream`: the capture process (options in the config's `stream:` section)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from mysql2dynamo.cdc.server import BinlogPosition
from mysql2dynamo.cdc.stream import StreamSettings
from mysql2dynamo.commands.common import RuntimeFailure, configured, default_of, say, source_url, stream_name
from mysql2dynamo.config import Config
from mysql2dynamo.state import StreamState


def _position(value: str | None) -> BinlogPosition | None:
    if not value:
        return None
    file, sep, pos = value.rpartition(":")
    if not sep or not pos.isdigit():
        raise click.BadParameter(f"expected FILE:POSITION like binlog.000003:1234, got {value!r}")
    return BinlogPosition(file, int(pos))


def _default(name: str):
    return default_of(StreamSettings, name)


@click.command()
@click.option("--mysql-url", default=None,
              show_default="the config's source.mysql_url, else $M2D_CDC_MYSQL_URL, else $M2D_MYSQL_URL",
              help="Source (needs REPLICATION SLAVE/CLIENT).")
@click.option("--tables", default=None, help="Captured tables: db.table,db.table2 (default: the config's mapping).")
@click.option("--stream", default=None, help="Kinesis stream name (required, here or as stream.stream).")
@click.option("--create/--no-create", default=_default("create_stream"), help="Create the stream when missing.")
@click.option("--shards", default=_default("shards"), show_default=True, help="Shards when creating the stream.")
@click.option("--retention-hours", default=_default("retention_hours"), show_default=True,
              help="Stream retention; must outlast snapshot + bulk load + catch-up.")
@click.option("--checkpoint", default=None, help="File path or dynamodb://table/id "
              "(default .local/cdc/STREAM.checkpoint.json).")
@click.option("--from-position", default=None, help="FILE:POS to start at when there is no checkpoint.")
@click.option("--from-now", is_flag=True, help="Start at the server's current position when there is no checkpoint "
              "(the first run, before the snapshot). Without a checkpoint, --from-now or --from-position is "
              "required.")
@click.option("--new-epoch", is_flag=True, help="With --from-position, after capture refused to resume on a new "
              "binlog numbering (RESET MASTER, a restore, a failover): start there in a new epoch, so later changes "
              "sort after every earlier one.")
@click.option("--until-position", default=None, help="Stop after the transaction that reaches FILE:POS.")
@click.option("--max-seconds", type=float, default=_default("max_seconds"), help="Stop after this long.")
@click.option("--stop-at-end", is_flag=True, help="Stop when the end of the binlog is reached.")
@click.option("--claim-check", default=_default("claim_check"), help="s3://bucket/prefix for records over 1 MiB.")
@click.option("--on-truncate", type=click.Choice(["fail", "warn"]), default=_default("on_truncate"),
              show_default=True)
@click.option("--metrics", default=None, help="JSON metrics file (default .local/cdc/STREAM.metrics.json).")
@click.option("--checkpoint-every", default=_default("checkpoint_every"), show_default=True,
              help="Seconds between checkpoint writes (a cutover waits for the one after its fence).")
@click.option("--server-id", default=_default("reader_id"), show_default=True,
              help="Replica id this reader uses (unique per reader).")
@configured("stream", help="The mysql2dynamo config: source.mysql_url, the mapped tables, the stream: section.")
def stream(cfg: Config | None, mysql_url: str | None, tables: str | None, stream: str | None, create: bool,
           shards: int, retention_hours: int, checkpoint: str | None, from_position: str | None, from_now: bool,
           new_epoch: bool,
           until_position: str | None, max_seconds: float | None, stop_at_end: bool, claim_check: str | None,
           on_truncate: str, metrics: str | None, checkpoint_every: float, server_id: int) -> None:
    """Capture row changes from the MySQL binlog onto a Kinesis stream, checkpointed and restartable."""
    import boto3

    from mysql2dynamo.cdc.binlog import CaptureError
    from mysql2dynamo.cdc.checkpoint import open_store
    from mysql2dynamo.cdc.stream import excluded_columns, run_stream

    url = source_url(mysql_url, cfg, ("M2D_CDC_MYSQL_URL", "M2D_MYSQL_URL"))
    stream = stream_name(stream)
    tables = tables or (",".join(cfg.mapping.sources) if cfg else None)
    if not tables:
        raise click.UsageError("no tables: pass --tables db.t1,db.t2 or --config")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    state = StreamState.of(stream)
    settings = StreamSettings(
        mysql_url=url, tables=[t.strip() for t in tables.split(",") if t.strip()], stream=stream,
        checkpoint=open_store(checkpoint or str(state.capture_checkpoint), stream),
        create_stream=create, shards=shards, retention_hours=retention_hours, start=_position(from_position),
        from_now=from_now, new_epoch=new_epoch, exclude=excluded_columns(cfg.mapping) if cfg else {},
        until=_position(until_position), max_seconds=max_seconds, stop_at_end=stop_at_end,
        claim_check=claim_check, on_truncate=on_truncate, reader_id=server_id,
        metrics_path=Path(metrics) if metrics else state.capture_metrics,
        checkpoint_every=checkpoint_every,
    )
    try:
        result = run_stream(settings, boto3.client("kinesis"), boto3.client("s3") if claim_check else None,
                            say=say)
    except CaptureError as e:
        raise RuntimeFailure(str(e)) from e
    click.echo(json.dumps(result.as_dict(), indent=2))
