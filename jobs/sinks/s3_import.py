"""The `s3-import` sink: DynamoDB JSON (gzip) files on S3 + DynamoDB ImportTable (a new table).

Files hold one `{"Item": {...}}` per line (DynamoDB JSON, the format ImportTable's
`InputFormat=DYNAMODB_JSON` reads), gzip-compressed, under one prefix per target table and nothing
else (no `_SUCCESS` marker: ImportTable reads every object under the prefix). The import creates
the table itself (it must not exist) and consumes no write capacity; key attribute names and types
come from the mapping's key rules, GSIs and billing from an optional table definition.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from mysql2dynamo.ground.files import read_text, split_s3
from mysql2dynamo.jobs.session import spark_url
from mysql2dynamo.keymap.checked import CheckedMapping
from mysql2dynamo.keymap.item_rules import KEY_KINDS

from .base import SinkResult, WriteJob
from .dynamodb import make_client

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")


class ImportError_(RuntimeError):  # noqa: N801 - not the builtin
    pass


def target_prefix(base: str, target: str) -> str:
    return base.rstrip("/") + "/" + target + "/"


def key_schema(checked: CheckedMapping, target: str) -> list[tuple[str, str]]:
    """[(attribute, S|N|B)] of the target's key, the same for every rule writing that table."""
    found: list[tuple[str, str]] | None = None
    for cr in checked.rules:
        if cr.rule.target != target:
            continue
        keys = [(a.name, KEY_KINDS.get(a.type.kind, "S")) for a in cr.keys]
        if found is not None and keys != found:
            raise ValueError(f"rules writing {target} disagree on its key: {found} vs {keys} (rule {cr.rule.name})")
        found = keys
    if found is None:
        raise ValueError(f"no rule writes {target}")
    return found


def table_creation_parameters(target: str, keys: list[tuple[str, str]], definition: dict | None = None) -> dict:
    """TableCreationParameters: the key from the mapping; billing, GSIs, SSE from `definition`."""
    definition = dict(definition or {})
    attrs = {name: kind for name, kind in keys}
    for a in definition.pop("AttributeDefinitions", []):
        attrs.setdefault(a["AttributeName"], a["AttributeType"])
    params = {
        "TableName": target,
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in attrs.items()],
        "KeySchema": [{"AttributeName": n, "KeyType": kt} for (n, _), kt in zip(keys, ("HASH", "RANGE"), strict=False)],
        "BillingMode": definition.pop("BillingMode", "PAY_PER_REQUEST"),
    }
    params.update(definition)
    return params


def import_request(bucket: str, prefix: str, creation: dict, client_token: str | None = None) -> dict:
    req = {
        "S3BucketSource": {"S3Bucket": bucket, "S3KeyPrefix": prefix},
        "InputFormat": "DYNAMODB_JSON",
        "InputCompressionType": "GZIP",
        "TableCreationParameters": creation,
    }
    if client_token:
        req["ClientToken"] = client_token
    return req


def write_files(items_df, url: str) -> None:
    """`{"Item": ...}` lines, gzip, at `url` (s3a:// locally, s3:// on EMR); refuses a used prefix."""
    from pyspark.sql import functions as F

    lines = items_df.select(F.concat(F.lit('{"Item":'), F.col("_item"), F.lit("}")).alias("value"))
    (lines.write.mode("errorifexists").option("compression", "gzip")
     .option("mapreduce.fileoutputcommitter.marksuccessfuljobs", "false").text(url))


def run_import(client, request: dict, poll_seconds: float = 2.0, timeout_seconds: float = 6 * 3600,
               say=lambda msg: None) -> dict:
    """Start the import and wait for its end; raises unless it COMPLETED with no errors."""
    desc = client.import_table(**request)["ImportTableDescription"]
    arn = desc["ImportArn"]
    say(f"import {arn}: {desc.get('ImportStatus')}")
    deadline = time.monotonic() + timeout_seconds
    while desc.get("ImportStatus") not in TERMINAL:
        if time.monotonic() > deadline:
            raise ImportError_(f"import {arn} still {desc.get('ImportStatus')} after {timeout_seconds:.0f}s")
        time.sleep(poll_seconds)
        desc = client.describe_import(ImportArn=arn)["ImportTableDescription"]
    say(f"import {arn}: {desc.get('ImportStatus')}, {desc.get('ImportedItemCount')} items, "
        f"{desc.get('ErrorCount')} errors")
    if desc.get("ImportStatus") != "COMPLETED" or desc.get("ErrorCount"):
        raise ImportError_(f"import {arn} of {request['TableCreationParameters']['TableName']} ended "
                           f"{desc.get('ImportStatus')}: {desc.get('FailureCode')} {desc.get('FailureMessage')} "
                           f"({desc.get('ErrorCount')} errors; see its CloudWatch log group)")
    return desc


@dataclass(frozen=True)
class S3ImportSink:
    name: ClassVar[str] = "s3-import"
    creates_table: ClassVar[bool] = True
    guards: ClassVar[bool] = False

    import_s3: str | None  # s3://bucket/prefix for the import files (one prefix per target below it)
    table_definition: str | None  # JSON of extra TableCreationParameters, optionally keyed by target table
    endpoint: str | None
    region: str | None

    def __post_init__(self) -> None:
        if not self.import_s3:
            raise ValueError("the s3-import sink needs --import-s3 s3://bucket/prefix for its files")

    def write(self, frame: DataFrame, job: WriteJob) -> SinkResult:
        definition = None
        if self.table_definition:
            definition = json.loads(read_text(self.table_definition))
            definition = definition.get(job.target, definition) if isinstance(definition, dict) else definition
        base = target_prefix(self.import_s3, job.target)
        write_files(frame, spark_url(base, job.scheme))
        bucket, prefix = split_s3(base)
        creation = table_creation_parameters(job.target, key_schema(job.checked, job.target), definition)
        request = import_request(bucket, prefix, creation)
        desc = run_import(make_client(self.endpoint, self.region), request, say=job.say)
        return {"import_arn": desc["ImportArn"], "imported_items": desc.get("ImportedItemCount"),
                "import_errors": desc.get("ErrorCount"), "files": base}
