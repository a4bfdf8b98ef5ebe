"""`mysql2dynamo emr submit [--dry-run]`: run the bulk load on EMR (or EMR Serverless) and follow it.

    mysql2dynamo emr submit --config mysql2dynamo.yaml [--cluster-id j-...] [--serverless] [--dry-run]

Without --cluster-id a transient cluster is created with the load as its step (run_job_flow); with
it the step is added to the running cluster (add_job_flow_steps). --dry-run prints the uploads and
the boto3 requests as JSON and sends nothing.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import click
from mysql2dynamo.emr import definitions as d
from mysql2dynamo.emr import jars
from mysql2dynamo.emr.package import wheel_name as default_wheel_name

from mysql2dynamo.ground.files import split_s3
from mysql2dynamo.ground.paths import jars_dir

TERMINAL_STEP = ("COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED")


def _say(msg: str) -> None:
    click.echo(msg, err=True)


def build_wheel(out_dir: Path) -> Path:
    from mysql2dynamo.emr.package import build_wheel as build

    return build(out_dir)


def plan(config_path: str, overrides: dict, cluster_id: str | None, serverless: bool, wheel_name: str) -> dict:
    """Everything submit does, as data: uploads (local file -> s3 url) and the request."""
    config = d.read_config(config_path)
    emr = d.emr_settings(config, overrides.get("emr"))
    urls = d.artifact_urls(emr, wheel_name, Path(config_path).name)
    load = {**(config.get("load") or {}), **(overrides.get("load") or {})}
    load.setdefault("mapping", urls["config"])
    args = d.job_args(load)
    uploads = {
        str(d.ROOT / "jobs" / "bulk_load.py"): urls["script"],
        str(jars.converter_jar()): urls["converter"],
        str(config_path): urls["config"],
    }
    out: dict = {"job_args": args, "uploads": uploads}
    if serverless:
        connector = sorted(jars_dir().glob("emr-dynamodb-hadoop-*.jar"))
        connector_url = None
        if connector:
            connector_url = urls["converter"].rsplit("/", 1)[0] + "/" + connector[-1].name
            uploads[str(connector[-1])] = connector_url
        uploads["<wheel>"] = urls["wheel"]
        out["start_job_run"] = d.serverless_job_run(emr, urls, args, connector_url)
        return out
    uploads["<wheel>"] = urls["wheel"]
    uploads[str(d.HERE / "bootstrap.sh")] = urls["bootstrap"]
    step = d.load_step(emr, urls, args)
    if cluster_id:
        out["add_job_flow_steps"] = {"JobFlowId": cluster_id, "Steps": [step]}
    else:
        out["run_job_flow"] = d.cluster_request(emr, urls, [step])
    return out


def upload(uploads: dict[str, str], wheel: Path, s3) -> None:
    for local, url in uploads.items():
        path = wheel if local == "<wheel>" else Path(local)
        s3.upload_file(str(path), *split_s3(url))


def follow_step(emr_client, cluster_id: str, step_id: str, timeout: float, poll: float = 15.0, say=_say) -> str:
    """Print the step's state changes until it ends or `timeout` seconds pass; returns the last state."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        step = emr_client.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]
        state = step["Status"]["State"]
        if state != last:
            reason = step["Status"].get("FailureDetails", {}).get("Message") or ""
            say(f"step {step_id} on {cluster_id}: {state} {reason}".rstrip())
            last = state
        if state in TERMINAL_STEP or time.monotonic() >= deadline:
            return state
        time.sleep(poll)


@click.group()
def emr() -> None:
    """Run the bulk load on Amazon EMR or EMR Serverless."""


@emr.command()
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="mysql2dynamo config: tables (mapping), load and emr sections.")
@click.option("--manifest", default=None, help="Override load.manifest.")
@click.option("--sink", default=None, type=click.Choice(["emr-connector", "dynamodb", "s3-import"]))
@click.option("--max-wcu", type=float, default=None, help="Override load.max_wcu (WCU/s for the whole job).")
@click.option("--artifacts", default=None, help="Override emr.artifacts (s3:// prefix).")
@click.option("--cluster-id", default=None, help="Add the step to this running cluster instead of a new one.")
@click.option("--serverless", is_flag=True, help="Start an EMR Serverless job run instead.")
@click.option("--wheel", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A built mysql2dynamo wheel (default: build one with pip).")
@click.option("--dry-run", is_flag=True, help="Print the uploads and boto3 requests; send nothing.")
@click.option("--follow/--no-follow", default=True, help="Follow the step until it ends.")
@click.option("--timeout", type=float, default=6 * 3600, show_default=True, help="Seconds to follow.")
@click.option("--poll", type=float, default=15.0, show_default=True)
def submit(config_path, manifest, sink, max_wcu, artifacts, cluster_id, serverless, wheel, dry_run, follow, timeout,
           poll) -> None:
    """Upload the job and submit it as an EMR step (run_job_flow / add_job_flow_steps) or Serverless run."""
    import boto3

    overrides = {"load": {k: v for k, v in (("manifest", manifest), ("sink", sink), ("max_wcu", max_wcu))
                          if v is not None},
                 "emr": {"artifacts": artifacts} if artifacts else {}}
    wheel_name = Path(wheel).name if wheel else default_wheel_name()
    try:
        p = plan(config_path, overrides, cluster_id, serverless, wheel_name)
        jars.require_converter_jar()
    except jars.JarsError as e:
        if not dry_run:
            raise click.ClickException(str(e)) from e
        _say(f"note: {e}")
    except d.EmrConfigError as e:
        raise click.ClickException(str(e)) from e
    if dry_run:
        click.echo(json.dumps(p, indent=2, default=str))
        return
    with tempfile.TemporaryDirectory() as tmp:
        wheel_path = Path(wheel) if wheel else build_wheel(Path(tmp))
        upload(p["uploads"], wheel_path, boto3.client("s3"))
    if serverless:
        es = boto3.client("emr-serverless")
        run = es.start_job_run(**p["start_job_run"])
        click.echo(json.dumps({"applicationId": run["applicationId"], "jobRunId": run["jobRunId"]}))
        return
    client = boto3.client("emr")
    if cluster_id:
        step_id = client.add_job_flow_steps(**p["add_job_flow_steps"])["StepIds"][0]
    else:
        cluster_id = client.run_job_flow(**p["run_job_flow"])["JobFlowId"]
        step_id = client.list_steps(ClusterId=cluster_id)["Steps"][0]["Id"]
    click.echo(json.dumps({"ClusterId": cluster_id, "StepId": step_id}))
    if follow:
        state = follow_step(client, cluster_id, step_id, timeout, poll)
        if state in ("FAILED", "CANCELLED", "INTERRUPTED"):
            raise click.ClickException(f"step {step_id} ended {state}; see the step's stderr under the log URI")


@emr.command("jars")
def build_jars() -> None:
    """Build mysql2dynamo-converter.jar and the jars local Spark needs (Maven, from the packaged pom)."""
    try:
        jar = jars.build_jars()
    except jars.JarsError as e:
        raise click.ClickException(str(e)) from e
    click.echo(str(jar))


@emr.command()
@click.option("--cluster-id", required=True)
@click.option("--step-id", required=True)
@click.option("--timeout", type=float, default=0, help="Follow for this many seconds (0: print once).")
@click.option("--poll", type=float, default=15.0)
def status(cluster_id, step_id, timeout, poll) -> None:
    """Show (or follow) a load step."""
    import boto3

    follow_step(boto3.client("emr"), cluster_id, step_id, timeout, poll)
