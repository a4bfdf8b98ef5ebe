"""`mysql2dynamo demo`: the whole migration on the local stack."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mysql2dynamo.commands.common import RuntimeFailure, say
from mysql2dynamo.local.config import StackConfig
from mysql2dynamo.local.services import StackError


@click.command()
@click.option("--rows", default=1000, show_default=True, help="Sample customers to create.")
@click.option("--rate", default=20.0, show_default=True, help="Application transactions per second meanwhile.")
@click.option("--report", "report_path", default=None, type=click.Path(dir_okay=False),
              help="Write the JSON report here (default .local/demo/report.json).")
def demo(rows: int, rate: float, report_path: str | None) -> None:
    """The end-to-end migration on the local stack, with the application writing the whole time."""
    from mysql2dynamo.demo import run_demo

    path = Path(report_path) if report_path else StackConfig().home / "demo" / "report.json"
    try:
        report = run_demo(rows, rate, say, path)
    except StackError as e:
        raise RuntimeFailure(str(e)) from e
    sys.exit(0 if report["verify"]["clean"] and report["cutover"]["ready"] else 1)
