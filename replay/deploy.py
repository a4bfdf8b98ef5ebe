"""`mysql2dynamo deploy replay`: package the replay Lambda and create or update it with boto3.

The zip holds the project code the handler imports (cdc, keymap, replay), the pure-Python modules of
the distributions named in replay/requirements.txt (PyYAML) and the mapping config; boto3 comes with
the Lambda runtime. Built twice from the same tree, it has the same bytes (see `zip_bytes`). The
role gets only what the function does (see `policy`), and the Kinesis event source mapping reports
batch item failures, bisects failing batches, retries a bounded number of times and sends what
still fails to an on-failure destination. The same settings are in replay/template.yaml for SAM users.
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from mysql2dynamo.ground.files import is_s3, split_s3, zip_bytes
from mysql2dynamo.ground.paths import package_files

PACKAGES = ("cdc", "keymap", "replay")
HANDLER = "mysql2dynamo.replay.handler.handler"
CONFIG_IN_ZIP = "config/mysql2dynamo.yaml"
REQUIREMENTS = Path(__file__).resolve().parent / "requirements.txt"


@dataclass
class ReplayDeployment:
    function_name: str
    stream_arn: str
    target_table_arns: list[str]
    config_path: Path
    manifest_url: str
    dead_letter_url: str
    on_failure_arn: str  # SQS queue or SNS topic for batches that exhausted their retries
    role_name: str = ""
    batch_size: int = 500
    parallelization_factor: int = 2
    maximum_retry_attempts: int = 100
    memory_mb: int = 1024
    timeout_s: int = 120
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.role_name = self.role_name or f"{self.function_name}-role"

    @property
    def environment(self) -> dict[str, str]:
        return {"M2D_CONFIG": CONFIG_IN_ZIP, "M2D_MANIFEST": self.manifest_url,
                "M2D_DEAD_LETTER": self.dead_letter_url, **self.extra_env}

    def policy(self) -> dict:
        """The function's permissions, and nothing more."""
        buckets = sorted({split_s3(u)[0] for u in (self.manifest_url, self.dead_letter_url) if is_s3(u)})
        statements = [
            {"Effect": "Allow", "Action": ["kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:DescribeStream",
                                           "kinesis:DescribeStreamSummary", "kinesis:ListShards",
                                           "kinesis:ListStreams"], "Resource": [self.stream_arn]},
            {"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:DescribeTable"],
             "Resource": self.target_table_arns},
            {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": ["arn:aws:logs:*:*:*"]},
        ]
        if buckets:
            statements.append({"Effect": "Allow", "Action": ["s3:GetObject"],
                               "Resource": [f"arn:aws:s3:::{b}/*" for b in buckets]})
        if is_s3(self.dead_letter_url):
            bucket, prefix = split_s3(self.dead_letter_url)
            statements.append({"Effect": "Allow", "Action": ["s3:PutObject"],
                               "Resource": [f"arn:aws:s3:::{bucket}/{prefix.rstrip('/')}/*"]})
        if ":sqs:" in self.on_failure_arn:
            statements.append({"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": [self.on_failure_arn]})
        return {"Version": "2012-10-17", "Statement": statements}

    def event_source_mapping(self) -> dict:
        return {
            "EventSourceArn": self.stream_arn, "FunctionName": self.function_name,
            "StartingPosition": "TRIM_HORIZON", "BatchSize": self.batch_size,
            "ParallelizationFactor": self.parallelization_factor, "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": self.maximum_retry_attempts,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "DestinationConfig": {"OnFailure": {"Destination": self.on_failure_arn}},
        }


def vendored_files() -> list[tuple[str, Path]]:
    """(name in the zip, file) of the pure-Python modules of each distribution in requirements.txt,
    as installed here (the C extensions are built for this machine, not for the Lambda's)."""
    out = []
    for line in REQUIREMENTS.read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if not requirement:
            continue
        dist = importlib.metadata.distribution(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])
        tops = {t for t in (dist.read_text("top_level.txt") or "").split() if not t.startswith("_")}
        out += [(f.as_posix(), Path(dist.locate_file(f))) for f in dist.files or ()
                if f.suffix == ".py" and f.parts[0] in tops]
    return out


def build_zip(config_path: Path) -> bytes:
    """The deployment package: project code, the vendored requirements, the config."""
    files = [*package_files(PACKAGES), *vendored_files(), (CONFIG_IN_ZIP, Path(config_path))]
    return zip_bytes((name, path.read_bytes()) for name, path in sorted(files))


def plan(d: ReplayDeployment, package: bytes) -> dict:
    """What `deploy` would do, as data (printed by --dry-run)."""
    with zipfile.ZipFile(io.BytesIO(package)) as z:
        names = z.namelist()
    return {
        "function": {"FunctionName": d.function_name, "Runtime": "python3.11", "Handler": HANDLER,
                     "MemorySize": d.memory_mb, "Timeout": d.timeout_s, "Environment": d.environment},
        "package": {"bytes": len(package), "files": len(names),
                    "top_level": sorted({n.split("/")[0] for n in names})},
        "role": {"RoleName": d.role_name, "Policy": d.policy()},
        "event_source_mapping": d.event_source_mapping(),
    }


ASSUME_ROLE = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def deploy(d: ReplayDeployment, package: bytes, lambda_client, iam_client) -> dict:
    """Create or update the role, the function and its Kinesis event source mapping."""
    try:
        role_arn = iam_client.get_role(RoleName=d.role_name)["Role"]["Arn"]
    except iam_client.exceptions.NoSuchEntityException:
        role_arn = iam_client.create_role(RoleName=d.role_name,
                                          AssumeRolePolicyDocument=json.dumps(ASSUME_ROLE))["Role"]["Arn"]
    iam_client.put_role_policy(RoleName=d.role_name, PolicyName="mysql2dynamo-replay",
                               PolicyDocument=json.dumps(d.policy()))
    config = dict(Role=role_arn, Handler=HANDLER, Runtime="python3.11", MemorySize=d.memory_mb,
                  Timeout=d.timeout_s, Environment={"Variables": d.environment})
    try:
        lambda_client.get_function(FunctionName=d.function_name)
        lambda_client.update_function_code(FunctionName=d.function_name, ZipFile=package)
        fn = lambda_client.update_function_configuration(FunctionName=d.function_name, **config)
        action = "updated"
    except lambda_client.exceptions.ResourceNotFoundException:
        fn = lambda_client.create_function(FunctionName=d.function_name, Code={"ZipFile": package}, **config)
        action = "created"
    mapping = d.event_source_mapping()
    existing = [m for m in lambda_client.list_event_source_mappings(FunctionName=d.function_name)["EventSourceMappings"]
                if m["EventSourceArn"] == d.stream_arn]
    if existing:
        update = {k: v for k, v in mapping.items() if k not in ("EventSourceArn", "StartingPosition")}
        esm = lambda_client.update_event_source_mapping(UUID=existing[0]["UUID"], **update)
    else:
        esm = lambda_client.create_event_source_mapping(**mapping)
    return {"function": action, "FunctionArn": fn["FunctionArn"], "RoleArn": role_arn,
            "EventSourceMappingUUID": esm["UUID"]}
