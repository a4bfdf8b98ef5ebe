"""`eval "$(mysql2dynamo local env)"` points every AWS client the tool makes at the local stack: each
service named in a `boto3.client("...")` of the code resolves there in a fresh shell (none goes to AWS),
and the ones the tool reads secrets and metrics from answer."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import unique

CLI = str(Path(sys.executable).with_name("mysql2dynamo"))
ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("mysql2dynamo", "cdc", "jobs", "replay", "emr", "keymap")

CLIENTS = r"""
import json, sys, boto3
names, secret = json.loads(sys.argv[1]), sys.argv[2]
sm = boto3.client("secretsmanager")
sm.create_secret(Name=secret, SecretString="mysql://u:p@h/db")
cw = boto3.client("cloudwatch")
cw.put_metric_data(Namespace="mysql2dynamo", MetricData=[{"MetricName": "ReplayApplied", "Value": 3}])
print(json.dumps({
    "endpoints": {n: boto3.client(n).meta.endpoint_url for n in names},
    "secret": sm.get_secret_value(SecretId=secret)["SecretString"],
    "metrics": [m["MetricName"] for m in cw.list_metrics(Namespace="mysql2dynamo")["Metrics"]],
    "logs": type(boto3.client("logs").describe_log_groups()["logGroups"]).__name__,
}))
"""


def used_clients() -> set[str]:
    found = set()
    for folder in SOURCES:
        for path in (ROOT / folder).rglob("*.py"):
            found |= set(re.findall(r"""\bclient\(\s*["']([a-z0-9-]+)["']""", path.read_text()))
    return found


def test_local_env_points_every_client_of_the_tool_at_the_stack(local_stack, tmp_path):
    names = sorted(used_clients())
    assert {"secretsmanager", "emr-serverless", "cloudformation", "s3", "dynamodb", "kinesis"} <= set(names)
    names.remove("rds")  # only signs IAM tokens locally (generate_db_auth_token): never called
    script = tmp_path / "clients.py"
    script.write_text(CLIENTS)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "M2D_"))}
    clean["HOME"] = str(tmp_path)  # no ~/.aws either
    for port in ("M2D_MYSQL_PORT", "M2D_DYNAMODB_PORT", "M2D_KINESIS_PORT", "M2D_MOTO_PORT"):
        if port in os.environ:
            clean[port] = os.environ[port]
    secret = unique("env-secret")
    run = subprocess.run(["bash", "-c", f'eval "$({CLI} local env)" && {sys.executable} {script} "$0" "$1"',
                          json.dumps(names), secret], env=clean, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    local = {"dynamodb": local_stack.url(local_stack.dynamodb_port),
             "kinesis": local_stack.url(local_stack.kinesis_port)}
    assert out["endpoints"] == {n: local.get(n, local_stack.url(local_stack.moto_port)) for n in names}
    assert out["secret"] == "mysql://u:p@h/db" and "ReplayApplied" in out["metrics"] and out["logs"] == "list"
