"""`emr submit` on moto as an AWS user checks it: the wheel, its pins and the wheelhouse in the bucket,
the bootstrap run as EMR runs it installing them into a bare Python with no package index reachable,
verify as an EMR step, and the Serverless job carrying its jars and the Python environment archive
submit built, unpacked and run. The nodes' Python is this machine's (`node_target`): the code path is
the one of EMR's default (emr/cluster.yaml `python:`) with other values."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from packaging.tags import sys_tags

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


def node_target(interpreter: Path) -> dict:
    """The `emr.python` of a node like this machine: its Python, its newest manylinux tag, `interpreter`."""
    platform = next(t.platform for t in sys_tags() if t.platform.startswith("manylinux_2_"))
    return {"version": f"{sys.version_info.major}.{sys.version_info.minor}", "platform": platform,
            "interpreter": str(interpreter)}


def no_index_environment() -> dict[str, str]:
    """This environment with every package index out of reach: pip may only use what it is given."""
    env = {k: v for k, v in os.environ.items() if k != "PIP_FIND_LINKS"}
    return {**env, "PIP_INDEX_URL": "http://127.0.0.1:9/", "PIP_RETRIES": "0", "PIP_TIMEOUT": "1"}


def test_the_bootstrap_installs_from_the_uploaded_wheelhouse_with_no_index_and_verify_runs_as_a_step(
        local_stack, tmp_path, bucket, monkeypatch):
    # a node: a bare Python (no pip, no packages) the bootstrap must install into
    node = tmp_path / "node"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(node)], check=True)
    python = node / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    cfg = config(tmp_path, bucket, "mysql://cdc:s3cr#t@db.internal:3306/shop", python=node_target(python))
    out = tmp_path / "bundle"
    result = CliRunner().invoke(emr, ["bundle", str(out), "--config", cfg])
    assert result.exit_code == 0, result.output
    made = json.loads(result.output.strip().splitlines()[-1])
    wheel = made["wheel"]
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
    assert Path(made["pins"]).read_text().splitlines() == pins  # `emr bundle` writes the same pins
    # the wheelhouse: a wheel of each pin (and of pip, which the bootstrap runs from it), bundled and uploaded
    bundled = sorted(p.name for p in Path(made["wheels"]).iterdir())
    assert sorted(k.removeprefix("m2d/dist/wheels/") for k in keys if k.startswith("m2d/dist/wheels/")) == bundled
    names = {re.sub(r"[-_.]+", "-", n.split("-")[0]).lower() for n in bundled}
    assert names == {p.split("==")[0] for p in pins} | {"pip"}

    # every node runs the bootstrap with the wheel, the pins, the wheelhouse and its Python, which Spark runs
    (action,) = client.list_bootstrap_actions(ClusterId=ids["ClusterId"])["BootstrapActions"]
    assert action["ScriptPath"] == f"s3://{bucket}/m2d/emr/bootstrap.sh"
    assert action["Args"] == [f"s3://{bucket}/{wheel_key}", f"s3://{bucket}/m2d/dist/pins.txt",
                              f"s3://{bucket}/m2d/dist/wheels/", str(python)]
    dry = CliRunner().invoke(emr, ["submit", "--config", cfg, "--dry-run"])
    spark_env = [c for c in json.loads(dry.output)["run_job_flow"]["Configurations"]
                 if c["Classification"] == "spark-env"]
    assert spark_env[0]["Configurations"][0]["Properties"] == {"PYSPARK_PYTHON": str(python)}
    # ... run here as EMR runs it (the aws CLI fetching from the S3 of the local stack), with no index reachable
    script = tmp_path / "bootstrap.sh"
    script.write_text(body(s3, bucket, "m2d/emr/bootstrap.sh"))
    boot = subprocess.run(["bash", str(script), *action["Args"]], capture_output=True, text=True,
                          env=no_index_environment(), cwd=tmp_path)
    assert boot.returncode == 0, boot.stderr
    assert boot.stdout.strip().endswith("mysql2dynamo installed: ok")
    installed = subprocess.run([str(python), "-c", "import importlib.metadata as m, mysql2dynamo.keymap, "
                                "mysql2dynamo.jobs, mysql2dynamo.cdc; print(m.version('pyarrow'), m.version('boto3'))"],
                               capture_output=True, text=True, cwd=tmp_path)  # not the checkout's mysql2dynamo/
    assert installed.returncode == 0, installed.stderr
    assert installed.stdout.split() == [importlib.metadata.version("pyarrow"), importlib.metadata.version("boto3")]

    # verify on the same cluster, against the load's snapshot; the password-holding URL stays off the step. This
    # second submit downloads nothing (the wheelhouse comes from its cache, with every index out of reach) and
    # sends no wheel again (a versioned bucket would hold a second version of each)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for name, value in no_index_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    second = CliRunner().invoke(emr, ["submit", "--no-follow", "--config", cfg, "--wheel", wheel, "--job", "verify",
                                      "--cluster-id", ids["ClusterId"]])
    assert second.exit_code == 0 and "(cached)" in second.output, second.output
    step_ids = json.loads(second.output.strip().splitlines()[-1])
    versions = s3.list_object_versions(Bucket=bucket, Prefix="m2d/")["Versions"]
    sent = [v["Key"] for v in versions if v["Key"].startswith("m2d/dist/")]
    assert sorted(sent) == sorted({*sent})
    step = client.describe_step(ClusterId=ids["ClusterId"], StepId=step_ids["StepId"])["Step"]
    args = step["Config"]["Args"]
    script = args.index(f"s3://{bucket}/m2d/jobs/verify.py")
    assert step["Name"] == "mysql2dynamo verify" and args[0] == "spark-submit"
    assert args[script + 1:] == ["--config", f"s3://{bucket}/m2d/config/m2d.yaml", "--snapshot", f"s3://{bucket}/snap",
                                 "--examples", "3", "--segments", "4"]
    assert "m2d/jobs/verify.py" in {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="m2d/")["Contents"]}
    # a secretsmanager:// source can stand on the command line: verify then checks rows changed since the snapshot
    cfg = config(tmp_path, bucket, "secretsmanager://prod/shop-db", python=node_target(python))
    step_ids = submit("--config", cfg, "--wheel", wheel, "--job", "verify", "--cluster-id", ids["ClusterId"])
    args = client.describe_step(ClusterId=ids["ClusterId"], StepId=step_ids["StepId"])["Step"]["Config"]["Args"]
    assert args[args.index("--mysql-url") + 1] == "secretsmanager://prod/shop-db"


def test_serverless_ships_its_python_environment_and_jars(local_stack, tmp_path, bucket, monkeypatch):
    es = local_stack.client("emr-serverless")
    app = es.create_application(name="m2d", releaseLabel="emr-7.0.0", type="SPARK")["applicationId"]
    serverless = {"application_id": app, "execution_role_arn": "arn:aws:iam::123456789012:role/m2d"}
    # Python as on this machine (the archive links to it), not Amazon Linux's /usr/bin/python3.11
    here = node_target(Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}")
    refused = CliRunner().invoke(emr, ["submit", "--config", config(
        tmp_path, bucket, "secretsmanager://prod/shop-db", serverless={**serverless, "python_env": "b/pyenv.tar.gz"}),
        "--serverless", "--dry-run"])
    assert refused.exit_code != 0 and "emr.serverless.python_env must be the s3:// address" in refused.output
    cfg = config(tmp_path, bucket, "secretsmanager://prod/shop-db", serverless=serverless, python=here)

    # no emr.serverless.python_env: submit builds the environment archive from the wheelhouse, uploads it, names it
    run = submit("--config", cfg, "--serverless")
    got = es.get_job_run(applicationId=app, jobRunId=run["jobRunId"])["jobRun"]["jobDriver"]["sparkSubmit"]
    built = f"s3://{bucket}/m2d/dist/pyenv.tar.gz"
    assert f"conf spark.archives={built}#environment" in got["sparkSubmitParameters"].split(" --")
    archive = tmp_path / "pyenv.tar.gz"
    local_stack.client("s3").download_file(bucket, "m2d/dist/pyenv.tar.gz", str(archive))
    # ... which Spark unpacks into ./environment and starts ./environment/bin/python from: mysql2dynamo and its
    # pinned dependencies import, from the archive's own site-packages
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "environment", filter="tar")
    ran = subprocess.run(["./environment/bin/python", "-c", "import sys, importlib.metadata as m, mysql2dynamo.keymap, "
                          "mysql2dynamo.jobs, mysql2dynamo.cdc; print(sys.prefix, m.version('pyarrow'))"],
                         cwd=tmp_path, capture_output=True, text=True, env=no_index_environment())
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == [str(tmp_path / "environment"), importlib.metadata.version("pyarrow")]
    # `emr bundle --python-env` makes the very same archive
    bundled = CliRunner().invoke(emr, ["bundle", str(tmp_path / "out"), "--config", cfg, "--python-env"])
    assert bundled.exit_code == 0, bundled.output
    assert Path(json.loads(bundled.output.strip().splitlines()[-1])["python_env"]).read_bytes() == archive.read_bytes()

    # a python_env given is used as it is
    env = f"s3://{bucket}/m2d/pyenv.tar.gz"
    cfg = config(tmp_path, bucket, "secretsmanager://prod/shop-db", serverless={**serverless, "python_env": env},
                 python=here)
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
