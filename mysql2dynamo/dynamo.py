"""Creating DynamoDB tables with string keys (the shape single-table designs use)."""

from __future__ import annotations


def create_table(client, name: str, hash_key: str = "PK", range_key: str | None = "SK",
                 indexes: dict[str, tuple[str, str | None]] | None = None) -> None:
    """An on-demand table with string keys and optional GSIs (name -> (hash, range)); waits until active."""
    def schema(h: str, r: str | None) -> list[dict]:
        return [{"AttributeName": h, "KeyType": "HASH"}] + ([{"AttributeName": r, "KeyType": "RANGE"}] if r else [])

    indexes = indexes or {}
    names = dict.fromkeys([hash_key, range_key, *[k for pair in indexes.values() for k in pair]])
    kw = {}
    if indexes:
        kw["GlobalSecondaryIndexes"] = [
            {"IndexName": n, "KeySchema": schema(*keys), "Projection": {"ProjectionType": "ALL"}}
            for n, keys in indexes.items()]
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", KeySchema=schema(hash_key, range_key),
                        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in names if a], **kw)
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 600})
