"""The real JVM jars from Maven Central work against the local stack.

- the emr-dynamodb-connector's DynamoDBOutputFormat, fed by the project's converter, writes
  items that plain boto3 reads back exactly (38-digit numbers, bytes, sets, nested maps, emoji);
- S3A (hadoop-aws without the SDK bundle) reads Parquet from the local S3, in a session and
  through `mysql2dynamo local submit` (spark-submit).
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from boto3.dynamodb.types import TypeDeserializer

from mysql2dynamo.jobs.rate import Budget
from mysql2dynamo.jobs.sinks.connector import write_items

CLI = str(Path(sys.executable).with_name("mysql2dynamo"))


def _item(i: int) -> dict:
    return {
        "PK": {"S": f"CUSTOMER#{i}"},
        "SK": {"S": "PROFILE"},
        "lifetime_value": {"N": "9999999999999999999999999999.9999999999"},
        "external_id": {"N": "18446744073709551615"},
        "api_key": {"B": base64.b64encode(bytes([i % 256]) + b"\x00" * 15).decode()},
        "name": {"S": f"Zoë 🚀 {i}"},
        "tags": {"SS": ["beta", "vip"]},
        "profile": {"M": {"nested": {"L": [{"N": "1"}, {"NULL": True}, {"BOOL": False}]}}},
    }


def test_emr_connector_writes_items_that_boto3_reads_back(spark, dynamodb_table, local_stack):
    table = dynamodb_table()
    items = [_item(i) for i in range(120)]
    df = spark.createDataFrame([(json.dumps(it, ensure_ascii=False),) for it in items], "_item string")
    write_items(df.repartition(3), table, tasks=3, budget=Budget(), wcu_per_item=1.0)

    ddb = local_stack.client("dynamodb")
    got = {}
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        for raw in page["Items"]:
            got[raw["PK"]["S"]] = raw
    assert len(got) == 120
    one = got["CUSTOMER#7"]
    assert one["lifetime_value"] == {"N": "9999999999999999999999999999.9999999999"}
    assert one["external_id"] == {"N": "18446744073709551615"}
    assert one["api_key"] == {"B": bytes([7]) + b"\x00" * 15}
    assert one["name"] == {"S": "Zoë 🚀 7"}
    value = TypeDeserializer().deserialize(one["profile"])
    assert value == {"nested": [Decimal(1), None, False]}
    assert sorted(one["tags"]["SS"]) == ["beta", "vip"]


def _put_parquet(s3, bucket: str, key: str) -> None:
    table = pa.table({
        "id": pa.array([1, 2, 18446744073709551615], pa.decimal128(20, 0)),
        "name": ["Ana 🌮", "José", None],
    })
    buf = io.BytesIO()
    pq.write_table(table, buf)
    s3.put_object(Bucket=bucket, Key=key, Body=buf.getvalue())


def test_spark_reads_parquet_from_local_s3_via_s3a(spark, s3_bucket, local_stack):
    _put_parquet(local_stack.client("s3"), s3_bucket, "dump/customers/part-00000.parquet")
    rows = spark.read.parquet(f"s3a://{s3_bucket}/dump/customers/").orderBy("id").collect()
    assert [(int(r.id), r.name) for r in rows] == [(1, "Ana 🌮"), (2, "José"), (18446744073709551615, None)]


def test_local_submit_runs_a_job_with_the_jars(s3_bucket, local_stack, tmp_path):
    _put_parquet(local_stack.client("s3"), s3_bucket, "dump/customers/part-00000.parquet")
    job = tmp_path / "count.py"
    job.write_text(
        "import sys\n"
        "from pyspark.sql import SparkSession\n"
        "spark = SparkSession.builder.getOrCreate()\n"
        "print('ROWS', spark.read.parquet(sys.argv[1]).count())\n"
    )
    result = subprocess.run([CLI, "local", "submit", str(job), f"s3://{s3_bucket}/dump/customers/"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ROWS 3" in result.stdout
