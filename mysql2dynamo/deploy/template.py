"""The migration's CloudFormation template, built from the config: the one place its resources and
permissions are written (`mysql2dynamo deploy` creates or updates the stack from it, `--dry-run`
prints it, `--template FILE` writes it for those who deploy with their own tools).

Invariant: every IAM statement names the resources it is for; a `*` resource only for the actions of
WILDCARD_ACTIONS, which AWS grants on no narrower resource (each with the reason); the only other
wildcards are at the end of an S3 prefix (the objects under it) and the log streams of the
function's own log group.

The stack: the Kinesis stream (shards and retention from `stream:`), the target tables (key, GSIs
and TTL from the mapping, kept when the stack is deleted), the progress/checkpoint table (string
hash key `id`: the capture checkpoint and the progress records share it), the replay Lambda with
its log group (JSON logs at a log level), an enhanced fan-out consumer (or polling), the event
source (bisect, bounded retries, on-failure destination; disabled until `--start-replay`: the bulk
load's plain puts must not overwrite replayed items), dead letters, alarms, a dashboard, and a
managed policy for the capture host.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from mysql2dynamo.ground.files import is_s3, split_s3
from mysql2dynamo.ground.metrics import DIMENSION, NAMESPACE
from mysql2dynamo.ground.options import setting
from mysql2dynamo.jobs.targets import TableSpec
from mysql2dynamo.replay.deploy import CONFIG_IN_ZIP, HANDLER

RUNTIME = "python3.12"
LOG_LEVELS = ("DEBUG", "INFO", "WARN", "ERROR")
PERIOD_S = 60
WILDCARD_ACTIONS = {  # action -> why its resource is "*"
    "xray:PutTraceSegments": "X-Ray defines no resource types: the function's traces (Tracing: Active)",
    "xray:PutTelemetryRecords": "X-Ray defines no resource types: the tracing daemon's telemetry",
}
DEAD_LETTER_QUEUE = {"cfn-lint": {"config": {"ignore_checks": ["ES6000"]}}}  # it is the dead-letter queue


@dataclass
class TableBilling:
    """How the target tables are billed (`deploy:` section; `create-tables` reads it too)."""

    wcu: int | None = setting(None, "Provisioned write capacity of the target tables (default: on demand).")
    rcu: int | None = setting(None, "Provisioned read capacity (default: the write capacity).")
    warm_wcu: int | None = setting(None, "On-demand target tables pre-warmed to this many write units/s "
                                         "(the load rate `plan` reports).")


@dataclass(kw_only=True)
class StackSettings(TableBilling):
    """The `deploy:` section (and flags); the stream, the manifest, the dead letters and the claim
    checks are the other commands' settings, read from their sections."""

    artifacts: str = setting(help="s3://bucket/prefix the replay package is uploaded to (the bucket must exist).")
    stack: str | None = setting(None, "Stack name (default mysql2dynamo-STREAM).")
    kms_key: str | None = setting(None, "ARN of the KMS key the buckets use (SSE-KMS): the replay may decrypt "
                                        "manifests and claim checks and encrypt dead letters with it.")
    consumer: str = setting("efo", "How the replay reads the stream: an enhanced fan-out consumer (its own "
                                   "2 MB/s per shard, ~70 ms delivery) or shared polling (~1 s).",
                            choices=("efo", "polling"))
    on_failure: str = setting("sqs", "Where the batches that exhausted their retries are sent.",
                              choices=("sqs", "sns"))
    log_level: str = setting("INFO", "The replay Lambda's log level (JSON logs).", choices=LOG_LEVELS)
    memory_mb: int = setting(1024, "Replay Lambda memory.")
    timeout_s: int = setting(120, "Replay Lambda timeout.")
    batch_size: int = setting(500, "Records per Lambda invocation.")
    parallelization_factor: int = setting(2, "Concurrent batches per shard (1-10). Lambda splits a shard by "
                                             "partition key (an aggregated record's is its first change's); the "
                                             "replay needs no order: its writes are guarded by _ver.")
    max_retries: int = setting(100, "Retries of a failing batch before it goes to the on-failure destination.")
    tombstone_ttl_days: float = setting(7.0, "Lifetime of delete tombstones (TTL on _ttl).")
    max_lag_ms: int = setting(60_000, "Alarm when the capture lag stays over this for 5 minutes.")
    max_iterator_age_ms: int = setting(60_000, "Alarm when the replay's IteratorAge stays over this for 5 minutes.")
    alarm_email: str | None = setting(None, "E-mail subscribed to the alarms' SNS topic.")
    start_replay: bool = setting(False, "Enable the replay's event source (after the bulk load).")
    # from the other commands' sections
    stream: str = ""
    shards: int = 2
    retention_hours: int = 24
    manifest: str = ""
    dead_letter: str | None = None  # s3://bucket/prefix or an SQS queue URL; None: a queue of the stack
    claim_check: str | None = None
    checkpoint: str | None = None  # dynamodb://table/id: the progress table's name
    tables: list[TableSpec] = field(default_factory=list)
    package_key: str = "replay.zip"  # the replay package's key in the artifacts bucket

    @property
    def name(self) -> str:
        return stack_name(self.stream, self.stack)

    @property
    def function_name(self) -> str:
        return replay_function_name(stack_name(self.stream, self.stack))

    @property
    def progress_table(self) -> str:
        if self.checkpoint and self.checkpoint.startswith("dynamodb://"):
            return self.checkpoint[len("dynamodb://"):].partition("/")[0]
        return f"{self.name}-progress"


def stack_name(stream: str, stack: str | None = None) -> str:
    """The stack's name (by default from the stream's, in the letters a stack name may hold)."""
    return stack or re.sub(r"[^A-Za-z0-9-]", "-", f"mysql2dynamo-{stream}")[:128]


def replay_function_name(stack: str) -> str:
    """The replay Lambda's name in the stack `stack` (`status` reads its IteratorAge by it)."""
    return f"{stack}-replay"[:64]


def sub(text: str) -> dict:
    return {"Fn::Sub": text}


def get_att(resource: str, attribute: str) -> dict:
    return {"Fn::GetAtt": [resource, attribute]}


def ref(resource: str) -> dict:
    return {"Ref": resource}


def s3_objects(url: str) -> dict:
    """The ARN of the objects under an s3:// prefix (or of one object, for a .json address)."""
    bucket, key = split_s3(url)
    key = key.strip("/")
    pattern = key if key.endswith(".json") else f"{key}/*" if key else "*"
    return sub(f"arn:${{AWS::Partition}}:s3:::{bucket}/{pattern}")


def sqs_arn(queue_url: str) -> dict:
    """https://sqs.REGION.amazonaws.com/ACCOUNT/NAME -> its ARN."""
    m = re.match(r"https?://sqs\.([a-z0-9-]+)\.[^/]+/(\d+)/([^/]+)$", queue_url)
    if not m:
        raise ValueError(f"not an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME): {queue_url}")
    return sub(f"arn:${{AWS::Partition}}:sqs:{m[1]}:{m[2]}:{m[3]}")


def logical_id(prefix: str, name: str, taken: dict) -> str:
    base = prefix + "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", name) if p)
    out, n = base[:200], 2
    while out in taken:
        out, n = f"{base[:200]}{n}", n + 1
    return out


def statement(sid: str, actions: list[str], resources: list) -> dict:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


def replay_statements(s: StackSettings, table_ids: list[str]) -> list[dict]:
    """The replay function's permissions, resource by resource."""
    stream_arn = get_att("ChangeStream", "Arn")
    out = [
        statement("ReadChangeStream", ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary",
                                       "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"],
                  [stream_arn]),
        statement("WriteTargetTables", ["dynamodb:PutItem"], [get_att(t, "Arn") for t in table_ids]),
        statement("RecordProgress", ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem",
                                     "dynamodb:UpdateItem"], [get_att("ProgressTable", "Arn")]),
        statement("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"],
                  [sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${ReplayLogGroup}:*")]),
        statement("ReadManifest", ["s3:GetObject"], [s3_objects(manifest_object(s.manifest))]),
        statement("WriteTraces", sorted(WILDCARD_ACTIONS), ["*"]),
    ]
    if s.consumer == "efo":
        out.insert(1, statement("ReadOwnConsumer", ["kinesis:SubscribeToShard", "kinesis:DescribeStreamConsumer"],
                                [get_att("ReplayConsumer", "ConsumerARN")]))
    if s.claim_check:
        out.append(statement("ReadClaimChecks", ["s3:GetObject"], [s3_objects(s.claim_check)]))
    if s.dead_letter and is_s3(s.dead_letter):
        out.append(statement("WriteDeadLetters", ["s3:PutObject"], [s3_objects(s.dead_letter)]))
    else:
        queue = sqs_arn(s.dead_letter) if s.dead_letter else get_att("DeadLetters", "Arn")
        out.append(statement("WriteDeadLetters", ["sqs:SendMessage"], [queue]))
    out.append(statement("SendFailedBatches", ["sqs:SendMessage"] if s.on_failure == "sqs" else ["sns:Publish"],
                         [failed_batches_arn(s)]))
    if s.kms_key:
        out.append(statement("UseBucketKey", ["kms:Decrypt", "kms:GenerateDataKey"], [s.kms_key]))
    return out


def capture_statements(s: StackSettings) -> list[dict]:
    """What `mysql2dynamo stream` needs on AWS (the stream exists: the stack made it)."""
    out = [
        statement("PutChanges", ["kinesis:DescribeStreamSummary", "kinesis:ListShards", "kinesis:PutRecord",
                                 "kinesis:PutRecords"],
                  [get_att("ChangeStream", "Arn")]),
        statement("Checkpoint", ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem",
                                 "dynamodb:UpdateItem"], [get_att("ProgressTable", "Arn")]),
    ]
    if s.claim_check:
        out.append(statement("WriteClaimChecks", ["s3:PutObject"], [s3_objects(s.claim_check)]))
        if s.kms_key:
            out.append(statement("UseBucketKey", ["kms:GenerateDataKey"], [s.kms_key]))
    return out


def manifest_object(url: str) -> str:
    return url if url.rstrip("/").endswith(".json") else url.rstrip("/") + "/manifest.json"


def failed_batches_arn(s: StackSettings) -> dict:
    return get_att("FailedBatches", "Arn") if s.on_failure == "sqs" else ref("FailedBatches")


def policy(statements: list[dict]) -> dict:
    return {"Version": "2012-10-17", "Statement": statements}


def alarm(s: StackSettings, description: str, namespace: str, metric: str, dimensions: dict, statistic: str,
          threshold: float, periods: int = 1, missing: str = "notBreaching") -> dict:
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmDescription": f"{s.name}: {description}", "Namespace": namespace, "MetricName": metric,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()], "Statistic": statistic,
        "Period": PERIOD_S, "EvaluationPeriods": periods, "Threshold": threshold,
        "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": missing,
        "AlarmActions": [ref("AlarmTopic")], "OKActions": [ref("AlarmTopic")]}}


def dashboard_body(s: StackSettings) -> dict:
    def widget(title: str, metrics: list[list], y: int, x: int, stat: str = "Sum") -> dict:
        return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6, "properties": {
            "title": title, "region": "${AWS::Region}", "stat": stat, "period": PERIOD_S, "metrics": metrics}}

    mine = [NAMESPACE]
    fn = ["AWS/Lambda"]
    tables = [["AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", t.name] for t in s.tables]
    throttles = [["AWS/DynamoDB", "WriteThrottleEvents", "TableName", t.name] for t in s.tables]
    widgets = [
        widget("Capture lag (ms)", [[*mine, "CaptureLagMs", DIMENSION, s.stream]], 0, 0, "Maximum"),
        widget("Capture rows/s and records", [[*mine, "CaptureRowsPerSecond", DIMENSION, s.stream,
                                               {"stat": "Average"}],
                                              [*mine, "CaptureRecords", DIMENSION, s.stream]], 0, 12),
        widget("Replay: applied, stale, dead letters", [[*mine, m, DIMENSION, s.stream] for m in
                                                        ("ReplayApplied", "ReplayStale", "DeadLetters")], 6, 0),
        widget("Replay IteratorAge (ms)", [[*fn, "IteratorAge", "FunctionName", s.function_name]], 6, 12, "Maximum"),
        widget("Replay errors and throttles", [[*fn, m, "FunctionName", s.function_name]
                                               for m in ("Errors", "Throttles")], 12, 0),
        widget("Target tables: consumed WCU and write throttles", tables + throttles, 12, 12),
    ]
    return {"widgets": widgets}


def build_template(s: StackSettings) -> dict[str, Any]:
    if not s.stream or not s.manifest or not s.tables:
        raise ValueError("a stack needs the stream, the snapshot manifest and at least one target table")
    resources: dict[str, Any] = {
        "ChangeStream": {"Type": "AWS::Kinesis::Stream", "Properties": {
            "Name": s.stream, "ShardCount": s.shards, "RetentionPeriodHours": s.retention_hours,
            "StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}}},
    }
    table_ids = []
    for t in s.tables:
        table_id = logical_id("Table", t.name, resources)
        table_ids.append(table_id)
        resources[table_id] = {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain",
                               "UpdateReplacePolicy": "Retain", "Properties": t.properties()}
    resources["ProgressTable"] = {"Type": "AWS::DynamoDB::Table", "Properties": TableSpec(
        s.progress_table, {"id": "S"}).properties()}
    if s.on_failure == "sqs":
        resources["FailedBatches"] = {"Type": "AWS::SQS::Queue", "Metadata": DEAD_LETTER_QUEUE, "Properties": {
            "MessageRetentionPeriod": 1_209_600, "SqsManagedSseEnabled": True}}
    else:
        resources["FailedBatches"] = {"Type": "AWS::SNS::Topic", "Properties": {
            "TopicName": f"{s.name}-failed-batches"}}
    if not s.dead_letter:
        resources["DeadLetters"] = {"Type": "AWS::SQS::Queue", "Metadata": DEAD_LETTER_QUEUE, "Properties": {
            "MessageRetentionPeriod": 1_209_600, "SqsManagedSseEnabled": True}}
    resources["ReplayLogGroup"] = {"Type": "AWS::Logs::LogGroup", "Properties": {
        "LogGroupName": f"/aws/lambda/{s.function_name}", "RetentionInDays": 30}}
    resources["ReplayRole"] = {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": policy([{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                             "Action": "sts:AssumeRole"}]),
        "Policies": [{"PolicyName": "replay", "PolicyDocument": policy(replay_statements(s, table_ids))}]}}
    resources["CapturePolicy"] = {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
        "Description": f"{s.name}: what mysql2dynamo stream needs (attach to the capture host's role)",
        "PolicyDocument": policy(capture_statements(s))}}
    bucket, _ = split_s3(s.artifacts)
    resources["ReplayFunction"] = {"Type": "AWS::Lambda::Function", "Properties": {
        "FunctionName": s.function_name, "Runtime": RUNTIME, "Handler": HANDLER,
        "Role": get_att("ReplayRole", "Arn"), "Code": {"S3Bucket": bucket, "S3Key": s.package_key},
        "MemorySize": s.memory_mb, "Timeout": s.timeout_s, "TracingConfig": {"Mode": "Active"},
        "LoggingConfig": {"LogFormat": "JSON", "ApplicationLogLevel": s.log_level, "SystemLogLevel": "WARN",
                          "LogGroup": ref("ReplayLogGroup")},
        "Environment": {"Variables": {
            "M2D_CONFIG": CONFIG_IN_ZIP, "M2D_MANIFEST": s.manifest,
            "M2D_DEAD_LETTER": s.dead_letter or ref("DeadLetters"),
            "M2D_TOMBSTONE_TTL_DAYS": str(s.tombstone_ttl_days), "M2D_PROGRESS_TABLE": ref("ProgressTable"),
            "M2D_STREAM": s.stream, "M2D_METRICS_EMF": "stdout"}}}}
    source = get_att("ChangeStream", "Arn")
    if s.consumer == "efo":
        resources["ReplayConsumer"] = {"Type": "AWS::Kinesis::StreamConsumer", "Properties": {
            "ConsumerName": s.function_name, "StreamARN": get_att("ChangeStream", "Arn")}}
        source = get_att("ReplayConsumer", "ConsumerARN")
    resources["ReplayEventSource"] = {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
        "EventSourceArn": source, "FunctionName": ref("ReplayFunction"), "Enabled": s.start_replay,
        "StartingPosition": "TRIM_HORIZON", "BatchSize": s.batch_size,
        "ParallelizationFactor": s.parallelization_factor, "BisectBatchOnFunctionError": True,
        "MaximumRetryAttempts": s.max_retries, "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "DestinationConfig": {"OnFailure": {"Destination": failed_batches_arn(s)}}}}
    topic: dict[str, Any] = {"TopicName": f"{s.name}-alarms"}
    if s.alarm_email:
        topic["Subscription"] = [{"Protocol": "email", "Endpoint": s.alarm_email}]
    resources["AlarmTopic"] = {"Type": "AWS::SNS::Topic", "Properties": topic}
    function = {"FunctionName": s.function_name}
    mine = {DIMENSION: s.stream}
    resources["IteratorAgeAlarm"] = alarm(s, "the replay is behind the stream", "AWS/Lambda", "IteratorAge",
                                          function, "Maximum", s.max_iterator_age_ms, periods=5)
    resources["ReplayErrorsAlarm"] = alarm(s, "replay invocations fail", "AWS/Lambda", "Errors", function, "Sum", 0,
                                           periods=5)
    resources["DeadLettersAlarm"] = alarm(s, "poison records went to the dead letters", NAMESPACE, "DeadLetters",
                                          mine, "Sum", 0)
    resources["FailedBatchesAlarm"] = (
        alarm(s, "batches exhausted their retries", "AWS/SQS", "ApproximateNumberOfMessagesVisible",
              {"QueueName": get_att("FailedBatches", "QueueName")}, "Maximum", 0)
        if s.on_failure == "sqs" else
        alarm(s, "batches exhausted their retries", "AWS/SNS", "NumberOfMessagesPublished",
              {"TopicName": get_att("FailedBatches", "TopicName")}, "Sum", 0))
    # no lag figure at all means capture is not running: that breaches too
    resources["CaptureLagAlarm"] = alarm(s, "capture is behind the binlog (or not running)", NAMESPACE,
                                         "CaptureLagMs", mine, "Maximum", s.max_lag_ms, periods=5, missing="breaching")
    resources["Dashboard"] = {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
        "DashboardName": s.name, "DashboardBody": sub(json.dumps(dashboard_body(s), separators=(",", ":")))}}
    outputs = {
        "StreamArn": get_att("ChangeStream", "Arn"),
        "Checkpoint": sub(f"dynamodb://${{ProgressTable}}/{s.stream}"),
        "ProgressTable": ref("ProgressTable"),
        "ReplayFunction": ref("ReplayFunction"),
        "FailedBatches": ref("FailedBatches"),
        "CapturePolicyArn": ref("CapturePolicy"),
        "AlarmTopic": ref("AlarmTopic"),
    }
    return {"AWSTemplateFormatVersion": "2010-09-09",
            "Description": f"mysql2dynamo migration {s.name}: stream {s.stream} -> "
                           f"{', '.join(t.name for t in s.tables)}",
            "Resources": resources,
            "Outputs": {k: {"Value": v} for k, v in outputs.items()}}
