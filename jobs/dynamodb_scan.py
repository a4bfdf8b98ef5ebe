"""Reading whole DynamoDB tables into Spark with parallel Scan segments, one row per page.

Each task scans one segment (Scan's Segment/TotalSegments) and yields each page's response body
as it came off the wire: DynamoDB JSON already, so no item is converted or re-encoded per item in
Python (the page is read once by `json.loads`, in C, for its LastEvaluatedKey, which is all the
client's response parser is handed). Spark
splits the pages into items itself (`from_json` of `Items` as text, `explode`). Credentials and
the endpoint come from the executors' environment (boto3's chain), as for every other AWS call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

PAGE_FIELDS = ("LastEvaluatedKey", "Count", "ScannedCount")  # what the client still parses of a page


def scan_pages(table: str, segment: int, total: int, consistent: bool = True) -> Iterator[tuple[str, str]]:
    """(table, response body) of every page of one Scan segment."""
    import boto3

    client = boto3.client("dynamodb")
    bodies: list[bytes] = []

    def keep_body(response_dict: dict, **_) -> None:
        if response_dict.get("status_code") == 200:
            bodies.append(response_dict["body"])
            page = json.loads(response_dict["body"])
            response_dict["body"] = json.dumps({k: page[k] for k in PAGE_FIELDS if k in page}).encode()

    client.meta.events.register("before-parse.dynamodb.Scan", keep_body)
    kw = {"TableName": table, "Segment": segment, "TotalSegments": total, "ConsistentRead": consistent}
    while True:
        page = client.scan(**kw)
        if not bodies:
            raise RuntimeError(f"scan of {table}: this botocore does not emit before-parse events (upgrade boto3)")
        body = bodies.pop()  # the last attempt's: a retried request's earlier bodies are left
        bodies.clear()
        yield table, body.decode()
        if "LastEvaluatedKey" not in page:
            return
        kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def scan_tables(spark, tables: list[str], segments: int = 8):
    """A DataFrame (_target, _raw) of every item of `tables`; `_raw` is the item's DynamoDB JSON text."""
    from pyspark.sql import functions as F

    work = [(t, s, segments) for t in tables for s in range(segments)]
    pages = spark.sparkContext.parallelize(work, len(work)).flatMap(lambda w: scan_pages(*w))
    return (spark.createDataFrame(pages, "_target string, _page string")
            .select("_target", F.explode(F.from_json("_page", "Items array<string>").Items).alias("_raw")))
