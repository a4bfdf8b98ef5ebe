"""The `mysql2dynamo` command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click

from mysql2dynamo import __version__
from mysql2dynamo.cdc.cli import stream
from mysql2dynamo.cdc.snapshot.cli import snapshot
from mysql2dynamo.cdc.stream import DEFAULT_RETENTION_HOURS
from mysql2dynamo.emr.cli import emr
from mysql2dynamo.ground.mysql import redact
from mysql2dynamo.jobs.cli import load
from mysql2dynamo.keymap.cli import keymap
from mysql2dynamo.local import stack
from mysql2dynamo.local.config import StackConfig
from mysql2dynamo.local.services import StackError
from mysql2dynamo.replay.cli import cleanup, deploy, replay


def _say(msg: str) -> None:
    click.echo(msg, err=True)


def default_mysql_url() -> str:
    """`M2D_MYSQL_URL` when set (e.g. by `eval "$(mysql2dynamo local env)"`), else the local stack."""
    return os.environ.get("M2D_MYSQL_URL") or StackConfig().mysql_url


def default_app_mysql_url() -> str:
    """The application's account: `M2D_APP_MYSQL_URL`, else the local stack's sample application."""
    return os.environ.get("M2D_APP_MYSQL_URL") or StackConfig().app_mysql_url


mysql_url_option = click.option(
    "--mysql-url", default=default_mysql_url, show_default="$M2D_MYSQL_URL or the local stack",
    help="Source MySQL as mysql://user:password@host:port/",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mysql2dynamo")
def main() -> None:
    """Move live MySQL tables into DynamoDB with a new key design, with a sub-second write pause."""


# ------------------------------------------------------------------ local


@main.group()
def local() -> None:
    """The local stack: MariaDB, DynamoDB (dynalite), Kinesis (kinesalite), S3/EMR/Lambda (moto)."""


@local.command()
def up() -> None:
    """Start every local server that is not running (idempotent); returns when all answer."""
    try:
        seconds = stack.up(StackConfig(), _say)
    except StackError as e:
        raise click.ClickException(str(e)) from e
    _say(f"local stack up in {seconds:.1f}s; point clients at it with: eval \"$(mysql2dynamo local env)\"")


@local.command()
def down() -> None:
    """Stop the local servers started by `up`; their data stays for the next `up`."""
    stack.down(StackConfig(), _say)


@local.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def local_status(as_json: bool) -> None:
    """Show each local server: pid, port, health and memory. Exit 1 if one is not healthy."""
    rows = stack.status(StackConfig())
    if as_json:
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


# ------------------------------------------------------------------ sample


@main.group()
def sample() -> None:
    """The sample shop schema (every MySQL type) and live traffic against it."""


@sample.command("create")
@click.option("--rows", default=1000, show_default=True, help="Customers; ~2 orders each, 1-4 lines per order.")
@click.option("--database", default="shop", show_default=True)
@click.option("--seed", default=42, show_default=True)
@mysql_url_option
def sample_create(rows: int, database: str, seed: int, mysql_url: str) -> None:
    """Drop and recreate DATABASE with the sample shop tables and rows."""
    from mysql2dynamo.sample.create import create_sample

    _say(f"creating sample database {database} on {redact(mysql_url)}")
    counts = create_sample(mysql_url, database, rows, seed, _say)
    click.echo(json.dumps(counts.as_dict()))


@sample.command("traffic")
@click.option("--rate", default=20.0, show_default=True, help="Transactions per second.")
@click.option("--seconds", default=10.0, show_default=True)
@click.option("--database", default="shop", show_default=True)
@click.option("--seed", default=None, type=int)
@click.option("--mysql-url", default=default_app_mysql_url, show_default="$M2D_APP_MYSQL_URL or the local stack",
              help="The application's account (writes stop when the cutover fences with read_only).")
def sample_traffic(rate: float, seconds: float, database: str, seed: int | None, mysql_url: str) -> None:
    """Insert, update (also key columns) and delete sample rows at RATE for SECONDS; print what changed."""
    from mysql2dynamo.sample.traffic import run_traffic

    try:
        stats = run_traffic(mysql_url, database, rate, seconds, seed, _say)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    click.echo(json.dumps(stats.as_dict(), indent=2))


# ------------------------------------------------------------------ phases

main.add_command(keymap)


@main.command()
@click.option("--config", required=True, type=click.Path(exists=True, dir_okay=False), help="The config YAML.")
@click.option("--stream", "stream_name", default=None, help="The change stream: its retention is checked if it exists.")
@click.option("--retention-hours", default=DEFAULT_RETENTION_HOURS, show_default=True,
              help="The retention `stream --create` will give a stream that does not exist yet.")
@click.option("--max-wcu", type=float, default=None, help="The load's write budget in WCU/s, as `load` gets it.")
@click.option("--max-items-per-second", type=float, default=None, help="The load's write budget in items/s.")
@click.option("--json", "as_json", is_flag=True, help="The plan as JSON.")
def plan(config, stream_name, retention_hours, max_wcu, max_items_per_second, as_json) -> None:
    """Before anything runs: mapping checks, binlog settings, sizes, load time vs stream retention."""
    import boto3

    from mysql2dynamo.jobs.rate import Budget
    from mysql2dynamo.keymap.cli import connect_source, load_config_or_exit
    from mysql2dynamo.plan import make_plan, render

    if max_wcu is not None and max_items_per_second is not None:
        raise click.UsageError("give --max-wcu or --max-items-per-second, not both")
    cfg = load_config_or_exit(config)
    conn = connect_source(cfg.source.mysql_url)
    try:
        result = make_plan(cfg, conn, boto3.client("dynamodb"), boto3.client("kinesis"),
                           Budget(max_items_per_second, max_wcu), stream_name, retention_hours)
    except LookupError as e:
        raise click.ClickException(str(e)) from None
    finally:
        conn.close()
    click.echo(json.dumps(result.as_dict(), indent=2) if as_json else render(result))
    sys.exit(0 if result.ok else 1)


main.add_command(stream)
main.add_command(snapshot)
main.add_command(load)
main.add_command(emr)
main.add_command(replay)
main.add_command(cleanup)
main.add_command(deploy)


# ------------------------------------------------------------------ verify, status, cutover


def _verifier(config: str, mysql_url: str, snapshot: str | None, examples: int, ignore_tombstones: bool):
    """A function running verify on local Spark (a fresh snapshot unless one is given)."""

    def run() -> dict:
        from mysql2dynamo.cdc.snapshot.manifest import load_manifest
        from mysql2dynamo.jobs.session import local_spark
        from mysql2dynamo.jobs.verify import fresh_snapshot, run_verify
        from mysql2dynamo.keymap.spec import load_mapping_file

        mapping = load_mapping_file(config)
        manifest = load_manifest(snapshot) if snapshot else fresh_snapshot(mysql_url, mapping, say=_say)
        spark = local_spark("mysql2dynamo-verify")
        report = run_verify(spark, mapping, manifest, cdc_url=mysql_url, examples=examples,
                            ignore_tombstones=ignore_tombstones)
        _say(report.text())
        return report.as_dict()

    return run


@main.command()
@click.option("--config", required=True, type=click.Path(exists=True, dir_okay=False), help="The mapping config.")
@mysql_url_option
@click.option("--snapshot", default=None, help="Compare against this snapshot manifest instead of a fresh one.")
@click.option("--examples", default=10, show_default=True, help="Differences shown per kind.")
@click.option("--ignore-tombstones", is_flag=True, help="Do not count delete tombstones as extra items.")
@click.option("--report", "report_path", default=None, type=click.Path(dir_okay=False), help="JSON report file.")
def verify(config, mysql_url, snapshot, examples, ignore_tombstones, report_path) -> None:
    """Prove DynamoDB equals MySQL under the mapping: missing, extra and different items, exactly."""
    result = _verifier(config, mysql_url, snapshot, examples, ignore_tombstones)()
    if report_path:
        Path(report_path).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    sys.exit(0 if result["clean"] else 1)


@main.command()
@click.option("--stream", "stream_name", required=True)
@mysql_url_option
@click.option("--json", "as_json", is_flag=True)
def status(stream_name, mysql_url, as_json) -> None:
    """Capture lag, replay lag (iterator age per shard), checkpoints, applied items, dead letters."""
    import boto3

    from mysql2dynamo.status import pipeline_status, status_table

    s = pipeline_status(stream_name, mysql_url, boto3.client("kinesis"))
    click.echo(json.dumps(s, indent=2, default=str) if as_json else status_table(s))


@main.command()
@click.option("--config", required=True, type=click.Path(exists=True, dir_okay=False), help="The mapping config.")
@click.option("--stream", "stream_name", required=True)
@mysql_url_option
@click.option("--max-lag-ms", default=2000, show_default=True, help="Fence only once both lags are below this.")
@click.option("--fence-hook", default=None, help="Command that stops the application's writes (default: read_only).")
@click.option("--unfence-hook", default=None, help="Command that lets them resume.")
@click.option("--no-verify", is_flag=True, help="Skip the verify after the drain.")
@click.option("--release-fence", is_flag=True, help="Lift the fence even when ready (rehearsals).")
@click.option("--report", "report_path", default=None, type=click.Path(dir_okay=False))
def cutover(config, stream_name, mysql_url, max_lag_ms, fence_hook, unfence_hook, no_verify, release_fence,
            report_path) -> None:
    """Wait for lag ~0, fence writes, drain, clean tombstones, verify; report the write pause."""
    import boto3

    from mysql2dynamo.cutover import CutoverOptions, run_cutover
    from mysql2dynamo.keymap.spec import load_mapping_file

    mapping = load_mapping_file(config)
    options = CutoverOptions(max_lag_ms=max_lag_ms, fence_hook=fence_hook, unfence_hook=unfence_hook,
                             verify=not no_verify, release_fence=release_fence)
    report = run_cutover(stream_name, mysql_url, boto3.client("kinesis"), sorted({r.target for r in mapping.rules}),
                         boto3.client("dynamodb"), _verifier(config, mysql_url, None, 10, False), options, _say)
    click.echo(json.dumps(report.as_dict(), indent=2, default=str))
    if report_path:
        Path(report_path).write_text(json.dumps(report.as_dict(), indent=2, default=str))
    sys.exit(0 if report.ready else 1)


# ------------------------------------------------------------------ demo


@main.command()
@click.option("--rows", default=1000, show_default=True, help="Sample customers to create.")
@click.option("--rate", default=20.0, show_default=True, help="Application transactions per second meanwhile.")
@click.option("--report", "report_path", default=None, type=click.Path(dir_okay=False),
              help="Write the JSON report here (default .local/demo/report.json).")
def demo(rows: int, rate: float, report_path: str | None) -> None:
    """The end-to-end migration on the local stack, with the application writing the whole time."""
    from mysql2dynamo.demo import run_demo

    path = Path(report_path) if report_path else StackConfig().home / "demo" / "report.json"
    try:
        report = run_demo(rows, rate, _say, path)
    except StackError as e:
        raise click.ClickException(str(e)) from e
    sys.exit(0 if report["verify"]["clean"] and report["cutover"]["ready"] else 1)


if __name__ == "__main__":
    main()
