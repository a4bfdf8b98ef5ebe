"""The `emr-connector` sink: emr-dynamodb-connector's DynamoDBOutputFormat via saveAsHadoopDataset.

Items travel as DynamoDB-JSON text and become `DynamoDBItemWritable`s in the project's JVM
converter (see jobs.emr_connector, which holds the base job configuration). On top of it this
sink fixes what the connector's users trip over:

- the write rate is the job's absolute budget: `dynamodb.throughput.write` = budget in WCU/s,
  percent 1, `mapreduce.job.maps` = the real number of write tasks (jobs.rate.connector_conf); an
  items/s budget is converted with the items' mean WCU. The connector turns WCU into items/s with
  the capacity DynamoDB reports consuming (1 WCU per item without a report), so each task also
  paces the items it hands the connector with a token bucket (budget / tasks): the lower of the two
  limits wins;
- without a budget an on-demand table is not assumed to take 40,000 WCU: the connector gets an
  unlimited rate (throttling is retried), a provisioned table its provisioned WCU * --write-percent;
- numbers are exact text all the way (DECIMAL(38,10) arrives with every digit);
- UnprocessedItems and RequestLimitExceeded, which connector 5.0.0 dies on, reach it as errors it
  retries (the converter jar's SDK interceptor, emr/converter RetryableBatchAnswers);
- a task the connector still gives up on (10 minutes of retries) fails and Spark runs it again
  (`spark.task.maxFailures`, set by the EMR step; puts are idempotent, so nothing is lost or doubled).
"""

from __future__ import annotations

from mysql2dynamo.jobs.emr_connector import CONVERTER, job_conf
from mysql2dynamo.jobs.rate import Budget, connector_conf


def _paced(rows, per_task: Budget):
    from mysql2dynamo.jobs.rate import item_wcu, task_limiter

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


def connector_job_conf(table: str, *, tasks: int, budget: Budget, wcu_per_item: float,
                       table_wcu: float | None = None, write_percent: float = 1.0, endpoint: str | None = None,
                       region: str | None = None) -> dict[str, str]:
    rate = connector_conf(budget, tasks, wcu_per_item, table_wcu, write_percent)
    return job_conf(table, tasks=tasks, endpoint=endpoint, region=region, extra=rate)


def write_items(items_df, table: str, *, tasks: int, budget: Budget, wcu_per_item: float,
                table_wcu: float | None = None, write_percent: float = 1.0, endpoint: str | None = None,
                region: str | None = None) -> dict:
    """Write the `_item` column of `items_df` (already `tasks` partitions) through the connector."""
    conf = connector_job_conf(table, tasks=tasks, budget=budget, wcu_per_item=wcu_per_item, table_wcu=table_wcu,
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
