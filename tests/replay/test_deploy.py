"""Deployment of the replay Lambda against moto's Lambda, IAM and SQS APIs, and its package."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import unique

CLI = str(Path(sys.executable).with_name("mysql2dynamo"))
CONFIG = """
tables:
  app.things:
    target: things
    key: {PK: "T#{id}", SK: "'ROW'"}
    rest: true
"""

COLD_START = r"""
import sys
class Block:  # what the Lambda runtime does not have
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pyarrow", "pyspark", "pandas", "numpy", "pymysql", "pymysqlreplication"):
            raise ImportError("not in the Lambda runtime: " + name)
sys.meta_path.insert(0, Block())
sys.path.insert(0, sys.argv[1])
import mysql2dynamo.replay.handler, mysql2dynamo.keymap.spec, mysql2dynamo.cdc.envelope
assert mysql2dynamo.replay.handler.__file__.startswith(sys.argv[1]), mysql2dynamo.replay.handler.__file__
mapping = mysql2dynamo.keymap.spec.load_mapping(open(sys.argv[1] + "/config/mysql2dynamo.yaml").read())
print("OK", mapping.sources)
"""


def _deploy(args: list[str]) -> dict:
    out = subprocess.run([CLI, "deploy", "replay", *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_deploy_creates_then_updates_function_role_and_mapping(local_stack, tmp_path):
    config = tmp_path / "mysql2dynamo.yaml"
    config.write_text(CONFIG)
    iam = local_stack.client("iam")
    import boto3

    moto = {"endpoint_url": local_stack.url(local_stack.moto_port), "region_name": "us-east-1",
            "aws_access_key_id": "local", "aws_secret_access_key": "local-secret"}
    kinesis = boto3.client("kinesis", **moto)
    stream = unique("changes")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    sqs = local_stack.client("sqs")
    queue = sqs.create_queue(QueueName=unique("failed"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    name = unique("replay")
    args = ["--function-name", name, "--stream-arn", stream_arn,
            "--table-arn", "arn:aws:dynamodb:us-east-1:123456789012:table/things", "--config", str(config),
            "--manifest", "s3://artifacts/snap/manifest.json", "--dead-letter", "s3://artifacts/dead-letters",
            "--on-failure-arn", queue_arn, "--batch-size", "300", "--zip", str(tmp_path / "replay.zip")]

    planned = _deploy([*args, "--dry-run"])
    lam = local_stack.client("lambda")
    assert not [f for f in lam.list_functions()["Functions"] if f["FunctionName"] == name]  # dry run: nothing
    statements = planned["role"]["Policy"]["Statement"]
    assert {"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:DescribeTable"],
            "Resource": ["arn:aws:dynamodb:us-east-1:123456789012:table/things"]} in statements
    assert all("*" not in a for s in statements for a in s["Action"])
    assert any(s["Action"] == ["s3:PutObject"] and s["Resource"] == ["arn:aws:s3:::artifacts/dead-letters/*"]
               for s in statements)

    first = _deploy(args)
    assert first["function"] == "created"
    second = _deploy([*args, "--batch-size", "200"])
    assert second["function"] == "updated" and second["EventSourceMappingUUID"] == first["EventSourceMappingUUID"]

    fn = lam.get_function_configuration(FunctionName=name)
    assert fn["Handler"] == "mysql2dynamo.replay.handler.handler" and fn["Runtime"] == "python3.11"
    assert fn["Environment"]["Variables"]["M2D_MANIFEST"] == "s3://artifacts/snap/manifest.json"
    esm = lam.get_event_source_mapping(UUID=first["EventSourceMappingUUID"])
    assert esm["EventSourceArn"] == stream_arn and esm["BatchSize"] == 200
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert esm["BisectBatchOnFunctionError"] is True and esm["MaximumRetryAttempts"] == 100
    assert esm["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn
    policy = json.loads(json.dumps(iam.get_role_policy(RoleName=f"{name}-role",
                                                               PolicyName="mysql2dynamo-replay")["PolicyDocument"]))
    assert policy == planned["role"]["Policy"]


def test_package_holds_only_what_the_lambda_imports(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    out = subprocess.run([CLI, "deploy", "replay", "--stream-arn", "arn:aws:kinesis:us-east-1:1:stream/s",
                          "--table-arn", "arn:t", "--config", str(config), "--manifest", "s3://b/m.json",
                          "--dead-letter", "s3://b/d", "--on-failure-arn", "arn:aws:sqs:us-east-1:1:q",
                          "--zip", str(tmp_path / "replay.zip"), "--dry-run"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    with zipfile.ZipFile(tmp_path / "replay.zip") as z:
        names = z.namelist()
        z.extractall(tmp_path / "pkg")
    assert {n.split("/")[0] for n in names} == {"mysql2dynamo", "yaml", "config"}
    assert {n.split("/")[1] for n in names if n.count("/") > 1 and n.startswith("mysql2dynamo/")} == {
        "ground", "cdc", "keymap", "replay"}
    assert not [n for n in names if n.endswith(".so") or "/tests/" in n]
    run = subprocess.run([sys.executable, "-I", "-c", COLD_START, str(tmp_path / "pkg")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == "OK ['app.things']"


def test_the_zip_has_the_same_sha256_when_built_twice(tmp_path):
    """Fixed timestamps, sorted entries, fixed permissions: the file times and modes on disk do not count."""
    from mysql2dynamo.replay.deploy import build_zip

    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(CONFIG)
    second.write_text(CONFIG)
    os.utime(first, (0, 0))
    second.chmod(0o600)
    digests = {hashlib.sha256(build_zip(p)).hexdigest() for p in (first, second)}
    assert len(digests) == 1
    infos = zipfile.ZipFile(io.BytesIO(build_zip(first))).infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {(i.date_time, i.external_attr >> 16) for i in infos} == {((1980, 1, 1, 0, 0, 0), 0o100644)}
