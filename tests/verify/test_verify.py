"""verify: clean after a faithful load; exactly the planted differences after tampering."""

from __future__ import annotations

import json

import pytest

from mysql2dynamo.cdc.snapshot.manifest import load_manifest
from mysql2dynamo.cdc.snapshot.run import run_snapshot
from mysql2dynamo.ground.dynamo_json import to_client_item
from mysql2dynamo.jobs.targets import create_table
from mysql2dynamo.jobs.verify import VerifyOptions, run_verify
from mysql2dynamo.keymap.checker import check
from mysql2dynamo.keymap.compile_python import compile_python
from mysql2dynamo.keymap.spec import mapping_from_dict


def shop_mapping(db: str, table: str) -> dict:
    return {
        f"{db}.customers": {"target": table, "key": {"PK": "CUSTOMER#{id}", "SK": "PROFILE"},
                            "attributes": {"email": "{lower(email)}", "name": "name", "tags": "tags",
                                           "lifetime_value": "lifetime_value", "api_key": "api_key",
                                           "score": "score", "created_at": "created_at",
                                           "profile": "{json(profile)}"}},
        f"{db}.orders": {"target": table,
                         "key": {"PK": "CUSTOMER#{customer_id}", "SK": "ORDER#{pad(id, 10)}"},
                         "attributes": {"status": "status", "total": "total", "shipped_at": "shipped_at"}},
        f"{db}.order_items": {"target": table, "key": {"PK": "ORDER#{pad(order_id, 10)}", "SK": "LINE#{line_no}"},
                              "rest": True},
    }


@pytest.fixture(scope="module")
def loaded(local_stack, sample_db, tmp_path_factory):
    """The sample snapshot, mapped by the Python engine and written item by item."""
    ddb = local_stack.client("dynamodb")
    table = f"verify-{sample_db}"
    create_table(ddb, table)
    dest = tmp_path_factory.mktemp("snap")
    run_snapshot(local_stack.cdc_mysql_url, [f"{sample_db}.{t}" for t in ("customers", "orders", "order_items")],
                 str(dest))
    manifest = load_manifest(dest)
    mapping = mapping_from_dict(shop_mapping(sample_db, table))
    mapper = compile_python(check(mapping, {s: manifest.table(s).schema for s in mapping.sources}))
    count = 0
    for source in mapping.sources:
        for row in manifest.read_arrow(source).to_pylist():
            for result in mapper.map_row(source, row, version=manifest.ver):
                if result.status == "item":
                    ddb.put_item(TableName=table, Item=to_client_item(result.item))
                    count += 1
    yield {"table": table, "manifest": manifest, "mapping": mapping, "items": count}
    ddb.delete_table(TableName=table)


def test_a_faithful_load_verifies_clean(spark, local_stack, loaded):
    report = run_verify(spark, loaded["mapping"], loaded["manifest"], cdc_url=local_stack.cdc_mysql_url)
    assert report.clean, report.text()
    assert report.source_items == report.target_items == loaded["items"] > 500
    assert report.differing_buckets == 0 and report.source_rows > 0
    assert report.position == str(loaded["manifest"].binlog) and report.as_dict()["in_flight_keys"] == []


def test_hidden_differences_are_found_exactly(spark, local_stack, loaded):
    ddb = local_stack.client("dynamodb")
    table = loaded["table"]
    ddb.update_item(TableName=table, Key={"PK": {"S": "CUSTOMER#7"}, "SK": {"S": "PROFILE"}},
                    UpdateExpression="SET lifetime_value = :v", ExpressionAttributeValues={":v": {"N": "1.5"}})
    ddb.delete_item(TableName=table, Key={"PK": {"S": "CUSTOMER#8"}, "SK": {"S": "PROFILE"}})
    ddb.put_item(TableName=table, Item={"PK": {"S": "CUSTOMER#999999"}, "SK": {"S": "PROFILE"},
                                        "email": {"S": "ghost@example.com"}})
    ddb.put_item(TableName=table, Item={"PK": {"S": "ORDER#9999999999"}, "SK": {"S": "LINE#1"},
                                        "_ver": {"N": "1"}, "_deleted": {"BOOL": True}, "_ttl": {"N": "1"}})
    report = run_verify(spark, loaded["mapping"], loaded["manifest"], cdc_url=local_stack.cdc_mysql_url)
    assert (report.missing, report.extra, report.different, report.in_flight) == (1, 2, 1, 0), report.text()
    assert report.examples["missing"][0]["key"] == {"PK": {"S": "CUSTOMER#8"}, "SK": {"S": "PROFILE"}}
    assert report.examples["missing"][0]["source_key"] == {"id": 8}
    different = report.examples["different"][0]
    assert different["key"] == {"PK": {"S": "CUSTOMER#7"}, "SK": {"S": "PROFILE"}}
    assert list(different["attributes"]) == ["lifetime_value"]
    assert different["attributes"]["lifetime_value"]["target"] == {"N": "1.5"}
    extras = {json.dumps(e["key"]): e["tombstone"] for e in report.examples["extra"]}
    assert extras == {'{"PK": {"S": "CUSTOMER#999999"}, "SK": {"S": "PROFILE"}}': False,
                      '{"PK": {"S": "ORDER#9999999999"}, "SK": {"S": "LINE#1"}}': True}
    assert not report.clean and "DIFFERENCES FOUND" in report.text()
    ignoring = run_verify(spark, loaded["mapping"], loaded["manifest"], options=VerifyOptions(ignore_tombstones=True))
    assert (ignoring.missing, ignoring.extra, ignoring.different) == (1, 1, 1)
