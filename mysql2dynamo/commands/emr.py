"""`mysql2dynamo emr submit|status`: run the bulk load or verify on EMR (or EMR Serverless) and follow it.

    mysql2dynamo emr submit --config mysql2dynamo.yaml [--job load|verify] [--cluster-id j-...] [--serverless]
                            [--dry-run]

Without --cluster-id a transient cluster is created with the job as its step (run_job_flow); with
it the step is added to the running cluster (add_job_flow_steps). --dry-run prints the uploads and
the boto3 requests as JSON and sends nothing. The load's arguments come from the config's `load:`
section (the config itself is the mapping), verify's from `verify:`, against the load's snapshot
(`load.manifest`); the cluster from emr/cluster.yaml and the `emr:` section. Every submit uploads
the wheel, its pins and the wheelhouse of its dependencies (emr/wheelhouse.py), which the bootstrap
installs it from without an index; a Serverless run without `emr.serverless.python_env` also the
environment archive (emr/pyenv.py) made from them.

    mysql2dynamo emr bundle OUT [--config C] [--python-env] [--python-version 3.11] [--platform TAG]
                            [--interpreter PATH]

writes the same into OUT: the wheel, pins.txt, wheels/ and, with --python-env, pyenv.tar.gz.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import click

from mysql2dynamo.commands.common import ConfigFailure, RuntimeFailure, configured
from mysql2dynamo.config import Config
from mysql2dynamo.emr import definitions as d
from mysql2dynamo.emr import jars
from mysql2dynamo.emr.package import wheel_name
from mysql2dynamo.emr.submit import follow_step, stand_in_files, submit_plan, upload
from mysql2dynamo.emr.wheelhouse import WheelhouseError
from mysql2dynamo.ground.log import say
from mysql2dynamo.ground.mysql import SECRET, redact
from mysql2dynamo.ground.options import as_arguments
from mysql2dynamo.jobs.bulk_load import SINKS, job_args
from mysql2dynamo.jobs.verify import VerifyOptions

FAILED_STEP = ("FAILED", "CANCELLED", "INTERRUPTED")


def step_mysql_url(cfg: Config) -> str | None:
    """The source URL for verify's check of rows changed since the snapshot, when it can stand on a step's
    command line (which EMR shows): no password in it (a secretsmanager:// name, RDS IAM, none)."""
    url = cfg.mysql_url
    if url and (url.startswith(SECRET) or redact(url) == url):
        return url
    if url:
        say("note: source.mysql_url holds a password, which an EMR step would show: verify runs without the "
            "check of rows changed since the snapshot; name the password as secretsmanager://NAME to have it")
    return None


def verify_args(cfg: Config, load: dict, config_url: str) -> list[str]:
    """verify.py's arguments on EMR: the config, the load's snapshot, the `verify:` settings."""
    if not load.get("manifest"):
        raise ValueError("verify on EMR compares with the load's snapshot: set load.manifest (or --manifest)")
    url = step_mysql_url(cfg)
    return ["--config", config_url, "--snapshot", load["manifest"], *(["--mysql-url", url] if url else []),
            *as_arguments(VerifyOptions, cfg.section("verify"))]


def emr_plan(cfg: Config, overrides: dict, cluster_id: str | None, serverless: bool, wheel_name: str,
             job: str = "load") -> dict:
    """The uploads and the request of a submit, from the config and the command line's overrides."""
    emr = d.emr_settings(cfg.section("emr"), overrides.get("emr"))
    urls = d.artifact_urls(emr, wheel_name, Path(cfg.path).name)
    load = {**cfg.section("load"), **overrides.get("load", {})}
    load.setdefault("mapping", urls["config"])
    args = job_args(load) if job == "load" else verify_args(cfg, load, urls["config"])
    return submit_plan(emr, urls, args, cfg.path, cluster_id, serverless, job)


@click.group()
def emr() -> None:
    """Run the bulk load on Amazon EMR or EMR Serverless."""


@emr.command()
@click.option("--job", type=click.Choice(list(d.JOBS)), default="load", show_default=True,
              help="The bulk load, or verify against the load's snapshot (load.manifest).")
@click.option("--manifest", default=None, help="Override load.manifest.")
@click.option("--sink", default=None, type=click.Choice(SINKS), help="Override load.sink.")
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
@configured(required=True, help="mysql2dynamo config: tables (mapping), load and emr sections.")
def submit(cfg: Config, job: str, manifest: str | None, sink: str | None, max_wcu: float | None,
           artifacts: str | None, cluster_id: str | None, serverless: bool, wheel: str | None, dry_run: bool,
           follow: bool, timeout: float, poll: float) -> None:
    """Upload the job, the wheel, its pins and the wheelhouse of its dependencies (Serverless: the environment
    archive) and submit it as an EMR step (run_job_flow / add_job_flow_steps) or Serverless run."""
    import boto3

    overrides = {"load": {k: v for k, v in (("manifest", manifest), ("sink", sink), ("max_wcu", max_wcu))
                          if v is not None},
                 "emr": {"artifacts": artifacts} if artifacts else {}}
    try:
        p = emr_plan(cfg, overrides, cluster_id, serverless, Path(wheel).name if wheel else wheel_name(), job)
    except ValueError as e:  # EmrConfigError, ConfigError, a bad load: setting
        raise ConfigFailure(f"{cfg.path}: {e}") from e
    try:
        jars.require_converter_jar()
    except jars.JarsError as e:
        if not dry_run:
            raise RuntimeFailure(str(e)) from e
        say(f"note: {e}")
    if dry_run:
        click.echo(json.dumps(p, indent=2, default=str))
        return
    with tempfile.TemporaryDirectory() as tmp:
        if wheel:
            wheel_path = Path(wheel)
        else:
            from mysql2dynamo.emr.package import build_wheel

            wheel_path = build_wheel(Path(tmp))
        try:
            files = stand_in_files(p["uploads"], d.emr_settings(cfg.section("emr"), overrides["emr"]), wheel_path,
                                   Path(tmp))
        except WheelhouseError as e:
            raise RuntimeFailure(str(e)) from e
        upload(p["uploads"], files, boto3.client("s3"))
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
        if state in FAILED_STEP:
            raise RuntimeFailure(f"step {step_id} ended {state}; see the step's stderr under the log URI")


@emr.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--python-env", is_flag=True,
              help="Also the EMR Serverless environment archive (pyenv.tar.gz, for emr.serverless.python_env).")
@click.option("--python-version", default=None, help="The nodes' Python (default: emr.python.version).")
@click.option("--platform", default=None, help="Their manylinux tag (default: emr.python.platform).")
@click.option("--interpreter", default=None,
              help="The path of their Python the archive links to (default: emr.python.interpreter).")
@configured(help="mysql2dynamo config whose emr: section gives the nodes' Python (default: emr/cluster.yaml).")
def bundle(cfg: Config | None, out: Path, python_env: bool, python_version: str | None, platform: str | None,
           interpreter: str | None) -> None:
    """Write into OUT the wheel, its pins (pins.txt) and the wheelhouse of its dependencies (wheels/) for the
    EMR nodes' Python, and with --python-env the Serverless environment archive made from them."""
    from mysql2dynamo.emr.package import build_wheel
    from mysql2dynamo.emr.pyenv import ARCHIVE_NAME, env_archive
    from mysql2dynamo.emr.wheelhouse import PINS_NAME, Target, copy_wheels, wheelhouse

    given = {"version": python_version, "platform": platform, "interpreter": interpreter}
    try:
        emr = d.emr_settings(cfg.section("emr") if cfg else {},
                             {"python": {k: v for k, v in given.items() if v is not None}})
        target = Target.from_settings(emr)
    except ValueError as e:
        raise ConfigFailure(str(e)) from e
    wheel = build_wheel(out)
    try:
        house = wheelhouse(target)
        made = {"wheel": str(wheel), "pins": str(out / PINS_NAME), "wheels": str(out / "wheels")}
        copy_wheels(house, out / "wheels")
        shutil.copyfile(house / PINS_NAME, out / PINS_NAME)
        if python_env:
            shutil.copyfile(env_archive(wheel, house, target), out / ARCHIVE_NAME)
            made["python_env"] = str(out / ARCHIVE_NAME)
    except WheelhouseError as e:
        raise RuntimeFailure(str(e)) from e
    click.echo(json.dumps(made))


@emr.command("jars")
def build_jars() -> None:
    """Build mysql2dynamo-converter.jar and the jars local Spark needs (Maven, from the packaged pom)."""
    try:
        click.echo(str(jars.build_jars()))
    except jars.JarsError as e:
        raise RuntimeFailure(str(e)) from e


@emr.command()
@click.option("--cluster-id", required=True)
@click.option("--step-id", required=True)
@click.option("--timeout", type=float, default=0, help="Follow for this many seconds (0: print once).")
@click.option("--poll", type=float, default=15.0)
def status(cluster_id: str, step_id: str, timeout: float, poll: float) -> None:
    """Show (or follow) a load step; exit 3 when it ended FAILED, CANCELLED or INTERRUPTED."""
    import boto3

    state = follow_step(boto3.client("emr"), cluster_id, step_id, timeout, poll)
    click.echo(json.dumps({"ClusterId": cluster_id, "StepId": step_id, "State": state}))
    if state in FAILED_STEP:
        raise RuntimeFailure(f"step {step_id} on {cluster_id} ended {state}; see the step's stderr under the log URI")
