"""`mysql2dynamo local ...`: the local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click

from mysql2dynamo.commands.common import RuntimeFailure, say, wants_json
from mysql2dynamo.local import stack
from mysql2dynamo.local.config import StackConfig
from mysql2dynamo.local.services import StackError


@click.group()
def local() -> None:
    """The local stack: MariaDB, DynamoDB (dynalite), Kinesis (kinesalite), S3/EMR/Lambda (moto)."""


@local.command()
def up() -> None:
    """Start every local server that is not running (idempotent); returns when all answer."""
    try:
        seconds = stack.up(StackConfig(), say)
    except StackError as e:
        raise RuntimeFailure(str(e)) from e
    say(f"local stack up in {seconds:.1f}s; point clients at it with: eval \"$(mysql2dynamo local env)\"")


@local.command()
def down() -> None:
    """Stop the local servers started by `up`; their data stays for the next `up`."""
    stack.down(StackConfig(), say)


@local.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def local_status(as_json: bool) -> None:
    """Show each local server: pid, port, health and memory. Exit 1 if one is not healthy."""
    rows = stack.status(StackConfig())
    if wants_json(as_json):
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        click.echo(f"{'service':<11}{'stands in for':<28}{'port':>6}  {'pid':>7}  {'state':<9}{'rss MB':>7}")
        for r in rows:
            state = "healthy" if r.healthy else "running" if r.running else "stopped"
            rss = f"{r.rss_mb:.0f}" if r.rss_mb is not None else "-"
            click.echo(f"{r.name:<11}{r.stands_in_for:<28}{r.port:>6}  {r.pid or '-':>7}  {state:<9}{rss:>7}")
    if not all(r.healthy for r in rows):
        sys.exit(1)


@local.command()
def env() -> None:
    """Print export lines: `eval "$(mysql2dynamo local env)"` points boto3, pymysql and Spark here."""
    click.echo(stack.shell_exports(StackConfig()))


@local.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("script", type=click.Path(exists=True, dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--master", default="local[2]", show_default=True)
def submit(script: str, args: tuple[str, ...], master: str) -> None:
    """spark-submit SCRIPT on local Spark with the connector, S3A and JDBC jars on the classpath."""
    from mysql2dynamo.jobs.session import spark_submit_command

    cmd = spark_submit_command(script, list(args), master)
    sys.exit(subprocess.run(cmd, env={**os.environ, **StackConfig().env(), **_caller_env()}).returncode)


def _caller_env() -> dict[str, str]:
    """Variables the caller set explicitly win over the local stack's defaults."""
    return {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "M2D_"))}
