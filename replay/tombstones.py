"""Removing delete tombstones at or below a `ver` (`mysql2dynamo cleanup-tombstones`, `cutover`).

A tombstone is only removed if it is still the same tombstone (`_ver` unchanged), so a put that
lands during the cleanup is never deleted, and only if its `_ver` is at or below `low_water`: the
tombstone floor that `mysql2dynamo.tombstone_floor` raised first (every change at or below it is
applied, and every replay drops the ones that come again), so nothing can recreate the row after
the cleanup. Scans run in parallel segments.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from botocore.exceptions import ClientError

from mysql2dynamo.replay.apply import DELETED_ATTRIBUTE


@dataclass
class CleanupStats:
    scanned: int = 0
    removed: int = 0
    changed_meanwhile: int = 0


def cleanup_tombstones(dynamodb, table: str, version_attribute: str = "_ver", segments: int = 4, *,
                       low_water: int | None = None) -> CleanupStats:
    """Remove the tombstones at or below `low_water` (None: all; only for a caller that has itself seen
    every shard drained with writes stopped, as the tests do)."""
    desc = dynamodb.describe_table(TableName=table)["Table"]
    key_names = [k["AttributeName"] for k in desc["KeySchema"]]

    def segment(n: int) -> CleanupStats:
        stats = CleanupStats()
        kw = {"TableName": table, "Segment": n, "TotalSegments": segments,
              "FilterExpression": "attribute_exists(#del)", "ExpressionAttributeNames": {"#del": DELETED_ATTRIBUTE}}
        if low_water is not None:
            kw["FilterExpression"] += " AND #ver <= :low"
            kw["ExpressionAttributeNames"]["#ver"] = version_attribute
            kw["ExpressionAttributeValues"] = {":low": {"N": str(low_water)}}
        while True:
            page = dynamodb.scan(**kw)
            stats.scanned += page.get("ScannedCount", 0)
            for item in page.get("Items", []):
                try:
                    dynamodb.delete_item(
                        TableName=table, Key={k: item[k] for k in key_names},
                        ConditionExpression="#ver = :ver AND attribute_exists(#del)",
                        ExpressionAttributeNames={"#ver": version_attribute, "#del": DELETED_ATTRIBUTE},
                        ExpressionAttributeValues={":ver": item[version_attribute]},
                    )
                    stats.removed += 1
                except ClientError as e:
                    if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
                        raise
                    stats.changed_meanwhile += 1
            if "LastEvaluatedKey" not in page:
                return stats
            kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    total = CleanupStats()
    with ThreadPoolExecutor(segments) as pool:
        for s in pool.map(segment, range(segments)):
            total.scanned += s.scanned
            total.removed += s.removed
            total.changed_meanwhile += s.changed_meanwhile
    return total
