"""ALTER TABLE during replication: replay maps each change with the table version it was read with.

The snapshot's schema is the mapping's; then columns are added, dropped and widened (the items follow),
a row grows past DynamoDB's item limit (its old item is tombstoned, the row goes to the dead letters),
and a key column is retyped and dropped (the table stops loudly: dead letters naming table, column and
change, never an item under a different key).
"""

from __future__ import annotations

from mysql2dynamo.cdc.envelope import Change
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.keymap.checker import check
from mysql2dynamo.keymap.compile_python import compile_python
from mysql2dynamo.keymap.schema import read_table_schema
from mysql2dynamo.keymap.spec import mapping_from_dict
from mysql2dynamo.replay.apply import ApplyEngine
from tests.conftest import binlog_now, read_binlog
from tests.replay.conftest import normalise


def _apply(local_stack, engine: ApplyEngine, source: str, start) -> tuple[list, list]:
    """Capture from `start`, send every change through the envelope's bytes, apply; (poisons, changes)."""
    changes = [Change.from_bytes(c.to_bytes()) for tx in read_binlog(local_stack, [source], start) for c in tx.changes]
    outcome = engine.apply(enumerate(changes))
    assert not outcome.errors
    return [p for _, p in outcome.poisons], changes


def test_items_follow_add_drop_and_widen_and_a_retyped_or_dropped_key_stops_the_table(
        local_stack, fresh_db, dynamodb_table):
    target = dynamodb_table()
    source = f"{fresh_db}.t"
    conn = connect(local_stack.mysql_url, fresh_db)
    cur = conn.cursor()
    cur.execute("CREATE TABLE t (id INT PRIMARY KEY, sku VARCHAR(10) NOT NULL, price DECIMAL(8,2), note VARCHAR(20))")
    cur.execute("INSERT INTO t VALUES (1, '0042', 1.50, 'first'), (2, '0007', 2.25, NULL)")
    snapshot_schema = read_table_schema(conn, fresh_db, "t")  # what the snapshot's manifest holds
    mapping = mapping_from_dict({source: {"target": target, "key": {"PK": "T#{id}", "SK": "S#{sku}"},
                                          "rest": True}})
    ddb = local_stack.client("dynamodb")
    engine = ApplyEngine(compile_python(check(mapping, {source: snapshot_schema})), ddb)
    start = binlog_now(local_stack.mysql_url)
    for sql in ("ALTER TABLE t ADD COLUMN extra VARCHAR(20) DEFAULT 'dflt'",
                "INSERT INTO t (id, sku, price, note, extra) VALUES (3, '0003', 3.00, 'third', 'x')",
                "ALTER TABLE t DROP COLUMN note",
                "UPDATE t SET price = 1.75 WHERE id = 1",
                "ALTER TABLE t MODIFY price DECIMAL(10,4), MODIFY id BIGINT",  # widened; the key text stays
                "UPDATE t SET price = 2.2345 WHERE id = 2",
                "ALTER TABLE t ADD COLUMN big LONGTEXT",
                "UPDATE t SET big = REPEAT('x', 500000) WHERE id = 3"):
        cur.execute(sql)
    poisons, changes = _apply(local_stack, engine, source, start)

    items = {i["PK"]["S"]: normalise(i) for i in ddb.scan(TableName=target)["Items"]}
    # a new column is under rest; read straight from the binlog (no capture backfill, tests/cdc/test_backfill.py)
    # an existing row gets its DEFAULT with its next change
    assert items["T#1"] == {"PK": {"S": "T#1"}, "SK": {"S": "S#0042"}, "id": {"N": "1"}, "sku": {"S": "0042"},
                            "price": {"N": "1.75"}, "extra": {"S": "dflt"}, "_ver": {"N": str(changes[1].ver)}}
    # the widened DECIMAL keeps its four digits (the snapshot's DECIMAL(8,2) would round to 2.23)
    assert items["T#2"]["price"] == {"N": "2.2345"} and "note" not in items["T#2"]
    # 500 KB does not fit an item: the old item is tombstoned and the row is a dead letter
    assert items["T#3"]["_deleted"] == {"BOOL": True} and "big" not in items["T#3"]
    assert [p.reason for p in poisons] == ["item_too_large"] and "id=3" in poisons[0].message
    assert changes[-1].columns[-2:] == (("extra", "varchar(20)"), ("big", "longtext"))

    start = binlog_now(local_stack.mysql_url)
    cur.execute("ALTER TABLE t MODIFY sku INT NOT NULL")  # '0042' -> 42: the key text would change
    cur.execute("UPDATE t SET price = 9 WHERE id = 1")
    cur.execute("ALTER TABLE t DROP COLUMN sku")
    cur.execute("INSERT INTO t (id, price) VALUES (4, 4)")
    conn.close()
    poisons, _ = _apply(local_stack, engine, source, start)

    assert [p.reason for p in poisons] == ["schema_changed"] * 2
    assert f"key column {source}.sku" in poisons[0].message and "retyped varchar(10) -> int" in poisons[0].message
    assert f"key column {source}.sku" in poisons[1].message and "was dropped" in poisons[1].message
    after = {i["PK"]["S"]: normalise(i) for i in ddb.scan(TableName=target)["Items"]}
    assert after == items  # nothing written under another key, nothing half-updated
