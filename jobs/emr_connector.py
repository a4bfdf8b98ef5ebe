"""Writing DynamoDB through the emr-dynamodb-connector's DynamoDBOutputFormat.

Items travel as DynamoDB-JSON strings; the project's JVM converter
(emr/converter, io.mysql2dynamo.emr.DynamoJsonToItemConverter) turns each into the
DynamoDBItemWritable the output format needs, which PySpark alone cannot build
(emr-dynamodb-connector issue #61). Numbers stay exact text the whole way.
"""

from __future__ import annotations

import os

OUTPUT_FORMAT = "org.apache.hadoop.dynamodb.write.DynamoDBOutputFormat"
ITEM_WRITABLE = "org.apache.hadoop.dynamodb.DynamoDBItemWritable"
CONVERTER = "io.mysql2dynamo.emr.DynamoJsonToItemConverter"


def job_conf(table: str, *, tasks: int, endpoint: str | None = None, region: str | None = None,
             write_percent: float = 1.0, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The Hadoop job configuration of the connector for one target table.

    The connector divides the table's write capacity by the number of parallel tasks. It asks
    YARN for that number, which fails outside YARN (a division by zero in local Spark) and is
    wrong for Spark on YARN anyway, so we tell it the real task count of the write instead.
    The endpoint follows boto3's AWS_ENDPOINT_URL_DYNAMODB when not given, so the same job
    writes the local DynamoDB or the real one.
    """
    conf = {
        "mapred.output.format.class": OUTPUT_FORMAT,
        "mapred.output.key.class": "org.apache.hadoop.io.Text",
        "mapred.output.value.class": ITEM_WRITABLE,
        "dynamodb.output.tableName": table,
        "dynamodb.throughput.write.percent": str(write_percent),
        "dynamodb.yarn.enabled": "false",
        "mapreduce.job.maps": str(tasks),
    }
    endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if endpoint:
        conf["dynamodb.endpoint"] = endpoint
    if region:
        conf["dynamodb.regionid"] = region
    conf.update(extra or {})
    return conf


def write_json_items(items, table: str, **conf_kw) -> None:
    """Write an RDD (or single-column DataFrame) of DynamoDB-JSON item strings to `table`."""
    rdd = items.rdd.map(lambda row: row[0]) if hasattr(items, "rdd") else items
    pairs = rdd.map(lambda item: ("", item))
    conf = job_conf(table, tasks=pairs.getNumPartitions(), **conf_kw)
    pairs.saveAsHadoopDataset(conf=conf, valueConverter=CONVERTER)
