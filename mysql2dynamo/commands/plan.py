"""`mysql2dynamo plan`: everything that can be checked before anything runs."""

from __future__ import annotations

import json
import sys

import click

from mysql2dynamo.cdc.stream import DEFAULT_RETENTION_HOURS
from mysql2dynamo.commands.common import (
    ConfigFailure,
    configured,
    connect_source,
    mysql_url_option,
    source_url,
    wants_json,
)
from mysql2dynamo.config import Config


@click.command()
@click.option("--stream", default=None,
              help="The change stream (default: stream.stream): its retention is checked if it exists.")
@click.option("--retention-hours", default=DEFAULT_RETENTION_HOURS, show_default=True,
              help="The retention `stream --create` will give a stream that does not exist yet.")
@click.option("--max-wcu", type=float, default=None, help="The load's write budget in WCU/s (default: load.max_wcu).")
@click.option("--max-items-per-second", type=float, default=None,
              help="The load's write budget in items/s (default: load.max_items_per_second).")
@click.option("--json", "as_json", is_flag=True, help="The plan as JSON.")
@mysql_url_option
@configured("stream.stream", "stream.retention_hours", "load.max_wcu", "load.max_items_per_second",
            required=True)
def plan(cfg: Config, stream: str | None, retention_hours: int, max_wcu: float | None,
         max_items_per_second: float | None, as_json: bool, mysql_url: str | None) -> None:
    """Before anything runs: mapping checks, binlog settings, sizes, load time vs stream retention."""
    import boto3

    from mysql2dynamo.jobs.rate import Budget
    from mysql2dynamo.plan import make_plan, render

    if max_wcu is not None and max_items_per_second is not None:
        raise click.UsageError("give --max-wcu or --max-items-per-second, not both")
    conn = connect_source(source_url(mysql_url, cfg))
    try:
        result = make_plan(cfg, conn, boto3.client("dynamodb"), boto3.client("kinesis"),
                           Budget(max_items_per_second, max_wcu), stream, retention_hours)
    except LookupError as e:
        raise ConfigFailure(str(e)) from None
    finally:
        conn.close()
    click.echo(json.dumps(result.as_dict(), indent=2) if wants_json(as_json) else render(result))
    sys.exit(0 if result.ok else 1)
