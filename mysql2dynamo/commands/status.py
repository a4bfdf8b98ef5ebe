"""`mysql2dynamo status`: capture and replay lag, checkpoints, dead letters, the last verify's verdict and the
last cutover's write outage."""

from __future__ import annotations

import json

import click

from mysql2dynamo.commands.common import (
    configured,
    mysql_url_option,
    progress_table_option,
    source_url,
    stream_name,
)
from mysql2dynamo.commands.global_options import wants_json
from mysql2dynamo.config import Config


@click.command()
@click.option("--stream", default=None, help="The change stream (or stream.stream in the config).")
@mysql_url_option
@progress_table_option()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--watch", "interval", type=float, default=None, is_flag=False, flag_value=2.0, metavar="[SECONDS]",
              help="Refresh every SECONDS (default 2) until Ctrl-C: lags, rates, dead letters, last verify and "
                   "cutover.")
@click.option("--count", type=int, default=None, help="With --watch: stop after this many refreshes.")
@configured("stream.stream", help="The mysql2dynamo config: source.mysql_url and stream.stream.")
def status(cfg: Config | None, stream: str | None, mysql_url: str | None, progress_table: str | None,
           as_json: bool, interval: float | None, count: int | None) -> None:
    """Capture lag, replay lag (iterator age per shard), checkpoints, applied items, dead letters, last verify,
    last cutover."""
    import boto3

    from mysql2dynamo.cdc.progress import ProgressTable
    from mysql2dynamo.status import pipeline_status, status_table

    url = source_url(mysql_url, cfg)
    stream = stream_name(stream)
    kinesis = boto3.client("kinesis")
    progress = ProgressTable.from_env(stream, table=progress_table)
    if interval is not None:
        from mysql2dynamo.ground.progress import watch
        from mysql2dynamo.report.watch import Rates

        rates = Rates()
        watch(lambda: rates.view(pipeline_status(stream, url, kinesis, progress=progress), status_table), interval,
              count)
        return
    s = pipeline_status(stream, url, kinesis, progress=progress)
    click.echo(json.dumps(s, indent=2, default=str) if wants_json(as_json) else status_table(s))
