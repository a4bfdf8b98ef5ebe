"""`mysql2dynamo report`: one self-contained HTML page of a migration (mysql2dynamo/report/page.py)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mysql2dynamo.commands.common import ConfigFailure, say


def _read_json(path: str, what: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigFailure(f"{path}: no such {what}") from None
    except ValueError as e:
        raise ConfigFailure(f"{path}: not a JSON {what}: {e}") from None


@click.command()
@click.option("--from", "source", required=True, type=click.Path(dir_okay=False),
              help="The migration's JSON report (the demo's .local/demo/report.json, or one of its shape).")
@click.option("--analysis", default=None, type=click.Path(dir_okay=False),
              help="`keymap analyze --output json` result: adds the key-design pictures.")
@click.option("--to", "dest", default=None, type=click.Path(dir_okay=False),
              help="The HTML page (default: the report's path with .html).")
def report(source: str, analysis: str | None, dest: str | None) -> None:
    """Write one HTML page (no network needed to view it): phases, throughput, lags with p50/p99, plan vs
    run, verify with example differences, the cutover's write outage and the key design."""
    from mysql2dynamo.report.page import write_page

    data = _read_json(source, "report")
    extra = _read_json(analysis, "analysis") if analysis else None
    path = write_page(data, Path(dest) if dest else Path(source).with_suffix(".html"), extra)
    say(f"report: {path}")
    click.echo(str(path))
