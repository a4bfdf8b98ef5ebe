"""Statements in the binlog: none of them may move rows past capture unseen, or split a transaction.

Each MariaDB case failed before: DML logged as a statement was taken for DDL, ignored, and moved the
checkpoint; a comment before TRUNCATE, the second table of a DROP and DROP DATABASE passed the guard;
a SAVEPOINT ended the "transaction", so a checkpoint could land inside one; XA rows were dropped.
"""

from __future__ import annotations

import pytest

from mysql2dynamo.cdc.binlog import CaptureError
from mysql2dynamo.cdc.statements import classify
from mysql2dynamo.ground.mysql import connect
from tests.conftest import binlog_now, read_binlog


@pytest.mark.parametrize(("query", "kind", "tables"), [
    ("/* from the app */ TRUNCATE TABLE t", "truncate", [("shop", "t")]),
    ("truncate `shop`.`t`", "truncate", [("shop", "t")]),
    ("-- x\nDROP TABLE IF EXISTS other, shop.t CASCADE", "gone", [("shop", "other"), ("shop", "t")]),
    ("RENAME TABLE t TO t_old, shop.v TO w", "gone", [("shop", "t"), ("shop", "v")]),
    ("ALTER TABLE t RENAME TO u", "gone", [("shop", "t")]),
    ("CREATE OR REPLACE TABLE `t` (id int)", "gone", [("shop", "t")]),
    ("ALTER TABLE t RENAME COLUMN a TO b", "ddl", [("shop", "t")]),
    ("/*!40000 ALTER TABLE `t` DISABLE KEYS */", "ddl", [("shop", "t")]),
    ("SAVEPOINT `s1`", "inside", []), ("ROLLBACK TO SAVEPOINT s1", "inside", []), ("XA END 'x'", "inside", []),
    ("XA PREPARE 'x'", "xa", []), ("XA COMMIT 'x'", "xa", []), ("COMMIT", "commit", []),
    ("BEGIN", "begin", []), ("XA START 'x'", "begin", []),
])
def test_classify(query, kind, tables):
    statement = classify(query, "shop")
    assert statement.kind == kind
    assert list(statement.tables) == tables


@pytest.mark.parametrize(("query", "rewrites"), [
    ("ALTER TABLE t ADD COLUMN c INT NOT NULL DEFAULT 7", ["ADD COLUMN c"]),
    ("alter table shop.t add index (a), add `d e` varchar(9) default 'x,y', algorithm=inplace", ["ADD COLUMN d e"]),
    ("ALTER TABLE t ADD (a INT, b INT AS (a + 1) STORED), ADD CONSTRAINT ck CHECK (a > 0)", ["ADD COLUMN (...)"]),
    ("ALTER TABLE t DROP PRIMARY KEY, DROP COLUMN x, DROP y, DROP FOREIGN KEY f, DROP INDEX i",
     ["DROP COLUMN x", "DROP COLUMN y"]),
    ("ALTER TABLE t MODIFY price DECIMAL(10,4), CHANGE COLUMN a b INT, RENAME COLUMN p TO q",
     ["MODIFY COLUMN price", "CHANGE COLUMN a", "RENAME COLUMN p"]),
    ("ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4", ["CONVERT TO CHARACTER SET"]),
    ("ALTER TABLE t ALTER COLUMN a SET DEFAULT 1, ADD UNIQUE KEY (a), ENGINE=InnoDB", []),
    ("/*!40000 ALTER TABLE `t` DISABLE KEYS */", []),
])
def test_alter_clauses_that_rewrite_existing_rows(query, rewrites):
    """What capture backfills after (cdc/backfill.py): clauses that change stored values, not index or options."""
    assert list(classify(query, "shop").rewrites) == rewrites


def test_drop_database_names_the_database():
    assert classify("DROP SCHEMA IF EXISTS `shop`", "x").databases == ("shop",)


def _setup(local_stack, db):
    url = local_stack.mysql_url
    conn = connect(url, db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
        cur.execute("CREATE TABLE other (id INT PRIMARY KEY)")
    return conn, binlog_now(url)


def _read(local_stack, db, start):
    return read_binlog(local_stack, [f"{db}.t"], start)


@pytest.mark.parametrize("binlog_format", ["STATEMENT", "MIXED"])
def test_dml_logged_as_a_statement_is_refused(local_stack, fresh_db, binlog_format):
    conn, start = _setup(local_stack, fresh_db)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO t VALUES (1, 1)")
        cur.execute(f"SET SESSION binlog_format = {binlog_format}")
        cur.execute("UPDATE t SET v = v + 1 WHERE id = 1")
    conn.close()
    with pytest.raises(CaptureError, match=rf"statement-based DML on {fresh_db}\.t .*binlog_format=ROW"):
        _read(local_stack, fresh_db, start)


@pytest.mark.parametrize("statement", ["/* app */ TRUNCATE TABLE t", "tRuNcAtE table t", "DROP TABLE other, t",
                                       "DROP DATABASE {db}", "RENAME TABLE t TO t_old",
                                       "ALTER TABLE t RENAME TO t_new"])
def test_rows_leaving_without_row_events_are_refused(local_stack, fresh_db, statement):
    conn, start = _setup(local_stack, fresh_db)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO t VALUES (1, 1)")
        cur.execute(statement.format(db=fresh_db))
    conn.close()
    with pytest.raises(CaptureError, match=rf"{fresh_db}\.t"):
        _read(local_stack, fresh_db, start)


def test_a_savepoint_does_not_end_the_transaction(local_stack, fresh_db):
    conn, start = _setup(local_stack, fresh_db)
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("INSERT INTO t VALUES (1, 1)")
        cur.execute("INSERT INTO other VALUES (1)")
        cur.execute("SAVEPOINT s1")
        cur.execute("INSERT INTO t VALUES (2, 2)")
        cur.execute("ROLLBACK TO SAVEPOINT s1")
        cur.execute("INSERT INTO t VALUES (3, 3)")
        cur.execute("RELEASE SAVEPOINT s1")
        cur.execute("COMMIT")
    conn.close()
    with_changes = [tx for tx in _read(local_stack, fresh_db, start) if tx.changes]
    assert [[c.after["id"] for c in tx.changes] for tx in with_changes] == [[1, 3]]


def test_an_xa_transaction_on_a_captured_table_is_refused(local_stack, fresh_db):
    conn, start = _setup(local_stack, fresh_db)
    with conn.cursor() as cur:
        cur.execute("XA START 'm2d'")
        cur.execute("INSERT INTO t VALUES (1, 1)")
        cur.execute("XA END 'm2d'")
        cur.execute("XA PREPARE 'm2d'")
        cur.execute("XA ROLLBACK 'm2d'")
        cur.execute("XA START 'other'")  # XA on tables the migration does not capture is fine
        cur.execute("INSERT INTO other VALUES (7)")
        cur.execute("XA END 'other'")
        cur.execute("XA COMMIT 'other' ONE PHASE")
    conn.close()
    with pytest.raises(CaptureError, match=rf"XA transaction changing {fresh_db}\.t"):
        _read(local_stack, fresh_db, start)


def test_xa_on_other_tables_passes(local_stack, fresh_db):
    conn, start = _setup(local_stack, fresh_db)
    with conn.cursor() as cur:
        cur.execute("XA START 'other'")
        cur.execute("INSERT INTO other VALUES (7)")
        cur.execute("XA END 'other'")
        cur.execute("XA COMMIT 'other' ONE PHASE")
        cur.execute("INSERT INTO t VALUES (1, 1)")
    conn.close()
    assert [c.after["id"] for tx in _read(local_stack, fresh_db, start) for c in tx.changes] == [1]
