"""`mysql2dynamo sample ...`: the sample shop. Like `local` and `demo`, it falls back to the local stack."""

from __future__ import annotations

import json
import os

import click

from mysql2dynamo.commands.common import confirm_destructive, say, yes_option
from mysql2dynamo.ground.mysql import MySQLTarget, redact
from mysql2dynamo.local.config import StackConfig


def _is_local_stack(url: str) -> bool:
    """Whether `url` is the local stack's MariaDB (a loopback host and its port)."""
    loopback = ("localhost", "127.0.0.1", "::1")
    there, here = MySQLTarget.parse(url), MySQLTarget.parse(StackConfig().mysql_url)
    return there.host in loopback and here.host in loopback and there.port == here.port


def _local_or_env(variable: str, local_url: str) -> str:
    return os.environ.get(variable) or local_url


@click.group()
def sample() -> None:
    """The sample shop schema (every MySQL type) and live traffic against it."""


@sample.command("create")
@click.option("--rows", default=1000, show_default=True, help="Customers; ~2 orders each, 1-4 lines per order.")
@click.option("--database", default="shop", show_default=True)
@click.option("--seed", default=42, show_default=True)
@click.option("--mysql-url", default=lambda: _local_or_env("M2D_MYSQL_URL", StackConfig().mysql_url),
              show_default="$M2D_MYSQL_URL or the local stack", help="Source MySQL as mysql://user:password@host:port/")
@yes_option
def sample_create(rows: int, database: str, seed: int, mysql_url: str, yes: bool) -> None:
    """Drop and recreate DATABASE with the sample shop tables and rows (asks first, or needs --yes, on a
    server that is not the local stack)."""
    from mysql2dynamo.sample.create import create_sample

    if not _is_local_stack(mysql_url):
        confirm_destructive(f"this drops database {database} on {redact(mysql_url)}, not the local stack", yes)
    say(f"creating sample database {database} on {redact(mysql_url)}")
    counts = create_sample(mysql_url, database, rows, seed, say)
    click.echo(json.dumps(counts.as_dict()))


@sample.command("traffic")
@click.option("--rate", default=20.0, show_default=True, help="Transactions per second.")
@click.option("--seconds", default=10.0, show_default=True)
@click.option("--database", default="shop", show_default=True)
@click.option("--seed", default=None, type=int)
@click.option("--mysql-url", default=lambda: _local_or_env("M2D_APP_MYSQL_URL", StackConfig().app_mysql_url),
              show_default="$M2D_APP_MYSQL_URL or the local stack",
              help="The application's account (writes stop when the cutover fences with read_only).")
def sample_traffic(rate: float, seconds: float, database: str, seed: int | None, mysql_url: str) -> None:
    """Insert, update (also key columns) and delete sample rows at RATE for SECONDS; print what changed."""
    from mysql2dynamo.sample.traffic import run_traffic

    try:
        stats = run_traffic(mysql_url, database, rate, seconds, seed, say)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    click.echo(json.dumps(stats.as_dict(), indent=2))
