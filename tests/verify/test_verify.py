"""verify: clean after a faithful load; exactly the planted differences after tampering."""

from __future__ import annotations

import json
import re

import pytest

from mysql2dynamo.cdc.snapshot.manifest import load_manifest
from mysql2dynamo.cdc.snapshot.run import run_snapshot
from mysql2dynamo.ground.dynamo_json import to_client_item
from mysql2dynamo.jobs.targets import create_table
from mysql2dynamo.jobs.verify import VerifyOptions, VerifyReport, run_verify
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


def test_rejected_rows_are_never_clean():
    """A row the mapping rejects is a row DynamoDB does not have: verify cannot call that clean."""
    report = VerifyReport(source_rows=3, source_items=2, target_items=2, rejected={"key_too_long": 1})
    assert not report.clean and report.text().endswith("VERIFY DIFFERENCES FOUND")
    assert "1 rejected" in report.text()


@pytest.fixture(scope="module")
def live(local_stack, tmp_path_factory):
    """A sample of the test's own (it is changed after the snapshot), loaded item by item."""
    from mysql2dynamo.sample.create import create_sample
    from tests.conftest import _drop_database, unique

    db = unique("live")
    create_sample(local_stack.mysql_url, db, customers=30, seed=11)
    ddb = local_stack.client("dynamodb")
    table = f"verify-{db}"
    create_table(ddb, table)
    dest = tmp_path_factory.mktemp("live")
    run_snapshot(local_stack.cdc_mysql_url, [f"{db}.{t}" for t in ("customers", "orders", "order_items")], str(dest))
    manifest = load_manifest(dest)
    mapping = mapping_from_dict(shop_mapping(db, table))
    checked = check(mapping, {s: manifest.table(s).schema for s in mapping.sources})
    mapper = compile_python(checked)
    for source in mapping.sources:
        for row in manifest.read_arrow(source).to_pylist():
            for result in mapper.map_row(source, row, version=manifest.ver):
                ddb.put_item(TableName=table, Item=to_client_item(result.item))
    yield {"db": db, "table": table, "manifest": manifest, "mapping": mapping, "mapper": mapper}
    ddb.delete_table(TableName=table)
    _drop_database(local_stack.mysql_url, db)


def test_rows_changed_after_the_snapshot_are_rechecked_against_the_current_row(spark, local_stack, live):
    """In-flight keys are not excused: replayed changes match, a wrong item for a changed row is reported."""
    from mysql2dynamo.ground.mysql import connect
    from mysql2dynamo.replay.apply import ApplyEngine
    from tests.conftest import read_binlog

    db, table, manifest = live["db"], live["table"], live["manifest"]
    conn = connect(local_stack.mysql_url, db)
    with conn.cursor() as cur:
        cur.execute("SELECT id, customer_id FROM orders ORDER BY id LIMIT 1")
        order, owner = cur.fetchone()
        cur.execute("UPDATE customers SET name = 'Renamed' WHERE id = 3")
        cur.execute("UPDATE customers SET name = 'Changed' WHERE id = 6")
        cur.execute("UPDATE orders SET customer_id = %s WHERE id = %s", (owner % 30 + 1, order))  # the key moves
        cur.execute("DELETE FROM order_items WHERE order_id = %s AND line_no = 1", (order,))
    conn.close()
    changes = [c for tx in read_binlog(local_stack, live["mapping"].sources, manifest.binlog) for c in tx.changes]
    ApplyEngine(live["mapper"], local_stack.client("dynamodb")).apply(enumerate(changes))
    renamed = next(c for c in changes if c.table == "customers" and c.after["id"] == 6)
    ddb = local_stack.client("dynamodb")  # replay wrote a wrong value for a changed row, at the change's version
    ddb.update_item(TableName=table, Key={"PK": {"S": "CUSTOMER#6"}, "SK": {"S": "PROFILE"}},
                    UpdateExpression="SET #n = :n", ExpressionAttributeNames={"#n": "name"},
                    ExpressionAttributeValues={":n": {"S": "Wrong"}})
    report = run_verify(spark, live["mapping"], manifest, cdc_url=local_stack.cdc_mysql_url,
                        options=VerifyOptions(ignore_tombstones=True))
    assert (report.missing, report.extra, report.different) == (0, 0, 1), report.text()
    assert not report.clean
    wrong = report.examples["different"][0]
    assert wrong["key"] == {"PK": {"S": "CUSTOMER#6"}, "SK": {"S": "PROFILE"}} and wrong["in_flight"]
    assert wrong["attributes"] == {"name": {"source": {"S": "Changed"}, "target": {"S": "Wrong"}}}
    assert report.in_flight_reads == 4  # read again while replay might catch up, then reported
    # the keys of the 4 changed rows: old and new item of the moved order, the deleted line, two profiles
    assert report.in_flight == 5
    changed = {(k["table"].split(".")[1], json.dumps(k["key"])) for k in report.as_dict()["in_flight_keys"]}
    assert changed == {("customers", '{"id": 3}'), ("customers", '{"id": 6}'), ("orders", json.dumps({"id": order})),
                       ("order_items", json.dumps({"order_id": order, "line_no": 1}))}
    assert report.position == str(manifest.binlog) and renamed.ver > manifest.ver


def test_verify_repair_resyncs_the_divergent_keys_and_leaves_no_dump(spark, local_stack, live, tmp_path,
                                                                     monkeypatch, stream_name):
    """`verify --repair` through the CLI: a wrong, a stale extra and a missing item are re-synced from the
    current rows (guarded by _ver); the wrong in-flight item of the test before is repaired too. `status
    --watch` then shows what that verify found."""
    import tempfile

    import yaml
    from click.testing import CliRunner

    from mysql2dynamo.cli import main

    table, ddb = live["table"], local_stack.client("dynamodb")
    profile = {"SK": {"S": "PROFILE"}}
    ddb.update_item(TableName=table, Key={"PK": {"S": "CUSTOMER#7"}, **profile},
                    UpdateExpression="SET lifetime_value = :v", ExpressionAttributeValues={":v": {"N": "1.5"}})
    ddb.put_item(TableName=table, Item={"PK": {"S": "CUSTOMER#999999"}, **profile, "_ver": {"N": "1"},
                                        "email": {"S": "ghost@example.com"}})
    ddb.delete_item(TableName=table, Key={"PK": {"S": "CUSTOMER#8"}, **profile})
    config = tmp_path / "m2d.yaml"
    config.write_text(yaml.safe_dump({"source": {"mysql_url": local_stack.cdc_mysql_url},
                                      "tables": shop_mapping(live["db"], table)}))
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # the fresh snapshot verify takes goes here
    monkeypatch.setenv("M2D_HOME", str(tmp_path / "home"))  # where verify saves its last report for status
    result = CliRunner().invoke(main, ["verify", "--config", str(config), "--repair", "--ignore-tombstones",
                                       "--report", str(tmp_path / "report.json")])
    assert result.exit_code == 1, result.output  # differences were found (and repaired)
    report = json.loads((tmp_path / "report.json").read_text())
    repaired = report["repaired"]
    assert (repaired["puts"], repaired["tombstones"], repaired["newer"]) == (3, 1, 0), result.output
    actions = {item["key"]["PK"]["S"]: (item["was"], item["action"]) for item in repaired["keys"]}
    assert actions == {"CUSTOMER#6": ("different", "put"), "CUSTOMER#7": ("different", "put"),
                       "CUSTOMER#8": ("missing", "put"), "CUSTOMER#999999": ("extra", "tombstone")}
    assert list(temp.iterdir()) == []  # verify's dump is removed
    watched = CliRunner().invoke(main, ["status", "--stream", stream_name, "--mysql-url", local_stack.mysql_url,
                                        "--watch", "0.1", "--count", "1"])
    assert watched.exit_code == 0, watched.output
    assert (re.search(r"last verify: DIFFERENCES FOUND at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", watched.stdout)
            and f"({table}): {report['missing']} missing, {report['extra']} extra, {report['different']} different, "
                f"{report['pending']} pending, {sum(report['rejected'].values())} rejected; {report['target_items']} "
                "target items" in watched.stdout), watched.stdout
    ghost = ddb.get_item(TableName=table, Key={"PK": {"S": "CUSTOMER#999999"}, **profile})["Item"]
    assert ghost["_deleted"] == {"BOOL": True}
    after = run_verify(spark, live["mapping"], live["manifest"], cdc_url=local_stack.cdc_mysql_url,
                       options=VerifyOptions(ignore_tombstones=True))
    assert after.clean, after.text()


def test_a_change_the_replay_has_not_applied_is_pending_not_a_divergence(spark, local_stack, live):
    """Under live writes some changed keys are not applied yet when verify reads them: by versions they are
    pending (never CLEAN, never called different); once the replay applied them, verify is CLEAN."""
    from mysql2dynamo.ground.mysql import connect
    from mysql2dynamo.replay.apply import ApplyEngine
    from tests.conftest import read_binlog

    db, manifest = live["db"], live["manifest"]
    conn = connect(local_stack.mysql_url, db)
    with conn.cursor() as cur:
        cur.execute("UPDATE customers SET name = 'Later' WHERE id = 4")
    conn.close()
    report = run_verify(spark, live["mapping"], manifest, cdc_url=local_stack.cdc_mysql_url,
                        options=VerifyOptions(ignore_tombstones=True))
    assert (report.missing, report.extra, report.different, report.pending) == (0, 0, 0, 1), report.text()
    assert not report.clean and not report.divergent
    late = report.examples["pending"][0]
    assert late["key"] == {"PK": {"S": "CUSTOMER#4"}, "SK": {"S": "PROFILE"}} and late["was"] == "different"
    assert "VERIFY NO DIFFERENCES, 1 KEYS PENDING" in report.text()
    changes = [c for tx in read_binlog(local_stack, live["mapping"].sources, manifest.binlog) for c in tx.changes]
    ApplyEngine(live["mapper"], local_stack.client("dynamodb")).apply(enumerate(changes))
    report = run_verify(spark, live["mapping"], manifest, cdc_url=local_stack.cdc_mysql_url,
                        options=VerifyOptions(ignore_tombstones=True))
    assert report.clean and report.pending == 0 and report.in_flight_reads == 1, report.text()
