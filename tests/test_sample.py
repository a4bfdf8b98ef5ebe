"""The sample shop: every type arrives intact in MariaDB and in its binlog; traffic changes keys."""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import WriteRowsEvent

from mysql2dynamo.ground.mysql import MySQLTarget, connect
from mysql2dynamo.sample.create import create_sample
from mysql2dynamo.sample.data import SampleGenerator
from mysql2dynamo.sample.traffic import run_traffic


def _count(url: str, db: str, table: str) -> int:
    conn = connect(url, db)
    with conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM `{table}`")
        n = cur.fetchone()[0]
    conn.close()
    return n


def test_sample_create_is_deterministic_and_counts_match(mysql_url, sample_db):
    counts = {t: _count(mysql_url, sample_db, t) for t in ("customers", "orders", "order_items")}
    assert counts["customers"] == 200
    assert counts["orders"] > 200 and counts["order_items"] > counts["orders"]
    # the same seed gives the same first customer again
    again = SampleGenerator(7).customer()
    conn = connect(mysql_url, sample_db)
    with conn.cursor() as cur:
        cur.execute("SELECT email, api_key, lifetime_value FROM customers WHERE id = 1")
        assert cur.fetchone() == (again["email"], again["api_key"], again["lifetime_value"])
    conn.close()


def test_every_edge_value_survives_in_mysql(mysql_url, sample_db):
    conn = connect(mysql_url, sample_db)
    with conn.cursor() as cur:
        cur.execute("SELECT MAX(external_id), MIN(balance_cents), MAX(balance_cents), MAX(login_count) FROM customers")
        max_ext, min_bal, max_bal, max_login = cur.fetchone()
        assert max_ext > 2**63 and min_bal == -(2**63) and max_bal == 2**63 - 1 and max_login == 4294967295
        cur.execute("SELECT lifetime_value FROM customers WHERE ABS(lifetime_value) = %s", ("9" * 28 + "." + "9" * 10,))
        assert cur.fetchone()[0].copy_abs() == Decimal("9" * 28 + "." + "9" * 10)
        cur.execute("SELECT api_key FROM customers WHERE api_key LIKE CONCAT('%', CHAR(0,0,0,0)) LIMIT 1")
        key = cur.fetchone()[0]
        assert len(key) == 16 and key.endswith(b"\0\0\0\0")
        cur.execute("SELECT MIN(preferred_time), MAX(preferred_time) FROM customers")
        lo, hi = cur.fetchone()
        assert lo < dt.timedelta(0) or hi > dt.timedelta(hours=24)
        cur.execute("SELECT name FROM customers WHERE name LIKE '%🚀%' OR name LIKE '%🌮%' LIMIT 1")
        assert cur.fetchone() is not None
        cur.execute("SELECT profile FROM customers WHERE profile IS NOT NULL LIMIT 1")
        assert json.loads(cur.fetchone()[0])["emoji"] == "🎉"
        cur.execute("SELECT COUNT(*) FROM customers WHERE avatar IS NULL OR birthday IS NULL OR age IS NULL")
        assert cur.fetchone()[0] > 0
        cur.execute("SELECT COUNT(*) FROM customers WHERE tags = ''")
        assert cur.fetchone()[0] > 0
        cur.execute("SELECT created_at FROM customers WHERE MICROSECOND(created_at) > 0 LIMIT 1")
        assert cur.fetchone()[0].microsecond > 0
    conn.close()


def test_sample_rows_reach_the_binlog_with_column_names(local_stack, fresh_db):
    conn = connect(local_stack.mysql_url)
    with conn.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")
        log_file, log_pos = cur.fetchone()[:2]
    conn.close()
    create_sample(local_stack.mysql_url, fresh_db, customers=5, seed=3)

    cdc = MySQLTarget.parse(local_stack.cdc_mysql_url)
    reader = BinLogStreamReader(
        connection_settings={"host": cdc.host, "port": cdc.port, "user": cdc.user, "password": cdc.password},
        server_id=4242, log_file=log_file, log_pos=log_pos, resume_stream=True, blocking=False,
        only_events=[WriteRowsEvent], only_schemas=[fresh_db],
        # is_mariadb=True makes the reader ask for a GTID position and ignore log_file/log_pos;
        # MariaDB serves the plain file/position dump (COM_BINLOG_DUMP) as MySQL does
        is_mariadb=False,
    )
    rows = [(ev.table, row["values"]) for ev in reader for row in ev.rows]
    reader.close()
    customers = [values for table, values in rows if table == "customers"]
    assert len(customers) == 5
    assert {"id", "external_id", "lifetime_value", "api_key", "tags", "profile"} <= set(customers[0])
    assert any(table == "order_items" for table, _ in rows)


def test_concurrent_writers_on_few_rows_keep_going_and_count_only_what_committed(mysql_url, fresh_db):
    """The pipeline bench drives the mix from several processes: one writer shipped or deleted an order
    another had picked (KeyError 'shipped'), or two deadlocked, and the writer died."""
    create_sample(mysql_url, fresh_db, customers=3, seed=2)
    before = {t: _count(mysql_url, fresh_db, t) for t in ("customers", "orders", "order_items")}
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda seed: run_traffic(mysql_url, fresh_db, rate=400, seconds=3, seed=seed),
                             range(4)))
    assert sum(r.operations["advance_order"] for r in runs) > 0
    for table in ("customers", "orders", "order_items"):
        changed = sum(r.changes[(table, "insert")] - r.changes[(table, "delete")] for r in runs)
        assert _count(mysql_url, fresh_db, table) == before[table] + changed, table


def test_traffic_inserts_updates_deletes_and_moves_keys(mysql_url, fresh_db):
    create_sample(mysql_url, fresh_db, customers=50, seed=11)
    before = {t: _count(mysql_url, fresh_db, t) for t in ("customers", "orders", "order_items")}
    stats = run_traffic(mysql_url, fresh_db, rate=200, seconds=3, seed=5)
    summary = stats.as_dict()
    assert summary["transactions"] >= 200
    ops = summary["operations"]
    for op in ("insert_order", "advance_order", "move_order", "redate_order", "change_email", "delete_order"):
        assert ops.get(op, 0) > 0, summary
    by_table = summary["by_table"]
    for table in ("customers", "orders", "order_items"):
        expected = before[table] + by_table.get(f"{table}.insert", 0) - by_table.get(f"{table}.delete", 0)
        assert _count(mysql_url, fresh_db, table) == expected
