"""`mysql2dynamo cutover`: fence, drain, verify, report the write pause (options in `cutover:`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mysql2dynamo.commands.common import configured, default_of, mysql_url_option, say, source_url, stream_name
from mysql2dynamo.commands.verify import verifier
from mysql2dynamo.config import Config
from mysql2dynamo.cutover import CutoverOptions
from mysql2dynamo.jobs.verify import VerifyOptions


@click.command()
@click.option("--stream", default=None, help="The change stream (or stream.stream in the config).")
@mysql_url_option
@click.option("--max-lag-ms", default=default_of(CutoverOptions, "max_lag_ms"), show_default=True,
              help="Fence only once both lags are below this.")
@click.option("--fence-hook", default=None, help="Command that stops the application's writes (default: read_only).")
@click.option("--unfence-hook", default=None, help="Command that lets them resume.")
@click.option("--no-verify", is_flag=True, help="Skip the verify after the drain.")
@click.option("--release-fence", is_flag=True, help="Lift the fence even when ready (rehearsals).")
@click.option("--report", default=None, type=click.Path(dir_okay=False), help="JSON report file.")
@configured("cutover", "stream.stream", required=True,
            help="The mysql2dynamo config: the mapping, source.mysql_url, cutover:.")
def cutover(cfg: Config, stream: str | None, mysql_url: str | None, max_lag_ms: int, fence_hook: str | None,
            unfence_hook: str | None, no_verify: bool, release_fence: bool, report: str | None) -> None:
    """Wait for lag ~0, fence writes, drain, clean tombstones, verify; report the write pause."""
    import boto3

    from mysql2dynamo.cutover import run_cutover

    url = source_url(mysql_url, cfg)
    stream = stream_name(stream)
    options = CutoverOptions(max_lag_ms=max_lag_ms, fence_hook=fence_hook, unfence_hook=unfence_hook,
                             verify=not no_verify, release_fence=release_fence)
    result = run_cutover(stream, url, boto3.client("kinesis"), sorted({r.target for r in cfg.mapping.rules}),
                         boto3.client("dynamodb"), verifier(cfg, url, None, VerifyOptions()), options, say)
    text = json.dumps(result.as_dict(), indent=2, default=str)
    click.echo(text)
    if report:
        Path(report).write_text(text)
    sys.exit(0 if result.ready else 1)
