"""Cascading foreign keys reach DynamoDB exactly: capture puts the child rows InnoDB changed into the stream."""

from __future__ import annotations

import json
import threading

from mysql2dynamo.cdc.checkpoint import FileCheckpointStore
from mysql2dynamo.cdc.snapshot.lookup import all_rows
from mysql2dynamo.cdc.stream import StreamSettings, run_stream
from mysql2dynamo.ground.dynamo_json import from_client_item
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.jobs.canonical import DELETED, canonical_item
from mysql2dynamo.keymap.checker import check
from mysql2dynamo.keymap.compile_python import compile_python
from mysql2dynamo.keymap.schema import read_schemas
from mysql2dynamo.keymap.spec import mapping_from_dict
from mysql2dynamo.replay.apply import ApplyEngine
from tests.cdc.test_capture import _sql
from tests.conftest import all_changes, binlog_now

SCHEMA = (
    "CREATE TABLE accounts (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL)",
    # ON UPDATE / ON DELETE CASCADE; the foreign key is part of the item key
    "CREATE TABLE orders (id INT PRIMARY KEY, account_id INT NOT NULL, total INT NOT NULL, "
    "FOREIGN KEY (account_id) REFERENCES accounts (id) ON UPDATE CASCADE ON DELETE CASCADE)",
    # the foreign key is part of the child's primary key
    "CREATE TABLE badges (account_id INT NOT NULL, n INT NOT NULL, label VARCHAR(20), PRIMARY KEY (account_id, n), "
    "FOREIGN KEY (account_id) REFERENCES accounts (id) ON UPDATE CASCADE ON DELETE CASCADE)",
    # SET NULL both ways: the item stays, its attribute empties
    "CREATE TABLE notes (id INT PRIMARY KEY, account_id INT NULL, body VARCHAR(20), "
    "FOREIGN KEY (account_id) REFERENCES accounts (id) ON UPDATE SET NULL ON DELETE SET NULL)",
    # a grandchild: deleting an account deletes its orders, which deletes their lines
    "CREATE TABLE order_lines (id INT PRIMARY KEY, order_id INT NOT NULL, sku VARCHAR(10), "
    "FOREIGN KEY (order_id) REFERENCES orders (id) ON UPDATE CASCADE ON DELETE CASCADE)",
)
TABLES = ("accounts", "orders", "badges", "notes", "order_lines")


def mapping(db: str, target: str) -> dict:
    return {
        f"{db}.accounts": {"target": target, "key": {"PK": "ACC#{id}", "SK": "PROFILE"},
                           "attributes": {"name": "name"}},
        f"{db}.orders": {"target": target, "key": {"PK": "ACC#{account_id}", "SK": "ORDER#{id}"},
                         "attributes": {"total": "total"}},
        f"{db}.badges": {"target": target, "key": {"PK": "ACC#{account_id}", "SK": "BADGE#{n}"},
                         "attributes": {"label": "label"}},
        f"{db}.notes": {"target": target, "key": {"PK": "NOTE#{id}", "SK": "NOTE"},
                        "attributes": {"account_id": "account_id", "body": "body"}},
        f"{db}.order_lines": {"target": target, "key": {"PK": "ORDER#{order_id}", "SK": "LINE#{id}"},
                        "attributes": {"sku": "sku"}},
    }


def test_cascaded_child_changes_reach_dynamodb_exactly(local_stack, fresh_db, kinesis, stream_name, dynamodb_table,
                                                       tmp_path):
    url = local_stack.mysql_url
    _sql(url, fresh_db, *SCHEMA)
    tables = [f"{fresh_db}.{t}" for t in TABLES]
    started = threading.Event()
    settings = StreamSettings(local_stack.cdc_mysql_url, tables, stream_name, FileCheckpointStore(tmp_path / "cp"),
                              start=binlog_now(url), checkpoint_every=0.2, progress_every=60)

    def say(message: str) -> None:
        if message.startswith("capturing"):  # after the child rows are loaded
            started.set()

    capture = threading.Thread(target=run_stream, args=(settings, kinesis),
                               kwargs={"say": say, "install_signals": False})
    capture.start()
    assert started.wait(60), "capture did not start"
    _sql(url, fresh_db,
         "INSERT INTO accounts VALUES (1, 'ann'), (2, 'bob'), (3, 'cy'), (4, 'dee')",
         "INSERT INTO orders VALUES (10, 1, 5), (11, 1, 7), (20, 2, 9), (30, 3, 1), (40, 4, 2)",
         "INSERT INTO badges VALUES (1, 1, 'gold'), (1, 2, 'new'), (2, 1, 'x'), (3, 1, 'y')",
         "INSERT INTO notes VALUES (100, 1, 'a'), (101, 2, 'b'), (102, 3, 'c'), (103, NULL, 'd')",
         "INSERT INTO order_lines VALUES (1000, 10, 's1'), (1001, 11, 's2'), (1002, 20, 's3'), (1003, 30, 's4')",
         "UPDATE accounts SET id = 5 WHERE id = 1",  # orders, badges follow (CASCADE); note 100 loses it (SET NULL)
         "UPDATE accounts SET name = 'bobby' WHERE id = 2",  # the key stays: nothing cascades
         "DELETE FROM accounts WHERE id = 3",  # order 30, its line 1003, badge (3,1) go; note 102 keeps a NULL
         "BEGIN", "UPDATE accounts SET id = 6 WHERE id = 2", "UPDATE orders SET total = 99 WHERE id = 20", "COMMIT",
         "UPDATE accounts SET id = 7 WHERE id = 5",  # moved twice
         "INSERT INTO orders VALUES (50, 7, 3)")
    settings.until = binlog_now(url)  # the capture loop stops once it has read this far
    capture.join(120)
    assert not capture.is_alive()

    changes = all_changes(kinesis, stream_name)
    target = dynamodb_table()
    conn = connect(local_stack.cdc_mysql_url)
    schemas = read_schemas(conn, tables)
    mapper = compile_python(check(mapping_from_dict(mapping(fresh_db, target)), schemas))
    ddb = local_stack.client("dynamodb")
    outcome = ApplyEngine(mapper, ddb).apply(enumerate(changes))
    assert outcome.stats.failed == 0 and not outcome.poisons

    expected = {}  # every current row, mapped as the bulk load maps it
    for source in tables:
        for batch in all_rows(conn, schemas[source]):
            for row in batch:
                for result in mapper.map_row(source, row):
                    expected[canonical_item(json.loads(result.key))] = canonical_item(json.loads(result.item))
    conn.close()
    live = {}
    for page in ddb.get_paginator("scan").paginate(TableName=target):
        for raw in page["Items"]:
            item = from_client_item(raw)
            if DELETED not in item:
                live[canonical_item({k: item[k] for k in ("PK", "SK")})] = canonical_item(item, drop=("_ver",))
    assert live == expected  # no missing, no different, no stale item
    assert len(expected) == 18 and '{"PK":{"S":"ACC#7"},"SK":{"S":"ORDER#10"}}' in expected
    derived = [c for c in changes if c.source.derived]
    causes = {c.source.derived.split(" from ")[0] for c in derived}
    assert causes == {f"cascade {t}_ibfk_1" for t in ("orders", "badges", "notes", "order_lines")}
    assert all(c.source.derived.endswith(f"{fresh_db}.accounts") or c.table == "order_lines" for c in derived)
