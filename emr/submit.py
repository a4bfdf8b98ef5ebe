"""Sending a job (the bulk load, verify) to EMR or EMR Serverless: what to upload, the request,
following the step.

`mysql2dynamo emr submit` (the shell) builds the job arguments and the `emr:` settings from the
config and calls these. The uploads are local files by S3 address, and stand-ins made at submit
time (`stand_in_files`): the wheel (WHEEL), its pins (PINS, `package.pinned_requirements`), the
wheelhouse the bootstrap installs from (WHEELHOUSE, emr/wheelhouse.py) and, for a Serverless job
without `emr.serverless.python_env`, the environment archive (PYTHON_ENV, emr/pyenv.py). An upload
whose object already holds the same bytes (its sha256 in the object's metadata) is skipped: the
wheelhouse and the archive go up once.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from mysql2dynamo.emr import definitions as d
from mysql2dynamo.emr.jars import HOW, converter_jar
from mysql2dynamo.emr.package import pins_text
from mysql2dynamo.emr.pyenv import env_archive
from mysql2dynamo.emr.wheelhouse import PINS_NAME, Target, wheelhouse, wheels
from mysql2dynamo.ground.files import split_s3
from mysql2dynamo.ground.log import say
from mysql2dynamo.ground.paths import jars_dir

TERMINAL_STEP = ("COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED")
WHEEL = "<wheel>"  # the uploads' stand-in for the wheel, built or given at submit time
PINS = "<pins>"  # and for its pins, written at submit time
WHEELHOUSE = "<wheelhouse>"  # the dependencies' wheels, downloaded (or cached) at submit time
PYTHON_ENV = "<python env>"  # the Serverless environment archive, built (or cached) at submit time


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
        if not (emr.get("serverless") or {}).get("python_env"):
            uploads[PYTHON_ENV] = urls["python_env"]
        out["start_job_run"] = d.serverless_job_run(emr, urls, args, connector_url, job)
        return out
    uploads[WHEELHOUSE] = urls["wheels"]
    uploads[str(d.HERE / "bootstrap.sh")] = urls["bootstrap"]
    step = d.job_step(emr, urls, args, job)
    if cluster_id:
        out["add_job_flow_steps"] = {"JobFlowId": cluster_id, "Steps": [step]}
    else:
        out["run_job_flow"] = d.cluster_request(emr, urls, [step])
    return out


def stand_in_files(uploads: dict[str, str], emr: dict, wheel: Path, scratch: Path) -> dict[str, Path]:
    """The local file (or folder) of each stand-in among `uploads`, for the nodes' Python (`emr.python`);
    the wheelhouse is downloaded (or taken from its cache) only when something is made of it."""
    files = {WHEEL: wheel, PINS: scratch / PINS_NAME}
    files[PINS].write_text(pins_text())
    if WHEELHOUSE in uploads or PYTHON_ENV in uploads:
        target = Target.from_settings(emr)
        files[WHEELHOUSE] = wheelhouse(target)
        if PYTHON_ENV in uploads:
            files[PYTHON_ENV] = env_archive(wheel, files[WHEELHOUSE], target)
    return files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _upload_file(path: Path, bucket: str, key: str, s3) -> None:
    from botocore.exceptions import ClientError

    sha = _sha256(path)
    try:
        if s3.head_object(Bucket=bucket, Key=key).get("Metadata", {}).get("sha256") == sha:
            return
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("404", "NoSuchKey"):
            raise
    s3.upload_file(str(path), bucket, key, ExtraArgs={"Metadata": {"sha256": sha}})


def upload(uploads: dict[str, str], files: dict[str, Path], s3) -> None:
    """Upload each local file (or stand-in, by `files`) to its S3 address; a folder's wheels go under its
    address, which ends with `/`."""
    for local, url in uploads.items():
        bucket, key = split_s3(url)
        path = files.get(local, Path(local))
        for one, one_key in ([(w, key + w.name) for w in wheels(path)] if path.is_dir() else [(path, key)]):
            _upload_file(one, bucket, one_key, s3)


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
