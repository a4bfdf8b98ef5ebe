"""EMR: the requests `mysql2dynamo emr submit` sends, against moto's EMR / EMR Serverless / S3, and the
very job arguments of the EMR step run locally with spark-submit and the Maven jars."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import yaml
from click.testing import CliRunner

from mysql2dynamo import __version__
from mysql2dynamo.commands.emr import emr
from mysql2dynamo.emr import definitions as d
from mysql2dynamo.emr.submit import follow_step, stand_in_files, upload
from mysql2dynamo.jobs.bulk_load import job_args
from tests.conftest import mapping_text
from tests.load.conftest import assert_same_items, expected_items, scan

CLI = str(Path(sys.executable).with_name("mysql2dynamo"))
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    from mysql2dynamo.emr.package import build_wheel

    return build_wheel(tmp_path_factory.mktemp("wheel"))


def _config(tmp_path, db: str, table: str, bucket: str, **load) -> Path:
    doc = yaml.safe_load(mapping_text(db, table))
    doc["load"] = {"manifest": f"s3://{bucket}/snap", "sink": "emr-connector", "max_wcu": 50000,
                   "rejects": f"s3://{bucket}/load/rejects/", "summary": f"s3://{bucket}/load/summary.json", **load}
    doc["emr"] = {"artifacts": f"s3://{bucket}/m2d/", "log_uri": f"s3://{bucket}/logs/",
                  "core": {"instance_type": "m6i.2xlarge", "count": 3}}
    path = tmp_path / "mysql2dynamo.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _script_args(step_args: list[str]) -> list[str]:
    i = next(i for i, a in enumerate(step_args) if a.endswith("/jobs/bulk_load.py"))
    return step_args[i + 1:]


def test_dry_run_prints_the_requests_and_sends_nothing(local_stack, tmp_path, bucket):
    cfg = _config(tmp_path, "shop", "shop", bucket)
    emr_client = local_stack.client("emr")
    before = len(emr_client.list_clusters()["Clusters"])
    result = CliRunner().invoke(emr, ["submit", "--config", str(cfg), "--dry-run"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    req = plan["run_job_flow"]
    assert req["ReleaseLabel"] == "emr-spark-8.0.0" and req["Applications"] == [{"Name": "Spark"}]
    assert req["Instances"]["InstanceGroups"][1] == {"Name": "core", "InstanceRole": "CORE", "Market": "ON_DEMAND",
                                                     "InstanceType": "m6i.2xlarge", "InstanceCount": 3}
    boot = req["BootstrapActions"][0]["ScriptBootstrapAction"]
    assert boot == {"Path": f"s3://{bucket}/m2d/emr/bootstrap.sh",
                    "Args": [f"s3://{bucket}/m2d/dist/mysql2dynamo-{__version__}-py3-none-any.whl",
                             f"s3://{bucket}/m2d/dist/pins.txt", f"s3://{bucket}/m2d/dist/wheels/",
                             "/usr/bin/python3.11"]}
    args = req["Steps"][0]["HadoopJarStep"]["Args"]
    assert req["Steps"][0]["HadoopJarStep"]["Jar"] == "command-runner.jar"
    assert args[:5] == ["spark-submit", "--deploy-mode", "cluster", "--jars",
                        f"/usr/share/aws/emr/ddb/lib/emr-ddb-hadoop.jar,s3://{bucket}/m2d/jars/mysql2dynamo-converter.jar"]
    assert "spark.task.maxFailures=8" in args and "spark.speculation=false" in args
    assert _script_args(args) == plan["job_args"]
    assert plan["job_args"][:4] == ["--manifest", f"s3://{bucket}/snap", "--mapping",
                                    f"s3://{bucket}/m2d/config/mysql2dynamo.yaml"]
    assert "--max-wcu" in plan["job_args"]
    assert len(emr_client.list_clusters()["Clusters"]) == before


def test_submit_creates_the_cluster_then_adds_steps_on_moto(local_stack, tmp_path, bucket, wheel):
    cfg = _config(tmp_path, "shop", "shop", bucket)
    runner = CliRunner()
    result = runner.invoke(emr, ["submit", "--config", str(cfg), "--wheel", str(wheel), "--no-follow"])
    assert result.exit_code == 0, result.output
    ids = json.loads(result.output.strip().splitlines()[-1])
    client = local_stack.client("emr")
    cluster = client.describe_cluster(ClusterId=ids["ClusterId"])["Cluster"]
    assert cluster["ReleaseLabel"] == "emr-spark-8.0.0" and cluster["LogUri"] == f"s3://{bucket}/logs/"
    step = client.describe_step(ClusterId=ids["ClusterId"], StepId=ids["StepId"])["Step"]
    assert step["Config"]["Jar"] == "command-runner.jar"
    assert step["Config"]["Args"][0] == "spark-submit"
    # the artifacts the step names are on S3
    s3 = local_stack.client("s3")
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="m2d/")["Contents"]}
    assert {"m2d/jobs/bulk_load.py", "m2d/jars/mysql2dynamo-converter.jar", "m2d/config/mysql2dynamo.yaml",
            "m2d/emr/bootstrap.sh", f"m2d/dist/{wheel.name}"} <= listed
    # a second load on the running cluster: add_job_flow_steps
    result = runner.invoke(emr, ["submit", "--config", str(cfg), "--wheel", str(wheel), "--cluster-id",
                                 ids["ClusterId"], "--sink", "dynamodb", "--no-follow"])
    assert result.exit_code == 0, result.output
    second = json.loads(result.output.strip().splitlines()[-1])
    steps = client.list_steps(ClusterId=ids["ClusterId"])["Steps"]
    assert {s["Id"] for s in steps} == {ids["StepId"], second["StepId"]}
    args = client.describe_step(ClusterId=ids["ClusterId"], StepId=second["StepId"])["Step"]["Config"]["Args"]
    assert args[args.index("--sink") + 1] == "dynamodb"
    # following the step reports its state (moto's steps stay RUNNING: follow stops at the timeout)
    said: list[str] = []
    state = follow_step(client, ids["ClusterId"], second["StepId"], timeout=0.3, poll=0.1, say=said.append)
    assert state in ("PENDING", "RUNNING") and said and second["StepId"] in said[0]


def test_serverless_job_run_on_moto(local_stack, tmp_path, bucket, wheel):
    es = boto3.client("emr-serverless", endpoint_url=local_stack.url(local_stack.moto_port))
    # moto accepts only emr-X.Y.0 labels; the application's label is the user's, not ours
    app = es.create_application(name="m2d", releaseLabel="emr-7.0.0", type="SPARK")["applicationId"]
    cfg = _config(tmp_path, "shop", "shop", bucket)
    doc = yaml.safe_load(cfg.read_text())
    doc["emr"]["serverless"] = {"application_id": app, "python_env": f"s3://{bucket}/m2d/pyenv.tar.gz",
                                "execution_role_arn": "arn:aws:iam::123456789012:role/m2d-load"}
    cfg.write_text(yaml.safe_dump(doc))
    dry = CliRunner().invoke(emr, ["submit", "--config", str(cfg), "--serverless", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    req = json.loads(dry.output)["start_job_run"]
    spark_params = req["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"]
    assert f"s3://{bucket}/m2d/jars/emr-dynamodb-hadoop-5.0.0.jar" in spark_params  # no emr-ddb on Serverless
    assert req["jobDriver"]["sparkSubmit"]["entryPoint"] == f"s3://{bucket}/m2d/jobs/bulk_load.py"
    # sent through the same code path as the CLI, against moto
    uploads = json.loads(dry.output)["uploads"]
    upload(uploads, stand_in_files(uploads, d.emr_settings(doc["emr"]), wheel, tmp_path), local_stack.client("s3"))
    run = es.start_job_run(**req)
    got = es.get_job_run(applicationId=app, jobRunId=run["jobRunId"])["jobRun"]
    assert got["jobDriver"]["sparkSubmit"]["entryPointArguments"] == req["jobDriver"]["sparkSubmit"][
        "entryPointArguments"]


def test_the_emr_step_job_runs_locally_with_spark_submit(local_stack, sample_db, snapshot, bucket, dynamodb_table,
                                                         tmp_path, wheel):
    """The job arguments of the step moto's EMR holds, run by `mysql2dynamo local submit` (pyspark's
    spark-submit with the Maven connector, converter and S3A jars) against the local stack."""
    table = dynamodb_table()
    cfg = _config(tmp_path, sample_db, table, bucket, summary=f"s3://{bucket}/load/{table}.json")
    result = CliRunner().invoke(emr, ["submit", "--config", str(cfg), "--wheel", str(wheel), "--no-follow"])
    assert result.exit_code == 0, result.output
    ids = json.loads(result.output.strip().splitlines()[-1])
    step = local_stack.client("emr").describe_step(ClusterId=ids["ClusterId"], StepId=ids["StepId"])["Step"]
    job_args = _script_args(step["Config"]["Args"])

    run = subprocess.run([CLI, "local", "submit", str(ROOT / "jobs" / "bulk_load.py"), *job_args],
                         capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-4000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    # progress and done lines (spark-submit's PythonRunner merges the driver's stderr into stdout)
    assert "via emr-connector" in run.stdout and "items/s" in run.stdout
    expected, rejects = expected_items(snapshot, mapping_text(sample_db, table))
    assert_same_items(scan(local_stack.client("dynamodb"), table), expected)
    assert summary["items_out"] == len(expected) and summary["rejects"]["by_reason"] == rejects
    s3 = local_stack.client("s3")
    stored = json.loads(s3.get_object(Bucket=bucket, Key=f"load/{table}.json")["Body"].read())
    assert stored["items_out"] == summary["items_out"]
    assert s3.list_objects_v2(Bucket=bucket, Prefix="load/rejects/")["KeyCount"] > 0


def test_unknown_load_settings_are_refused():
    with pytest.raises(ValueError, match="unknown setting.*max_wcus"):
        job_args({"manifest": "s3://b/s", "mapping": "m.yaml", "max_wcus": 5})
    with pytest.raises(d.EmrConfigError, match="emr.artifacts"):
        d.artifact_urls(d.emr_settings({}))


