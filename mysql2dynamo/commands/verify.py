"""`mysql2dynamo verify`: DynamoDB against MySQL under the mapping (options in the `verify:` section)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import click

from mysql2dynamo.commands.common import configured, fact_options, from_facts, mysql_url_option, say, source_url
from mysql2dynamo.commands.global_options import wants_json
from mysql2dynamo.config import Config
from mysql2dynamo.ground.files import atomic_write
from mysql2dynamo.jobs.verify import VerifyOptions
from mysql2dynamo.state import last_verify_report


def verifier(cfg: Config, mysql_url: str, snapshot: str | None, options: VerifyOptions) -> Callable[[], dict]:
    """A function running verify on local Spark (against a fresh snapshot unless one is given)."""

    def run() -> dict:
        from mysql2dynamo.cdc.snapshot.manifest import load_manifest
        from mysql2dynamo.ground.mysql import connect
        from mysql2dynamo.jobs.session import SHORT_JOB_CONF, spark_starting
        from mysql2dynamo.jobs.spark_progress import SparkProgress
        from mysql2dynamo.jobs.verify import run_verify, temporary_snapshot

        if not snapshot:
            connect(mysql_url).close()  # a source that cannot be reached fails at once, before Spark starts
        # Spark starts (seconds) while the snapshot is taken; a failed snapshot stops it and raises its own error
        with spark_starting("mysql2dynamo-verify", **SHORT_JOB_CONF) as session, (
                nullcontext(load_manifest(snapshot)) if snapshot
                else temporary_snapshot(mysql_url, cfg.mapping, say)) as manifest:
            spark = session()
            with SparkProgress(spark, "verify"):
                report = run_verify(spark, cfg.mapping, manifest, cdc_url=mysql_url, options=options)
        say(report.text())
        result = report.as_dict()
        # for `status`: the last verify's verdict and counts, the tables it compared and when it ended
        atomic_write(last_verify_report(), json.dumps(
            {**{k: v for k, v in result.items() if k != "in_flight_keys"},
             "targets": sorted({r.target for r in cfg.mapping.rules}), "finished_at": time.time()},
            ensure_ascii=False, default=str))
        return result

    return run


@click.command()
@mysql_url_option
@click.option("--snapshot", default=None, help="Compare against this snapshot manifest instead of a fresh one.")
@fact_options(VerifyOptions)
@click.option("--report", default=None, type=click.Path(dir_okay=False), help="JSON report file.")
@configured("verify", required=True, help="The mysql2dynamo config: the mapping, source.mysql_url, verify:.")
def verify(cfg: Config, mysql_url: str | None, snapshot: str | None, report: str | None, **values) -> None:
    """Prove DynamoDB equals MySQL under the mapping: missing, extra and different items, exactly."""
    options = from_facts(VerifyOptions, values, "verify")
    result = verifier(cfg, source_url(mysql_url, cfg), snapshot, options)()
    if report:
        Path(report).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    if wants_json():
        click.echo(json.dumps(result, ensure_ascii=False))
    sys.exit(0 if result["clean"] else 1)
