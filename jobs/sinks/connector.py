"""The `emr-connector` sink: emr-dynamodb-connector's DynamoDBOutputFormat via saveAsHadoopDataset.

Items travel as DynamoDB-JSON text; the project's JVM converter (emr/converter,
io.mysql2dynamo.emr.DynamoJsonToItemConverter) turns each into the DynamoDBItemWritable the output
format needs, which PySpark alone cannot build (emr-dynamodb-connector issue #61). On top of it this
sink fixes what the connector's users trip over:

- the connector divides the write rate by the number of parallel tasks, which it asks YARN for:
  that fails outside YARN (a division by zero in local Spark) and is wrong for Spark on YARN anyway,
  so `dynamodb.yarn.enabled` is off and `mapreduce.job.maps` is the real task count of the write;
- the write rate is the job's absolute budget: `dynamodb.throughput.write` = budget in WCU/s,
  percent 1 (jobs.rate.connector_conf); an items/s budget is converted with the items' mean WCU.
  The connector turns WCU into items/s with the capacity DynamoDB reports consuming (1 WCU per item
  without a report), so each task also paces the items it hands the connector with a token bucket
  (budget / tasks): the lower of the two limits wins;
- without a budget an on-demand table is not assumed to take 40,000 WCU: the connector gets an
  unlimited rate (throttling is retried), a provisioned table its provisioned WCU * --write-percent;
- numbers are exact text all the way (DECIMAL(38,10) arrives with every digit);
- UnprocessedItems and RequestLimitExceeded, which connector 5.0.0 dies on, reach it as errors it
  retries (the converter jar's SDK interceptor, emr/converter RetryableBatchAnswers);
- a task the connector still gives up on (10 minutes of retries) fails and Spark runs it again
  (`spark.task.maxFailures`, set by the EMR step; puts are idempotent, so nothing is lost or doubled).

The endpoint follows boto3's AWS_ENDPOINT_URL_DYNAMODB when not given, so the same job writes the
local DynamoDB or the real one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from mysql2dynamo.jobs.rate import Budget, connector_conf, item_wcu, task_limiter

from .base import SinkResult, WriteJob
from .dynamodb import make_client

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row

OUTPUT_FORMAT = "org.apache.hadoop.dynamodb.write.DynamoDBOutputFormat"
ITEM_WRITABLE = "org.apache.hadoop.dynamodb.DynamoDBItemWritable"
CONVERTER = "io.mysql2dynamo.emr.DynamoJsonToItemConverter"


def _paced(rows: Iterable[Row], per_task: Budget) -> Iterator[tuple[str, str]]:
    limiter, unit = task_limiter(per_task)
    for item, size in rows:
        limiter.acquire(1 if unit == "items" else item_wcu(size or 0))
        yield "", item


def provisioned_wcu(client, table: str) -> float | None:
    """The table's provisioned WCU, or None for an on-demand table."""
    d = client.describe_table(TableName=table)["Table"]
    if (d.get("BillingModeSummary") or {}).get("BillingMode") == "PAY_PER_REQUEST":
        return None
    wcu = (d.get("ProvisionedThroughput") or {}).get("WriteCapacityUnits") or 0
    return float(wcu) or None


def job_conf(table: str, *, tasks: int, budget: Budget, wcu_per_item: float, table_wcu: float | None = None,
             write_percent: float = 1.0, endpoint: str | None = None, region: str | None = None) -> dict[str, str]:
    """The Hadoop job configuration of the connector for writing `table` with `tasks` tasks."""
    conf = {
        "mapred.output.format.class": OUTPUT_FORMAT,
        "mapred.output.key.class": "org.apache.hadoop.io.Text",
        "mapred.output.value.class": ITEM_WRITABLE,
        "dynamodb.output.tableName": table,
        "dynamodb.yarn.enabled": "false",
    }
    endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if endpoint:
        conf["dynamodb.endpoint"] = endpoint
    if region:
        conf["dynamodb.regionid"] = region
    conf.update(connector_conf(budget, tasks, wcu_per_item, table_wcu, write_percent))
    return conf


def write_items(items_df: DataFrame, table: str, *, tasks: int, budget: Budget, wcu_per_item: float,
                table_wcu: float | None = None, write_percent: float = 1.0, endpoint: str | None = None,
                region: str | None = None) -> SinkResult:
    """Write the `_item` column of `items_df` (already `tasks` partitions) through the connector."""
    conf = job_conf(table, tasks=tasks, budget=budget, wcu_per_item=wcu_per_item, table_wcu=table_wcu,
                    write_percent=write_percent, endpoint=endpoint, region=region)
    per_task = budget.per_task(tasks)
    if budget.limited:
        # the connector converts its WCU rate to items/s with the consumed capacity DynamoDB reports
        # (1 WCU per item when none is reported, e.g. local servers): we also pace the items we hand
        # it, per task, so the job stays within the budget whatever the connector assumes
        pairs = items_df.select("_item", "_size").rdd.mapPartitions(lambda rows: _paced(rows, per_task))
    else:
        pairs = items_df.select("_item").rdd.map(lambda row: ("", row[0]))
    pairs.saveAsHadoopDataset(conf=conf, valueConverter=CONVERTER)
    return {"connector_conf": {k: v for k, v in conf.items() if k.startswith(("dynamodb.throughput",
                                                                               "mapreduce.job.maps"))}}


@dataclass(frozen=True)
class ConnectorSink:
    name: ClassVar[str] = "emr-connector"
    creates_table: ClassVar[bool] = False
    guards: ClassVar[bool] = False

    endpoint: str | None
    region: str | None
    write_percent: float  # without a budget: the share of a provisioned table's WCU

    def write(self, frame: DataFrame, job: WriteJob) -> SinkResult:
        table_wcu = None
        if not job.budget.limited:
            table_wcu = provisioned_wcu(make_client(self.endpoint, self.region), job.target)
        return write_items(frame, job.target, tasks=job.tasks, budget=job.budget, wcu_per_item=job.wcu_per_item,
                           table_wcu=table_wcu, write_percent=self.write_percent, endpoint=self.endpoint,
                           region=self.region)
