"""EMR requests of a bulk load, rendered from the config: cluster, load step, EMR Serverless job run.

The config is the mysql2dynamo YAML (`tables:` is the mapping) with two more sections:

    load:                     # the arguments of jobs/bulk_load.py (flag names with _ for -)
      manifest: s3://bucket/snap/2024-06-01
      sink: emr-connector
      max_wcu: 4000
      rejects: s3://bucket/load/rejects/
      summary: s3://bucket/load/summary.json
    emr:                      # overrides of emr/cluster.yaml
      artifacts: s3://bucket/mysql2dynamo/
      log_uri: s3://bucket/emr-logs/
      core: {instance_type: m6i.2xlarge, count: 4}

The job arguments (`jobs.bulk_load.job_args`, from the one definition of the load options) are
the same for the EMR step and the local run:
`spark-submit <EMR options> s3://.../bulk_load.py <job_args>` on EMR,
`mysql2dynamo local submit jobs/bulk_load.py <job_args>` locally.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from mysql2dynamo.emr.package import wheel_name
from mysql2dynamo.emr.pyenv import ARCHIVE_NAME
from mysql2dynamo.emr.wheelhouse import PINS_NAME, Target
from mysql2dynamo.ground.paths import CONVERTER_JAR

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CLUSTER_YAML = HERE / "cluster.yaml"
# job -> (its script, relative to the package root; the step's name)
JOBS = {"load": ("jobs/bulk_load.py", "mysql2dynamo bulk load"), "verify": ("jobs/verify.py", "mysql2dynamo verify")}
# the Python environment archive's place in a Serverless job's working folder (spark.archives ...#environment)
SERVERLESS_ENV = "environment"


class EmrConfigError(ValueError):
    pass


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def emr_settings(section: dict | None = None, overrides: dict | None = None) -> dict:
    """emr/cluster.yaml, then the config's `emr:` section, then explicit overrides."""
    base = yaml.safe_load(CLUSTER_YAML.read_text())
    return _merge(_merge(base, section or {}), overrides or {})


def artifact_urls(emr: dict, wheel: str | None = None, config_name: str = "mysql2dynamo.yaml") -> dict[str, str]:
    base = emr.get("artifacts")
    if not base or not str(base).startswith("s3://"):
        raise EmrConfigError("emr.artifacts must be an s3:// prefix (where the job, jar, wheel and config go)")
    base = str(base).rstrip("/")
    return {
        **{f"{job}_script": f"{base}/{script}" for job, (script, _) in JOBS.items()},
        "converter": f"{base}/jars/{CONVERTER_JAR}",
        "wheel": f"{base}/dist/{wheel or wheel_name()}",
        "pins": f"{base}/dist/{PINS_NAME}",
        "wheels": f"{base}/dist/wheels/",
        "python_env": f"{base}/dist/{ARCHIVE_NAME}",
        "bootstrap": f"{base}/emr/bootstrap.sh",
        "config": f"{base}/config/{config_name}",
    }


def spark_conf(emr: dict) -> dict[str, str]:
    """The step's Spark settings; without dynamic allocation, one executor per core node (EMR's
    maximizeResourceAllocation sizes it to the node) unless spark.executor.instances is given."""
    conf = {str(k): str(v) for k, v in (emr.get("spark_conf") or {}).items()}
    if conf.get("spark.dynamicAllocation.enabled") == "false":
        conf.setdefault("spark.executor.instances", str(int(emr["core"]["count"])))
    return conf


def spark_submit_args(emr: dict, urls: dict[str, str], args: list[str], job: str = "load") -> list[str]:
    """`spark-submit ...` of `job` (a key of JOBS) on EMR: the connector from the emr-ddb component, our
    converter."""
    cmd = ["spark-submit", "--deploy-mode", "cluster", "--jars", f"{emr['connector_jar']},{urls['converter']}"]
    for k, v in spark_conf(emr).items():
        cmd += ["--conf", f"{k}={v}"]
    return [*cmd, urls[f"{job}_script"], *args]


def job_step(emr: dict, urls: dict[str, str], args: list[str], job: str = "load") -> dict:
    """The EMR step of `job` (a key of JOBS) with the script's arguments `args`."""
    return {
        "Name": JOBS[job][1],
        "ActionOnFailure": "CONTINUE" if emr.get("keep_alive") else "TERMINATE_CLUSTER",
        "HadoopJarStep": {"Jar": "command-runner.jar", "Args": spark_submit_args(emr, urls, args, job)},
    }


def cluster_request(emr: dict, urls: dict[str, str], steps: list[dict]) -> dict:
    """run_job_flow(**request): Spark (with emr-ddb), primary + core groups, bootstrap, the steps."""
    interpreter = Target.from_settings(emr).interpreter
    instances = {
        "InstanceGroups": [
            {"Name": "primary", "InstanceRole": "MASTER", "Market": "ON_DEMAND",
             "InstanceType": emr["primary"]["instance_type"], "InstanceCount": 1},
            {"Name": "core", "InstanceRole": "CORE", "Market": "ON_DEMAND",
             "InstanceType": emr["core"]["instance_type"], "InstanceCount": int(emr["core"]["count"])},
        ],
        "KeepJobFlowAliveWhenNoSteps": bool(emr.get("keep_alive")),
        "TerminationProtected": False,
    }
    if emr.get("subnet_id"):
        instances["Ec2SubnetId"] = emr["subnet_id"]
    if emr.get("ec2_key_name"):
        instances["Ec2KeyName"] = emr["ec2_key_name"]
    req = {
        "Name": emr["name"],
        "ReleaseLabel": emr["release_label"],
        "Applications": [{"Name": a} for a in emr.get("applications") or ["Spark"]],
        "Instances": instances,
        "BootstrapActions": [{"Name": "install mysql2dynamo", "ScriptBootstrapAction": {
            "Path": urls["bootstrap"], "Args": [urls["wheel"], urls["pins"], urls["wheels"], interpreter]}}],
        "Configurations": _configurations(emr, interpreter),
        "Steps": steps,
        "JobFlowRole": emr["job_flow_role"],
        "ServiceRole": emr["service_role"],
        "VisibleToAllUsers": True,
        "StepConcurrencyLevel": int(emr.get("step_concurrency") or 1),
        "Tags": [{"Key": str(k), "Value": str(v)} for k, v in (emr.get("tags") or {}).items()],
    }
    if emr.get("log_uri"):
        req["LogUri"] = emr["log_uri"]
    return req


def _configurations(emr: dict, interpreter: str) -> list[dict]:
    """The cluster's configurations, with Spark's Python (spark-env PYSPARK_PYTHON) the interpreter the
    bootstrap installs into, unless the configurations set spark-env themselves."""
    given = list(emr.get("configurations") or [])
    if any(c.get("Classification") == "spark-env" for c in given):
        return given
    return [*given, {"Classification": "spark-env", "Properties": {}, "Configurations": [
        {"Classification": "export", "Properties": {"PYSPARK_PYTHON": interpreter}}]}]


def serverless_job_run(emr: dict, urls: dict[str, str], args: list[str], connector_jar: str | None = None,
                       job: str = "load") -> dict:
    """emr-serverless start_job_run(**request). Serverless has no emr-ddb component: the connector jar
    is uploaded with the artifacts (`connector_jar`, e.g. .../jars/emr-dynamodb-hadoop-5.0.0.jar); nor
    bootstrap actions: the dependencies come in a Python environment archive, `emr.serverless.python_env`,
    else the one `emr submit` builds and uploads (`urls["python_env"]`, emr/pyenv.py); the current code
    as --py-files."""
    s = emr.get("serverless") or {}
    if not s.get("application_id") or not s.get("execution_role_arn"):
        raise EmrConfigError("emr.serverless.application_id and execution_role_arn are required for --serverless")
    python_env = s.get("python_env") or urls["python_env"]
    if not str(python_env).startswith("s3://"):
        raise EmrConfigError(f"emr.serverless.python_env must be the s3:// address of a Python environment archive "
                             f"(`mysql2dynamo emr bundle --python-env`), got {python_env!r}")
    jars = ",".join(j for j in (connector_jar, urls["converter"]) if j)
    python = f"./{SERVERLESS_ENV}/bin/python"
    # Serverless sizes its own workers: no cluster shape to follow
    conf = {k: v for k, v in spark_conf(emr).items()
            if k not in ("spark.dynamicAllocation.enabled", "spark.executor.instances")}
    conf.update({"spark.archives": f"{python_env}#{SERVERLESS_ENV}",
                 "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON": python,
                 "spark.emr-serverless.driverEnv.PYSPARK_PYTHON": python, "spark.executorEnv.PYSPARK_PYTHON": python})
    params = [f"--jars {jars}"] + [f"--conf {k}={v}" for k, v in conf.items()] + [f"--py-files {urls['wheel']}"]
    req = {
        "applicationId": s["application_id"],
        "executionRoleArn": s["execution_role_arn"],
        "name": JOBS[job][1],
        "jobDriver": {"sparkSubmit": {"entryPoint": urls[f"{job}_script"], "entryPointArguments": args,
                                      "sparkSubmitParameters": " ".join(params)}},
    }
    if emr.get("log_uri"):
        req["configurationOverrides"] = {"monitoringConfiguration": {
            "s3MonitoringConfiguration": {"logUri": emr["log_uri"]}}}
    return req
