"""Throttling storms lose nothing: the dynamodb sink's writer (in-process, a client that raises the
real error codes and returns UnprocessedItems) and the JVM connector (an HTTP proxy in front of the
local DynamoDB answering as a throttled DynamoDB, tasks retried by Spark)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from mysql2dynamo.jobs.sinks.dynamodb import BatchWriter, WriteError
from tests.load.conftest import scan
from tests.load.faults import CODES, ThrottlingClient, ThrottlingProxy

CLI = str(Path(sys.executable).with_name("mysql2dynamo"))
ROOT = Path(__file__).resolve().parents[2]


def _items(n: int) -> list[tuple[str, int]]:
    out = []
    for i in range(n):
        item = {"PK": {"S": f"K#{i:05d}"}, "SK": {"S": "V"}, "n": {"N": f"{i}.5"}, "b": {"B": "AAEC"},
                "_ver": {"N": "7"}}
        out.append((json.dumps(item), 80))
    return out


def test_dynamodb_sink_writer_loses_nothing_in_a_throttling_storm(local_stack, dynamodb_table):
    table = dynamodb_table()
    client = ThrottlingClient(local_stack.client("dynamodb"), every=2, storm=80, partial=3)
    sleeps: list[float] = []
    writer = BatchWriter(client, table, threads=4, sleep=sleeps.append, rng=random.Random(1))
    stats = writer.write(_items(1000))

    got = scan(local_stack.client("dynamodb"), table)
    assert sorted(got) == sorted((f"K#{i:05d}", "V") for i in range(1000))
    assert got[("K#00042", "V")]["n"] == {"N": "42.5"}
    assert set(client.injected) == {*CODES, "UnprocessedItems"}
    assert stats.items == 1000
    assert stats.throttled == {k: v for k, v in client.injected.items()}
    assert stats.retries == sum(client.injected.values()) == len(sleeps)
    # backoff with full jitter: random waits, capped
    assert len(set(sleeps)) > 10 and max(sleeps) <= writer.max_delay


class _Refusing:
    def batch_write_item(self, **kw):
        raise ClientError({"Error": {"Code": "ValidationException", "Message": "One or more parameter values were "
                                     "invalid"}, "ResponseMetadata": {"HTTPStatusCode": 400}}, "BatchWriteItem")


class _AlwaysThrottled:
    def batch_write_item(self, **kw):
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"},
                           "ResponseMetadata": {"HTTPStatusCode": 400}}, "BatchWriteItem")


def test_a_refused_batch_fails_the_task_naming_table_and_key():
    with pytest.raises(WriteError, match=r"BatchWriteItem to T failed \(ValidationException\).*K#00000"):
        BatchWriter(_Refusing(), "T", threads=1).write(_items(3))


def test_endless_throttling_fails_the_task_instead_of_dropping_items():
    with pytest.raises(WriteError, match="no progress for 0s of retries"):
        BatchWriter(_AlwaysThrottled(), "T", threads=1, retry_seconds=0.0, sleep=lambda s: None).write(_items(3))


WRITE_JOB = (
    "import sys, json\n"
    "from pyspark.sql import SparkSession\n"
    "from mysql2dynamo.jobs.rate import Budget\n"
    "from mysql2dynamo.jobs.sinks.connector import write_items\n"
    "spark = SparkSession.builder.getOrCreate()\n"
    "n, table, endpoint = int(sys.argv[1]), sys.argv[2], sys.argv[3]\n"
    "rows = [(json.dumps({'PK': {'S': f'K#{i:05d}'}, 'SK': {'S': 'V'}, 'n': {'N': str(i)}}), 40)"
    " for i in range(n)]\n"
    "df = spark.createDataFrame(rows, '_item string, _size long').repartition(2)\n"
    "write_items(df, table, tasks=2, budget=Budget(), wcu_per_item=1.0, endpoint=endpoint)\n"
    "print('WROTE', n)\n")


def _connector_write(local_stack, table: str, tmp_path: Path, master: str, n: int, **faults):
    """Run the connector sink with spark-submit through a ThrottlingProxy; (result, injected faults)."""
    job = tmp_path / "write.py"
    job.write_text(WRITE_JOB)
    with ThrottlingProxy(local_stack.url(local_stack.dynamodb_port), **faults) as proxy:
        result = subprocess.run([CLI, "local", "submit", "--master", master, str(job), str(n), table, proxy.url],
                                capture_output=True, text=True, timeout=600, cwd=ROOT)
        return result, dict(proxy.injected)


def test_connector_rides_out_throttling_without_losing_a_task(local_stack, dynamodb_table, tmp_path):
    """The real connector writes through a proxy that answers like a throttled DynamoDB:
    ProvisionedThroughputExceeded and ThrottlingException on every 4th call (the SDK and the
    connector retry them), half of every 3rd batch returned as UnprocessedItems and
    RequestLimitExceeded three times in a row. Connector 5.0.0 alone dies on the last two (an
    UnsupportedOperationException on the SDK's unmodifiable UnprocessedItems list; an error code it
    does not retry); mysql2dynamo-converter.jar's SDK interceptor (RetryableBatchAnswers) turns
    both into errors the connector retries. local[2] gives each task ONE attempt, so the job only
    succeeds if no task fails; every item is there, once."""
    table, n = dynamodb_table(), 3000
    result, injected = _connector_write(local_stack, table, tmp_path, "local[2]", n, every=4,
                                        partial_calls=frozenset(range(3, 300, 3)),
                                        limit_calls=frozenset({25, 26, 27}))
    assert result.returncode == 0, result.stderr[-4000:]
    assert "WROTE 3000" in result.stdout
    assert "Lost task" not in result.stderr and "UnsupportedOperationException" not in result.stderr
    assert {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"} <= set(injected)
    assert injected.get("UnprocessedItems", 0) >= 10, injected
    got = scan(local_stack.client("dynamodb"), table)
    assert sorted(got) == sorted((f"K#{i:05d}", "V") for i in range(n))
