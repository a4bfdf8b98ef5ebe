"""`emr submit` on moto as an AWS user checks it: the wheel and its pins in the bucket, the bootstrap
installing the wheel with those pins, verify as an EMR step, and the Serverless job carrying its
Python environment archive and its jars."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mysql2dynamo.commands.emr import emr
from mysql2dynamo.ground.paths import jars_dir
from tests.conftest import mapping_text, unique


@pytest.fixture
def bucket(local_stack) -> str:
    name = unique("emr-art").replace("_", "-")
    local_stack.client("s3").create_bucket(Bucket=name)
    return name


def config(tmp_path, bucket: str, mysql_url: str, **emr) -> str:
    doc = yaml.safe_load(mapping_text("shop", "shop"))
    doc["source"] = {"mysql_url": mysql_url}
    doc["load"] = {"manifest": f"s3://{bucket}/snap", "sink": "emr-connector"}
    doc["verify"] = {"examples": 3, "segments": 4}
    doc["emr"] = {"artifacts": f"s3://{bucket}/m2d/", **emr}
    path = tmp_path / "m2d.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def submit(*args: str) -> dict:
    result = CliRunner().invoke(emr, ["submit", "--no-follow", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def body(s3, bucket: str, key: str) -> str:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()


def test_submit_uploads_the_wheel_and_pins_the_bootstrap_installs_and_verify_runs_as_a_step(
        local_stack, tmp_path, bucket):
    out = tmp_path / "bundle"
    result = CliRunner().invoke(emr, ["bundle", str(out)])
    assert result.exit_code == 0, result.output
    wheel = json.loads(result.output)["wheel"]
    cfg = config(tmp_path, bucket, "mysql://cdc:s3cr#t@db.internal:3306/shop")
    ids = submit("--config", cfg, "--wheel", wheel)
    s3, client = local_stack.client("s3"), local_stack.client("emr")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="m2d/")["Contents"]}
    wheel_key = f"m2d/dist/{Path(wheel).name}"
    assert {wheel_key, "m2d/dist/pins.txt", "m2d/emr/bootstrap.sh", "m2d/jobs/bulk_load.py"} <= keys

    # the pins: every dependency at the version installed here, the extras' (pyspark) left out
    pins = body(s3, bucket, "m2d/dist/pins.txt").splitlines()
    for name in ("boto3", "botocore", "pymysql", "mysql-replication", "pyarrow", "pyyaml", "click", "rich"):
        assert f"{name}=={importlib.metadata.version(name)}" in pins, name
    assert all("==" in p for p in pins) and not any(p.startswith("pyspark") for p in pins)
    assert out.joinpath("pins.txt").read_text().splitlines() == pins  # `emr bundle` writes the same pins
    # pip accepts them with the wheel: everything is satisfied here, at exactly those versions
    dry = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--quiet", "--report",
                          "-", "--constraint", str(out / "pins.txt"), wheel], capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert [i["metadata"]["name"] for i in json.loads(dry.stdout)["install"]] == ["mysql2dynamo"]

    # every node runs the bootstrap with the wheel and the pins, and pip installs the wheel constrained by them
    (action,) = client.list_bootstrap_actions(ClusterId=ids["ClusterId"])["BootstrapActions"]
    assert action["ScriptPath"] == f"s3://{bucket}/m2d/emr/bootstrap.sh"
    assert action["Args"] == [f"s3://{bucket}/{wheel_key}", f"s3://{bucket}/m2d/dist/pins.txt"]
    pip_lines = [ln for ln in body(s3, bucket, "m2d/emr/bootstrap.sh").splitlines() if "pip install" in ln]
    assert pip_lines == ['sudo "$PY" -m pip install --quiet --constraint "$WORK/pins.txt" "$WORK"/*.whl']

    # verify on the same cluster, against the load's snapshot; the password-holding URL stays off the step
    step_ids = submit("--config", cfg, "--wheel", wheel, "--job", "verify", "--cluster-id", ids["ClusterId"])
    step = client.describe_step(ClusterId=ids["ClusterId"], StepId=step_ids["StepId"])["Step"]
    args = step["Config"]["Args"]
    script = args.index(f"s3://{bucket}/m2d/jobs/verify.py")
    assert step["Name"] == "mysql2dynamo verify" and args[0] == "spark-submit"
    assert args[script + 1:] == ["--config", f"s3://{bucket}/m2d/config/m2d.yaml", "--snapshot", f"s3://{bucket}/snap",
                                 "--examples", "3", "--segments", "4"]
    assert "m2d/jobs/verify.py" in {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="m2d/")["Contents"]}
    # a secretsmanager:// source can stand on the command line: verify then checks rows changed since the snapshot
    cfg = config(tmp_path, bucket, "secretsmanager://prod/shop-db")
    step_ids = submit("--config", cfg, "--wheel", wheel, "--job", "verify", "--cluster-id", ids["ClusterId"])
    args = client.describe_step(ClusterId=ids["ClusterId"], StepId=step_ids["StepId"])["Step"]["Config"]["Args"]
    assert args[args.index("--mysql-url") + 1] == "secretsmanager://prod/shop-db"


def test_serverless_ships_its_python_environment_and_jars(local_stack, tmp_path, bucket, monkeypatch):
    es = local_stack.client("emr-serverless")
    app = es.create_application(name="m2d", releaseLabel="emr-7.0.0", type="SPARK")["applicationId"]
    serverless = {"application_id": app, "execution_role_arn": "arn:aws:iam::123456789012:role/m2d"}
    cfg = config(tmp_path, bucket, "secretsmanager://prod/shop-db", serverless=serverless)
    refused = CliRunner().invoke(emr, ["submit", "--config", cfg, "--serverless", "--dry-run"])
    assert refused.exit_code != 0 and "emr.serverless.python_env must be the s3:// address" in refused.output

    env = f"s3://{bucket}/m2d/pyenv.tar.gz"
    cfg = config(tmp_path, bucket, "secretsmanager://prod/shop-db", serverless={**serverless, "python_env": env})
    run = submit("--config", cfg, "--serverless", "--job", "verify")
    got = es.get_job_run(applicationId=app, jobRunId=run["jobRunId"])["jobRun"]["jobDriver"]["sparkSubmit"]
    assert got["entryPoint"] == f"s3://{bucket}/m2d/jobs/verify.py"
    params = got["sparkSubmitParameters"].split(" --")
    assert f"conf spark.archives={env}#environment" in params
    assert {"conf spark.emr-serverless.driverEnv.PYSPARK_PYTHON=./environment/bin/python",
            "conf spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON=./environment/bin/python",
            "conf spark.executorEnv.PYSPARK_PYTHON=./environment/bin/python"} <= set(params)
    jars = params[0].removeprefix("--jars ").split(",")
    assert jars == [f"s3://{bucket}/m2d/jars/emr-dynamodb-hadoop-5.0.0.jar",
                    f"s3://{bucket}/m2d/jars/mysql2dynamo-converter.jar"]
    keys = {o["Key"] for o in local_stack.client("s3").list_objects_v2(Bucket=bucket, Prefix="m2d/")["Contents"]}
    assert {"m2d/jars/emr-dynamodb-hadoop-5.0.0.jar", "m2d/jars/mysql2dynamo-converter.jar", "m2d/dist/pins.txt",
            "m2d/jobs/verify.py"} <= keys

    # without the connector jar built, Serverless is refused rather than sent without it
    jars_only_converter = tmp_path / "jars"
    jars_only_converter.mkdir()
    shutil.copy(jars_dir() / "mysql2dynamo-converter.jar", jars_only_converter)
    monkeypatch.setenv("M2D_JARS", str(jars_only_converter))
    refused = CliRunner().invoke(emr, ["submit", "--config", cfg, "--serverless", "--dry-run"])
    assert refused.exit_code != 0 and "no emr-dynamodb-hadoop jar in" in refused.output
    assert "mysql2dynamo emr jars" in refused.output
