"""`mysql2dynamo load`: the bulk load on local Spark, or the spark-submit / EMR step that runs it.

    mysql2dynamo load --manifest s3://b/snap --mapping map.yaml [--sink dynamodb] [--max-wcu 2000]
    mysql2dynamo load --config c.yaml             # the `load:` section, the config as the mapping
    mysql2dynamo load ... --print-submit          # the local spark-submit command line (Maven jars)
    mysql2dynamo load ... --emr-step s3://b/m2d/  # the EMR step (artifacts under the prefix) as JSON

The options are `jobs.bulk_load.LoadOptions`' facts: the same names, defaults and help as the job's
arguments and the config's `load:` section.
"""

from __future__ import annotations

import json
import shlex
import sys

import click

from mysql2dynamo.commands.common import RuntimeFailure, configured, fact_options, from_facts, say
from mysql2dynamo.config import Config
from mysql2dynamo.jobs.bulk_load import LoadError, LoadOptions, job_args


def load_options(cfg: Config | None, values: dict) -> LoadOptions:
    """The options from the command line and the config's `load:` section; the config is the mapping
    unless `--mapping` / `load.mapping` names another file."""
    fixed = {} if values.get("mapping") or cfg is None else {"mapping": cfg.path}
    return from_facts(LoadOptions, values, "load", **fixed)


@click.command()
@fact_options(LoadOptions)
@click.option("--master", default="local[2]", show_default=True, help="Spark master of the local run.")
@click.option("--print-submit", is_flag=True, help="Print the local spark-submit command line and exit.")
@click.option("--emr-step", "emr_artifacts", default=None, metavar="S3_PREFIX",
              help="Print the EMR step (artifacts under S3_PREFIX) and exit; `mysql2dynamo emr submit` sends it.")
@configured("load", help="The mysql2dynamo config: the mapping and the load: section.")
def load(cfg: Config | None, master: str, print_submit: bool, emr_artifacts: str | None, **values) -> None:
    """Bulk-load a snapshot into DynamoDB through the mapping (phase 3)."""
    opts = load_options(cfg, values)
    if print_submit:
        from mysql2dynamo.emr.definitions import ROOT
        from mysql2dynamo.jobs.session import spark_submit_command

        cmd = spark_submit_command(ROOT / "jobs" / "bulk_load.py", job_args(opts), master)
        click.echo(" ".join(shlex.quote(c) for c in cmd))
        return
    if emr_artifacts:
        from mysql2dynamo.emr import definitions as d

        emr = d.emr_settings(cfg.section("emr") if cfg else None, {"artifacts": emr_artifacts})
        click.echo(json.dumps(d.job_step(emr, d.artifact_urls(emr), job_args(opts)), indent=2))
        return
    from mysql2dynamo.jobs.bulk_load import run_load
    from mysql2dynamo.jobs.session import local_spark

    spark = local_spark("mysql2dynamo-load", master)
    try:
        result = run_load(spark, opts, say)
    except LoadError as e:
        raise RuntimeFailure(str(e)) from e
    click.echo(json.dumps(result))
    sys.stdout.flush()
