"""Verify's Scan hands on each page's body as DynamoDB sent it: over segments and pages, every item
comes back once, exactly the DynamoDB JSON that was written (binary values as base64 text)."""

from __future__ import annotations

import base64
import json

from mysql2dynamo.ground.dynamo_json import to_client_item
from mysql2dynamo.jobs.dynamodb_scan import scan_pages


def test_every_item_comes_back_once_as_written_over_segments_and_pages(local_stack, dynamodb_table):
    ddb = local_stack.client("dynamodb")
    table = dynamodb_table()
    written = {}
    for i in range(12):  # 200 KB each: more than one 1 MB page per segment
        item = {"PK": {"S": f"K#{i}"}, "SK": {"S": "é東\U0001f600\"\\"}, "n": {"N": str(i)},
                "blob": {"B": base64.b64encode(bytes([i, 0, 255]) * 3).decode()}, "tags": {"SS": ["b", "a"]},
                "pad": {"S": "x" * 200_000}}
        ddb.put_item(TableName=table, Item=to_client_item(json.dumps(item)))
        written[f"K#{i}"] = item
    pages = [(t, json.loads(body)) for segment in range(2) for t, body in scan_pages(table, segment, 2)]
    assert len(pages) > 2 and {t for t, _ in pages} == {table}
    items = [item for _, page in pages for item in page["Items"]]
    assert sorted(i["PK"]["S"] for i in items) == sorted(written)
    for item in items:
        want = written[item["PK"]["S"]]
        assert {k: v for k, v in item.items() if k != "tags"} == {k: v for k, v in want.items() if k != "tags"}
        assert sorted(item["tags"]["SS"]) == ["a", "b"]
