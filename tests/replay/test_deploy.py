"""`mysql2dynamo deploy`: the migration's stack from the sample config, linted with cfn-lint, deployed on
moto's CloudFormation and checked resource by resource and permission by permission; the replay package."""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from mysql2dynamo.deploy.template import WILDCARD_ACTIONS
from mysql2dynamo.ground.metrics import METRICS, NAMESPACE
from tests.conftest import unique

CLI = str(Path(sys.executable).with_name("mysql2dynamo"))
SAMPLE = Path(__file__).resolve().parents[2] / "mysql2dynamo" / "sample" / "mapping.yaml"
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


@pytest.fixture
def sample_config(tmp_path, sample_db, monkeypatch) -> tuple[Path, str, str, str]:
    """The sample config (mysql2dynamo/sample/mapping.yaml) on the test's sample database, with its own
    table, stream and bucket names and the sections deploy reads; (path, table, stream, bucket)."""
    doc = yaml.safe_load(SAMPLE.read_text())
    table, stream, bucket = unique("shop"), unique("changes"), unique("m2d-art").replace("_", "-")
    doc["tables"] = {k.replace("shop.", f"{sample_db}."): {**v, "target": table} for k, v in doc["tables"].items()}
    doc["stream"] = {"stream": stream, "shards": 3, "retention_hours": 72}
    doc["load"] = {"manifest": f"s3://{bucket}/snap/manifest.json"}
    doc["deploy"] = {"artifacts": f"s3://{bucket}/m2d/", "log_level": "DEBUG"}
    path = tmp_path / "mysql2dynamo.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False).replace(bucket, "${BUCKET}"))
    monkeypatch.setenv("BUCKET", bucket)  # the config names it as a user's would: from the environment
    return path, table, stream, bucket


def _cli(args: list[str], env: dict | None = None) -> dict:
    out = subprocess.run([CLI, *args], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def _statements(template: dict) -> dict[str, list[dict]]:
    """Every IAM policy of the template by resource (the role's inline policy, the managed policy)."""
    out = {}
    for name, r in template["Resources"].items():
        if r["Type"] == "AWS::IAM::Role":
            out[name] = [s for p in r["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
        elif r["Type"] == "AWS::IAM::ManagedPolicy":
            out[name] = r["Properties"]["PolicyDocument"]["Statement"]
    return out


def _wildcards(resource) -> bool:
    return "*" in json.dumps(resource)


def test_dry_run_prints_the_stack_which_cfn_lint_passes(sample_config, tmp_path):
    config, table, stream, bucket = sample_config
    template_file = tmp_path / "stack.json"
    printed = _cli(["deploy", "--config", str(config), "--dry-run", "--template", str(template_file)])
    template = printed["template"]
    assert json.loads(template_file.read_text()) == template
    assert printed["stack"] == f"mysql2dynamo-{stream}".replace("_", "-")  # letters a stack name may hold
    assert printed["package"].startswith(f"s3://{bucket}/m2d/replay-")
    resources = template["Resources"]
    assert {r["Type"] for r in resources.values()} == {
        "AWS::Kinesis::Stream", "AWS::Kinesis::StreamConsumer", "AWS::DynamoDB::Table", "AWS::SQS::Queue",
        "AWS::Logs::LogGroup", "AWS::IAM::Role", "AWS::IAM::ManagedPolicy", "AWS::Lambda::Function",
        "AWS::Lambda::EventSourceMapping", "AWS::SNS::Topic", "AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard"}
    assert resources["ChangeStream"]["Properties"]["ShardCount"] == 3
    target = next(r for r in resources.values() if r["Type"] == "AWS::DynamoDB::Table"
                  and r["Properties"]["TableName"] == table)
    assert target["DeletionPolicy"] == "Retain"
    props = target["Properties"]
    assert [(k["AttributeName"], k["KeyType"]) for k in props["KeySchema"]] == [("PK", "HASH"), ("SK", "RANGE")]
    assert props["GlobalSecondaryIndexes"][0]["IndexName"] == "GSI1"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "_ttl", "Enabled": True}
    progress = resources["ProgressTable"]["Properties"]
    assert progress["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    fn = resources["ReplayFunction"]["Properties"]
    assert fn["LoggingConfig"]["LogFormat"] == "JSON" and fn["LoggingConfig"]["ApplicationLogLevel"] == "DEBUG"
    esm = resources["ReplayEventSource"]["Properties"]
    assert esm["EventSourceArn"] == {"Fn::GetAtt": ["ReplayConsumer", "ConsumerARN"]}  # enhanced fan-out
    assert esm["Enabled"] is False and esm["BisectBatchOnFunctionError"] is True
    alarms = {r["Properties"]["MetricName"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert alarms == {"IteratorAge", "Errors", "DeadLetters", "ApproximateNumberOfMessagesVisible", "CaptureLagMs"}
    widgets = json.loads(resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"])["widgets"]
    ours = {m[1] for w in widgets for m in w["properties"]["metrics"] if m[0] == NAMESPACE}
    ours |= {r["Properties"]["MetricName"] for r in resources.values()
             if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"]["Namespace"] == NAMESPACE}
    assert ours == set(METRICS)  # what capture and the replay publish, and only that

    # a "*" resource only for the actions AWS grants on nothing narrower, each one named
    for policy, statements in _statements(template).items():
        for s in statements:
            for resource in s["Resource"]:
                if resource == "*":
                    assert set(s["Action"]) <= set(WILDCARD_ACTIONS), (policy, s)
                elif _wildcards(resource):
                    # the objects under an S3 prefix, the log streams of the function's own group
                    assert resource["Fn::Sub"].endswith(("/*", ":log-group:${ReplayLogGroup}:*")), (policy, s)

    lint = subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), str(template_file),
                           "--append-rules", "cfn_lint_serverless.rules"], capture_output=True, text=True)
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, "")


def _moto_policy(document) -> dict:
    """moto returns an inline policy as the Python text of the document."""
    if isinstance(document, str):
        try:
            return json.loads(document)
        except ValueError:
            return ast.literal_eval(document)
    return document


def test_the_stack_deploys_on_moto_and_each_permission_names_its_resources(local_stack, sample_config):
    import boto3

    config, table, stream, bucket = sample_config
    moto = local_stack.url(local_stack.moto_port)
    env = {**os.environ, "AWS_ENDPOINT_URL_DYNAMODB": moto, "AWS_ENDPOINT_URL_KINESIS": moto,
           "AWS_ENDPOINT_URL_CLOUDFORMATION": moto, "AWS_ENDPOINT_URL_S3": moto}
    clients = {n: boto3.client(n, endpoint_url=moto) for n in ("s3", "dynamodb", "kinesis", "lambda", "iam",
                                                                   "cloudformation", "sqs", "sns")}
    stack = unique("m2d").replace("_", "-")
    kms = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    args = ["deploy", "--config", str(config), "--stack", stack, "--consumer", "polling",  # moto has no EFO consumer
            "--on-failure", "sns", "--dead-letter", f"s3://{bucket}/dead/", "--claim-check",
            f"s3://{bucket}/claims", "--kms-key", kms]
    first = _cli(args, env)  # the artifacts bucket too, if missing: an empty account needs nothing else
    assert first["action"] == "created"
    assert clients["s3"].list_objects_v2(Bucket=bucket, Prefix="m2d/replay-")["KeyCount"] == 1
    assert first["outputs"]["Checkpoint"] == f"dynamodb://{stack}-progress/{stream}"

    summary = clients["kinesis"].describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == 3 and summary["RetentionPeriodHours"] == 72
    desc = clients["dynamodb"].describe_table(TableName=table)["Table"]
    assert [k["AttributeName"] for k in desc["KeySchema"]] == ["PK", "SK"]
    assert [(g["IndexName"], [k["AttributeName"] for k in g["KeySchema"]]) for g in desc["GlobalSecondaryIndexes"]] \
        == [("GSI1", ["GSI1PK", "GSI1SK"])]
    progress = clients["dynamodb"].describe_table(TableName=f"{stack}-progress")["Table"]
    assert progress["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]

    fn = clients["lambda"].get_function_configuration(FunctionName=f"{stack}-replay")
    assert fn["Handler"] == "mysql2dynamo.replay.handler.handler"
    assert fn["Environment"]["Variables"]["M2D_DEAD_LETTER"] == f"s3://{bucket}/dead/"
    (esm,) = clients["lambda"].list_event_source_mappings(FunctionName=f"{stack}-replay")["EventSourceMappings"]
    topic = first["outputs"]["FailedBatches"]
    assert esm["EventSourceArn"] == summary["StreamARN"] and esm["State"] == "Disabled"
    assert esm["DestinationConfig"]["OnFailure"]["Destination"] == topic and topic.startswith("arn:aws:sns:")
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"] and esm["MaximumRetryAttempts"] == 100

    role = fn["Role"].rsplit("/", 1)[1]
    policy = _moto_policy(clients["iam"].get_role_policy(RoleName=role, PolicyName="replay")["PolicyDocument"])
    arn = "arn:aws:{}:us-east-1:123456789012:{}"
    assert {s["Sid"]: (sorted(s["Action"]), s["Resource"]) for s in policy["Statement"]} == {
        "ReadChangeStream": (["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
                              "kinesis:GetShardIterator", "kinesis:ListShards"], [summary["StreamARN"]]),
        "WriteTargetTables": (["dynamodb:PutItem"], [arn.format("dynamodb", f"table/{table}")]),
        "RecordProgress": (["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                           [arn.format("dynamodb", f"table/{stack}-progress")]),
        "WriteOwnLogs": (["logs:CreateLogStream", "logs:PutLogEvents"],
                         [arn.format("logs", f"log-group:/aws/lambda/{stack}-replay:*")]),
        "ReadManifest": (["s3:GetObject"], [f"arn:aws:s3:::{bucket}/snap/manifest.json"]),
        "WriteTraces": (sorted(WILDCARD_ACTIONS), ["*"]),  # X-Ray has no resource types
        "ReadClaimChecks": (["s3:GetObject"], [f"arn:aws:s3:::{bucket}/claims/*"]),
        "WriteDeadLetters": (["s3:PutObject"], [f"arn:aws:s3:::{bucket}/dead/*"]),
        "SendFailedBatches": (["sns:Publish"], [topic]),
        "UseBucketKey": (["kms:Decrypt", "kms:GenerateDataKey"], [kms]),
    }
    capture = clients["iam"].get_policy(PolicyArn=first["outputs"]["CapturePolicyArn"])["Policy"]
    version = clients["iam"].get_policy_version(PolicyArn=capture["Arn"], VersionId=capture["DefaultVersionId"])
    document = _moto_policy(version["PolicyVersion"]["Document"])
    assert {s["Sid"]: s["Resource"] for s in document["Statement"]} == {
        "PutChanges": [summary["StreamARN"]], "Checkpoint": [arn.format("dynamodb", f"table/{stack}-progress")],
        "WriteClaimChecks": [f"arn:aws:s3:::{bucket}/claims/*"], "UseBucketKey": [kms]}

    assert _cli([*args, "--start-replay"], env)["action"] == "updated"  # after the bulk load
    (esm,) = clients["lambda"].list_event_source_mappings(FunctionName=f"{stack}-replay")["EventSourceMappings"]
    assert esm["State"] == "Enabled"
    assert _cli([*args, "--delete", "--delete-tables", "--dry-run"], env) == {
        "stack": stack, "action": "would delete", "tables_deleted": [table]}
    assert _cli([*args, "--delete", "--yes"], env) == {"stack": stack, "action": "deleted", "tables_deleted": []}
    assert clients["dynamodb"].describe_table(TableName=table)["Table"]["TableName"] == table  # kept
    assert _cli([*args, "--delete", "--delete-tables", "--yes"], env)["tables_deleted"] == [table]
    assert table not in clients["dynamodb"].list_tables()["TableNames"]


def test_package_holds_only_what_the_lambda_imports(tmp_path):
    from mysql2dynamo.replay.deploy import build_zip

    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    with zipfile.ZipFile(io.BytesIO(build_zip(config))) as z:
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
