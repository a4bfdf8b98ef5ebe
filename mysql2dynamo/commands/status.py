"""`mysql2dynamo status`: capture and replay lag, checkpoints, dead letters, the last cutover's write outage."""

from __future__ import annotations

import json

import click

from mysql2dynamo.commands.common import configured, mysql_url_option, source_url, stream_name
from mysql2dynamo.config import Config


@click.command()
@click.option("--stream", default=None, help="The change stream (or stream.stream in the config).")
@mysql_url_option
@click.option("--progress-table", default=None, envvar="M2D_PROGRESS_TABLE", show_envvar=True,
              help="DynamoDB progress table written by capture and replay (default: the local files).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@configured("stream.stream", help="The mysql2dynamo config: source.mysql_url and stream.stream.")
def status(cfg: Config | None, stream: str | None, mysql_url: str | None, progress_table: str | None,
           as_json: bool) -> None:
    """Capture lag, replay lag (iterator age per shard), checkpoints, applied items, dead letters, last cutover."""
    import boto3

    from mysql2dynamo.cdc.progress import ProgressTable
    from mysql2dynamo.status import pipeline_status, status_table

    url = source_url(mysql_url, cfg)
    stream = stream_name(stream)
    s = pipeline_status(stream, url, boto3.client("kinesis"),
                        progress=ProgressTable.from_env(stream, table=progress_table))
    click.echo(json.dumps(s, indent=2, default=str) if as_json else status_table(s))
