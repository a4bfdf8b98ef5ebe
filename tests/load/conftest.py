"""Load test helpers: a snapshot of the sample shop, the mapping, and the Python engine's items."""

from __future__ import annotations

import json
import uuid

import pytest

from mysql2dynamo.cdc.snapshot import load_manifest
from mysql2dynamo.cdc.snapshot.run import run_snapshot
from mysql2dynamo.ground.dynamo_json import from_client_item
from mysql2dynamo.keymap.checker import check
from mysql2dynamo.keymap.compile_python import compile_python
from mysql2dynamo.keymap.spec import load_mapping
from tests.replay.conftest import normalise

TABLES = ("customers", "orders", "order_items")

@pytest.fixture(scope="module")
def bucket(local_stack) -> str:
    name = f"load-{uuid.uuid4().hex[:10]}"
    local_stack.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def snapshot(local_stack, sample_db, bucket) -> str:
    """A consistent snapshot of the 200-customer sample on the local S3."""
    url = f"s3://{bucket}/snap"
    run_snapshot(local_stack.cdc_mysql_url, [f"{sample_db}.{t}" for t in TABLES], url)
    return url


def expected_items(manifest_url: str, mapping_yaml: str) -> tuple[dict, dict]:
    """The Python engine's items ({(PK, SK): canonical item}) and reject counts by reason."""
    m = load_manifest(manifest_url)
    mapping = load_mapping(mapping_yaml)
    mapper = compile_python(check(mapping, {s: m.table(s).schema for s in mapping.sources}))
    items, rejects = {}, {}
    for source in mapping.sources:
        entry = m.table(source)
        vers = {f.ver for f in entry.files}
        assert len(vers) == 1, "a consistent snapshot has one ver"
        ver = vers.pop()
        for row in m.read_arrow(source).to_pylist():
            for r in mapper.map_row(source, row, version=ver):
                if r.status == "item":
                    item = normalise(json.loads(r.item))
                    key = (item["PK"]["S"], item["SK"]["S"])
                    assert key not in items, f"the test mapping must not collide: {key}"
                    items[key] = item
                elif r.status == "rejected":
                    rejects[r.reason] = rejects.get(r.reason, 0) + 1
    return items, rejects


def scan(client, table: str) -> dict:
    out = {}
    for page in client.get_paginator("scan").paginate(TableName=table):
        for raw in page["Items"]:
            item = normalise(from_client_item(raw))
            out[(item["PK"]["S"], item["SK"]["S"])] = item
    return out


def assert_same_items(got: dict, expected: dict) -> None:
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    assert not missing, f"{len(missing)} items not loaded, e.g. {missing[:3]}"
    assert not extra, f"{len(extra)} unexpected items, e.g. {extra[:3]}"
    diff = [k for k in expected if got[k] != expected[k]]
    if diff:
        k = diff[0]
        bad = {a: (got[k].get(a), expected[k].get(a)) for a in set(got[k]) | set(expected[k])
               if got[k].get(a) != expected[k].get(a)}
        raise AssertionError(f"{len(diff)} items differ from the Python engine's, e.g. {k}: {bad}")
