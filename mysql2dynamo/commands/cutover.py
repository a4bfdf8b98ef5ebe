"""`mysql2dynamo cutover`: live verify, fence, drain, fenced check; report the write outage (options in `cutover:`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mysql2dynamo.commands.common import (
    ConfigFailure,
    configured,
    default_of,
    mysql_url_option,
    progress_table_option,
    say,
    source_url,
    stream_name,
)
from mysql2dynamo.commands.verify import verifier
from mysql2dynamo.config import Config
from mysql2dynamo.cutover import CUTOVER_VERIFY, CutoverOptions, CutoverReport
from mysql2dynamo.fence import (
    Fence,
    FenceUsageError,
    Interrupted,
    check_hooks,
    lift_left,
    parse_accounts,
    signals_lift,
)


@click.command()
@click.option("--stream", default=None, help="The change stream (or stream.stream in the config).")
@mysql_url_option
@click.option("--max-lag-ms", default=default_of(CutoverOptions, "max_lag_ms"), show_default=True,
              help="Fence only once both lags are below this.")
@click.option("--fence-hook", default=None, help="Command that stops the application's writes (default: read_only); "
              "needs --unfence-hook.")
@click.option("--unfence-hook", default=None, help="Command that lets them resume.")
@click.option("--fence-accounts", default=None, help="Fence by locking these application accounts instead of read_only "
              "(user@host,...; user alone is user@'%'): ALTER USER ... ACCOUNT LOCK and their open sessions killed; "
              "lifting unlocks only those the fence locked.")
@click.option("--no-verify", is_flag=True, help="Skip the live verify and the fenced check.")
@click.option("--full-verify", is_flag=True, help="Verify the whole table under the fence (the outage grows with "
              "the data) instead of the keys changed since the live verify.")
@click.option("--tombstones-under-fence", is_flag=True, help="Remove delete tombstones before READY (counted in the "
              "outage) instead of after the switch.")
@click.option("--manifest", default=None, help="The bulk load's snapshot manifest: capture must have started at or "
              "before its position (checked with a progress table).")
@progress_table_option()
@click.option("--release-fence", is_flag=True, help="Lift the fence even when ready (rehearsals).")
@click.option("--lift-fence", is_flag=True, help="Only lift a fence a killed cutover left up (a cutover run lifts "
              "it too, first), and exit.")
@click.option("--report", default=None, type=click.Path(dir_okay=False), help="JSON report file.")
@configured("cutover", "stream.stream", required=True,
            help="The mysql2dynamo config: the mapping, source.mysql_url, cutover:.")
def cutover(cfg: Config, stream: str | None, mysql_url: str | None, max_lag_ms: int, fence_hook: str | None,
            unfence_hook: str | None, fence_accounts: str | None, no_verify: bool, full_verify: bool,
            tombstones_under_fence: bool, manifest: str | None, progress_table: str | None, release_fence: bool,
            lift_fence: bool, report: str | None) -> None:
    """Live verify, fence writes, drain, check the keys changed since; report the write outage."""
    import boto3

    from mysql2dynamo.cdc.progress import ProgressTable
    from mysql2dynamo.cutover import Pipeline, run_cutover
    from mysql2dynamo.state import StreamState

    try:
        accounts = parse_accounts(fence_accounts)
        check_hooks(fence_hook, unfence_hook, accounts)
        url = source_url(mysql_url, cfg)
        stream = stream_name(stream)
        if lift_fence:
            lifted = lift_left(StreamState.of(stream).fence_record, url)
            say(f"cutover: {lifted or 'no fence left up by a killed cutover'}")
            return
        Fence(url, accounts=accounts).check()  # an account that does not exist, or the cutover's own: now
    except FenceUsageError as e:
        raise ConfigFailure(str(e)) from None
    snapshot_position = None
    if manifest:
        from mysql2dynamo.cdc.snapshot.manifest import load_manifest

        snapshot_position = str(load_manifest(manifest).binlog)
    options = CutoverOptions(max_lag_ms=max_lag_ms, fence_hook=fence_hook, unfence_hook=unfence_hook,
                             fence_accounts=tuple(accounts),
                             verify=not no_verify, full_verify=full_verify,
                             tombstones_under_fence=tombstones_under_fence, release_fence=release_fence,
                             snapshot_position=snapshot_position)
    pipeline = Pipeline(stream, url, boto3.client("kinesis"), boto3.client("dynamodb"), cfg.mapping,
                        StreamState.of(stream), ProgressTable.from_env(stream, table=progress_table))
    result = CutoverReport()
    code = 1
    try:
        with signals_lift():
            verify = verifier(cfg, url, None, CUTOVER_VERIFY)
            run_cutover(pipeline, verify, options, say, result)
        code = 0 if result.ready else 1
    except Interrupted as e:
        say(f"cutover: stopped by {e}; fence {'lifted' if result.fence_lifted else 'was not raised'}")
        code = 130
    except Exception as e:
        say(f"cutover: failed: {e}; fence {'lifted' if result.fence_lifted else 'was not raised'}")
    text = json.dumps(result.as_dict(), indent=2, default=str)
    click.echo(text)
    if report:
        Path(report).write_text(text)
    sys.exit(code)
