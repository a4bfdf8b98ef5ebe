"""`mysql2dynamo deploy replay`: the replay Lambda and its Kinesis event source mapping."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mysql2dynamo.commands.common import configured, default_of
from mysql2dynamo.config import Config
from mysql2dynamo.replay.deploy import ReplayDeployment


@click.group()
def deploy() -> None:
    """Deploy to AWS (boto3; credentials from the environment or the AWS credential chain)."""


@deploy.command("replay")
@click.option("--function-name", default="mysql2dynamo-replay", show_default=True)
@click.option("--stream-arn", required=True)
@click.option("--table-arn", "table_arns", multiple=True, required=True, help="Target table ARN (repeatable).")
@click.option("--manifest", required=True, help="s3:// URL of the snapshot manifest.")
@click.option("--dead-letter", required=True, help="s3://bucket/prefix or SQS queue URL for poison records.")
@click.option("--on-failure-arn", required=True, help="SQS queue or SNS topic ARN for batches out of retries.")
@click.option("--batch-size", default=default_of(ReplayDeployment, "batch_size"), show_default=True)
@click.option("--parallelization-factor", default=default_of(ReplayDeployment, "parallelization_factor"),
              show_default=True)
@click.option("--max-retries", default=default_of(ReplayDeployment, "maximum_retry_attempts"), show_default=True)
@click.option("--zip", "zip_path", default=None, type=click.Path(dir_okay=False), help="Also write the package here.")
@click.option("--dry-run", is_flag=True, help="Print what would be created, change nothing.")
@configured(required=True, help="The mysql2dynamo config the function maps with (packaged in the zip).")
def deploy_replay(cfg: Config, function_name: str, stream_arn: str, table_arns: tuple[str, ...], manifest: str,
                  dead_letter: str, on_failure_arn: str, batch_size: int, parallelization_factor: int,
                  max_retries: int, zip_path: str | None, dry_run: bool) -> None:
    """Package the replay Lambda and create or update it with its Kinesis event source mapping."""
    import boto3

    from mysql2dynamo.replay.deploy import build_zip, plan
    from mysql2dynamo.replay.deploy import deploy as do_deploy

    d = ReplayDeployment(function_name, stream_arn, list(table_arns), Path(cfg.path), manifest, dead_letter,
                         on_failure_arn, batch_size=batch_size, parallelization_factor=parallelization_factor,
                         maximum_retry_attempts=max_retries)
    package = build_zip(d.config_path)
    if zip_path:
        Path(zip_path).write_bytes(package)
    if dry_run:
        click.echo(json.dumps(plan(d, package), indent=2))
        return
    click.echo(json.dumps(do_deploy(d, package, boto3.client("lambda"), boto3.client("iam")), indent=2))
