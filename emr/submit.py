"""Sending a job (the bulk load, verify) to EMR or EMR Serverless: what to upload, the request,
following the step.

`mysql2dynamo emr submit` (the shell) builds the job arguments and the `emr:` settings from the
config and calls these. The uploads are local files by S3 address, and two stand-ins made at submit
time: the wheel (WHEEL) and its pins (PINS, `package.pinned_requirements`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from mysql2dynamo.emr import definitions as d
from mysql2dynamo.emr.jars import HOW, converter_jar
from mysql2dynamo.emr.package import pins_text
from mysql2dynamo.ground.files import split_s3
from mysql2dynamo.ground.log import say
from mysql2dynamo.ground.paths import jars_dir

TERMINAL_STEP = ("COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED")
WHEEL = "<wheel>"  # the uploads' stand-in for the wheel, built or given at submit time
PINS = "<pins>"  # and for its pins, written at submit time


def submit_plan(emr: dict, urls: dict[str, str], args: list[str], config_path: str | Path, cluster_id: str | None,
                serverless: bool, job: str = "load") -> dict:
    """Everything submit does, as data: uploads (local file -> s3 url) and the request."""
    uploads = {
        str(d.ROOT / d.JOBS[job][0]): urls[f"{job}_script"],
        str(converter_jar()): urls["converter"],
        str(config_path): urls["config"],
        WHEEL: urls["wheel"],
        PINS: urls["pins"],
    }
    out: dict = {"job_args": args, "uploads": uploads}
    if serverless:
        connector = sorted(jars_dir().glob("emr-dynamodb-hadoop-*.jar"))
        if not connector:
            raise d.EmrConfigError(f"no emr-dynamodb-hadoop jar in {jars_dir()} (Serverless has no emr-ddb "
                                   f"component, the job brings the connector): {HOW}")
        connector_url = urls["converter"].rsplit("/", 1)[0] + "/" + connector[-1].name
        uploads[str(connector[-1])] = connector_url
        out["start_job_run"] = d.serverless_job_run(emr, urls, args, connector_url, job)
        return out
    uploads[str(d.HERE / "bootstrap.sh")] = urls["bootstrap"]
    step = d.job_step(emr, urls, args, job)
    if cluster_id:
        out["add_job_flow_steps"] = {"JobFlowId": cluster_id, "Steps": [step]}
    else:
        out["run_job_flow"] = d.cluster_request(emr, urls, [step])
    return out


def upload(uploads: dict[str, str], wheel: Path, s3) -> None:
    for local, url in uploads.items():
        bucket, key = split_s3(url)
        if local == PINS:
            s3.put_object(Bucket=bucket, Key=key, Body=pins_text().encode())
        else:
            s3.upload_file(str(wheel if local == WHEEL else Path(local)), bucket, key)


def follow_step(emr_client, cluster_id: str, step_id: str, timeout: float, poll: float = 15.0,
                say: Callable[[str], None] = say) -> str:
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
