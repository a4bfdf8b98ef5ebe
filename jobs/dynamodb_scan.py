"""Reading whole DynamoDB tables into Spark with parallel Scan segments.

Each task scans one segment (Scan's Segment/TotalSegments) and yields items as DynamoDB JSON
text, so the verify job reads a table in parallel without the JVM connector. Credentials and the
endpoint come from the executors' environment (boto3's chain), as for every other AWS call.
"""

from __future__ import annotations

import json

from mysql2dynamo.ground.dynamo_json import from_client_item


def scan_segment(table: str, segment: int, total: int, consistent: bool = True):
    import boto3

    client = boto3.client("dynamodb")
    kw = {"TableName": table, "Segment": segment, "TotalSegments": total, "ConsistentRead": consistent}
    while True:
        page = client.scan(**kw)
        for raw in page.get("Items", []):
            yield table, json.dumps(from_client_item(raw), ensure_ascii=False)
        if "LastEvaluatedKey" not in page:
            return
        kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def scan_tables(spark, tables: list[str], segments: int = 8):
    """A DataFrame (_target, _raw) of every item of `tables`; `_raw` is DynamoDB JSON text."""
    work = [(t, s, segments) for t in tables for s in range(segments)]
    rdd = spark.sparkContext.parallelize(work, len(work)).flatMap(lambda w: scan_segment(*w))
    return spark.createDataFrame(rdd, "_target string, _raw string")
