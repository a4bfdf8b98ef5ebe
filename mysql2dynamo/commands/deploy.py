"""`mysql2dynamo deploy`: the migration's CloudFormation stack; `mysql2dynamo create-tables`: its target
tables alone. Both type the tables' keys from the mapping checked against the source's schema (as
`plan` does), so they read the source MySQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from mysql2dynamo.cdc.stream import StreamSettings
from mysql2dynamo.commands.common import (
    ConfigFailure,
    configured,
    confirm_destructive,
    connect_source,
    default_of,
    fact_options,
    from_facts,
    mysql_url_option,
    say,
    source_url,
    stream_name,
    yes_option,
)
from mysql2dynamo.config import Config
from mysql2dynamo.deploy.template import StackSettings, TableBilling
from mysql2dynamo.ground.files import is_s3


def _table_specs(cfg: Config, mysql_url: str | None, billing: TableBilling) -> list:
    from mysql2dynamo.deploy.tables import TableDesignError, table_specs
    from mysql2dynamo.keymap.checker import check
    from mysql2dynamo.keymap.schema import read_schemas

    conn = connect_source(source_url(mysql_url, cfg))
    try:
        checked = check(cfg.mapping, read_schemas(conn, cfg.mapping.sources))
    except LookupError as e:
        raise click.ClickException(str(e)) from None
    finally:
        conn.close()
    if checked.errors:
        raise click.ClickException("the mapping has errors (see `mysql2dynamo plan`):\n"
                                   + "\n".join(str(d) for d in checked.errors))
    try:
        return table_specs(checked, billing.wcu, billing.rcu, billing.warm_wcu)
    except TableDesignError as e:
        raise click.ClickException(str(e)) from None


@click.command("create-tables")
@fact_options(TableBilling)
@mysql_url_option
@configured("deploy", required=True)
def create_tables(cfg: Config, mysql_url: str | None, **values: Any) -> None:
    """Create the target tables the mapping writes (key, GSIs, TTL on _ttl); existing ones are checked."""
    import boto3

    from mysql2dynamo.deploy.tables import TableDesignError
    from mysql2dynamo.deploy.tables import create_tables as create

    specs = _table_specs(cfg, mysql_url, from_facts(TableBilling, values, "deploy"))
    try:
        created = create(boto3.client("dynamodb"), specs)
    except TableDesignError as e:
        raise click.ClickException(str(e)) from None
    for t in created:
        if t["action"] == "created" and t["ttl"] is None:
            say(f"warning: table {t['table']}: this DynamoDB endpoint has no TTL (an emulator): delete tombstones "
                "will not expire (remove them with `mysql2dynamo cleanup-tombstones`)")
    click.echo(json.dumps(created, indent=2))


@click.command()
@fact_options(StackSettings)
@click.option("--stream", default=None, help="The change stream (or stream.stream).")
@click.option("--shards", default=default_of(StreamSettings, "shards"), show_default=True,
              help="Shards of the stream (or stream.shards).")
@click.option("--retention-hours", default=default_of(StreamSettings, "retention_hours"), show_default=True,
              help="Retention of the stream (or stream.retention_hours).")
@click.option("--manifest", default=None, help="s3:// address of the snapshot manifest (or load.manifest).")
@click.option("--dead-letter", default=None, help="s3://bucket/prefix or SQS queue URL for poison records "
              "(or replay.dead_letter; default: a queue of the stack).")
@click.option("--claim-check", default=None, help="s3://bucket/prefix of the capture's claim checks "
              "(or stream.claim_check).")
@click.option("--checkpoint", default=None, help="dynamodb://TABLE/ID: the progress table is TABLE "
              "(or stream.checkpoint; default STACK-progress).")
@click.option("--template", "template_path", default=None, type=click.Path(dir_okay=False),
              help="Also write the template (JSON) here.")
@click.option("--zip", "zip_path", default=None, type=click.Path(dir_okay=False),
              help="Also write the replay package here.")
@click.option("--dry-run", is_flag=True, help="Print the stack (every resource and policy), change nothing.")
@click.option("--delete", is_flag=True, help="Delete the stack (the target tables stay).")
@click.option("--delete-tables", is_flag=True, help="With --delete: delete the target tables too.")
@yes_option
@mysql_url_option
@configured("deploy", "stream.stream", "stream.shards", "stream.retention_hours", "stream.claim_check",
            "stream.checkpoint", "load.manifest", "replay.dead_letter", required=True)
def deploy(cfg: Config, stream: str | None, shards: int, retention_hours: int, manifest: str | None,
           dead_letter: str | None, claim_check: str | None, checkpoint: str | None, template_path: str | None,
           zip_path: str | None, dry_run: bool, delete: bool, delete_tables: bool, yes: bool, mysql_url: str | None,
           **values: Any) -> None:
    """Create or update the migration's stack: stream, tables, replay Lambda, alarms, dashboard."""
    import boto3

    from mysql2dynamo.deploy.stack import Artifacts, delete_stack, deploy_stack, ensure_bucket, package_key, upload
    from mysql2dynamo.deploy.template import build_template
    from mysql2dynamo.replay.deploy import build_zip

    if delete_tables and not delete:
        raise click.UsageError("--delete-tables goes with --delete")
    if not manifest or not is_s3(manifest):
        raise ConfigFailure(f"the replay Lambda reads the snapshot manifest from S3: pass --manifest s3://... "
                            f"(or load.manifest), got {manifest!r}")
    if dead_letter and not (is_s3(dead_letter) or dead_letter.startswith("https://")):
        raise ConfigFailure(f"dead letters on AWS go to s3://bucket/prefix or an SQS queue URL, got {dead_letter!r} "
                            "(leave it out for a queue of the stack)")
    settings: StackSettings = from_facts(
        StackSettings, values, "deploy", stream=stream_name(stream), shards=shards, retention_hours=retention_hours,
        manifest=manifest, dead_letter=dead_letter, claim_check=claim_check, checkpoint=checkpoint)
    try:
        artifacts = Artifacts.of(settings.artifacts)
    except ValueError as e:
        raise ConfigFailure(f"--artifacts (deploy.artifacts): {e}") from None
    if delete:  # the tables by name: no schema needed
        tables = list(dict.fromkeys(r.target for r in cfg.mapping.rules)) if delete_tables else []
        if dry_run:
            click.echo(json.dumps({"stack": settings.name, "action": "would delete", "tables_deleted": tables}))
            return
        confirm_destructive(f"delete stack {settings.name}" + (f" and tables {', '.join(tables)}" if tables else ""),
                            yes)
        cf = boto3.client("cloudformation")
        click.echo(json.dumps(delete_stack(cf, boto3.client("dynamodb"), settings.name, tables), indent=2))
        return
    package = build_zip(Path(cfg.path))
    settings.package_key = artifacts.key(package_key(package))
    settings.tables = _table_specs(cfg, mysql_url, settings)
    template = build_template(settings)
    if template_path:
        Path(template_path).write_text(json.dumps(template, indent=2) + "\n")
    if zip_path:
        Path(zip_path).write_bytes(package)
    if dry_run:
        click.echo(json.dumps({"stack": settings.name, "package": f"s3://{artifacts.bucket}/{settings.package_key} "
                               f"({len(package):,} bytes)", "template": template}, indent=2))
        return
    cf, s3 = boto3.client("cloudformation"), boto3.client("s3")
    if ensure_bucket(s3, artifacts.bucket):
        say(f"created the artifacts bucket {artifacts.bucket}")
    upload(s3, artifacts, package_key(package), package)
    say(f"deploying stack {settings.name} (CloudFormation; this takes minutes on AWS)")
    click.echo(json.dumps(deploy_stack(cf, s3, artifacts, settings.name, template), indent=2))
