"""Replay test helpers: a small mapping with key-changing and `where` columns, and table reads."""

from __future__ import annotations

import json

from mysql2dynamo.ground.dynamo_json import from_client_item
from mysql2dynamo.jobs.canonical import canonical_value
from mysql2dynamo.keymap.schema import TableSchema
from mysql2dynamo.keymap.types import Column

DB, TABLE = "app", "things"
SOURCE = f"{DB}.{TABLE}"
SCHEMA = TableSchema(DB, TABLE, (
    Column("id", "int", nullable=False),
    Column("grp", "varchar", nullable=True, length=20),
    Column("val", "int", nullable=True),
    Column("status", "varchar", nullable=False, length=10),
), ("id",))
TYPES = {"id": "int", "grp": "string", "val": "int", "status": "string"}


def tables_spec(target: str) -> dict:
    """Group items by `grp` (so updates of grp move items), hide rows with status 'hidden',
    and a second rule per row (an adjacency edge) keyed by id only."""
    return {SOURCE: [
        {"name": "thing", "target": target, "key": {"PK": "G#{grp}", "SK": "T#{pad(id, 6)}"},
         "attributes": {"val": "val", "status": "status"}, "where": "status != 'hidden'"},
        {"name": "edge", "target": target, "key": {"PK": "T#{pad(id, 6)}", "SK": "'EDGE'"},
         "attributes": {"grp": "grp"}},
    ]}


def normalise(item: dict) -> dict:
    """DynamoDB stores numbers canonically ("990.90" comes back "990.9") and sets unordered."""
    return {k: canonical_value(value) for k, value in item.items()}


def scan_items(dynamodb, table: str) -> dict[str, dict]:
    """Every item of `table` as DynamoDB JSON, by key text."""
    out = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for raw in page["Items"]:
            item = normalise(from_client_item(raw))
            out[json.dumps({"PK": item["PK"], "SK": item["SK"]})] = item
    return out
