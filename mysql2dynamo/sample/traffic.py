"""`mysql2dynamo sample traffic`: the application keeps writing while the migration runs.

A paced mix of single-transaction changes against the sample shop, including the ones that
break naive replays: updates of columns that the sample key mapping puts into keys (an order
moved to another customer changes its partition key, a corrected order date changes its sort
key, a new email changes a GSI key), deletes of parents after their children, and inserts of
orders with their lines in one transaction.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pymysql

from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.sample.data import (
    INSERT_CUSTOMER,
    INSERT_ITEM,
    INSERT_ORDER,
    NEXT_STATUS,
    TAGS,
    TIERS,
    SampleGenerator,
    values,
)
from mysql2dynamo.sample.schema import CUSTOMER_COLUMNS, ITEM_COLUMNS, ORDER_COLUMNS

READ_ONLY = 1290  # ER_OPTION_PREVENTS_STATEMENT: the server runs with --read-only
# another writer holds the rows (several traffic processes share the tables): that transaction is given up
LOCK_CONFLICTS = frozenset({1205, 1213})  # ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK


@dataclass
class TrafficStats:
    """Rows changed, by table and operation (what the binlog will carry), and the pacing."""

    changes: Counter = field(default_factory=Counter)  # (table, op) -> rows
    operations: Counter = field(default_factory=Counter)  # operation name -> transactions
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.changes.values())

    def as_dict(self) -> dict:
        return {
            "seconds": round(self.seconds, 2),
            "transactions": sum(self.operations.values()),
            "rows_changed": self.total_rows,
            "by_table": {f"{t}.{op}": n for (t, op), n in sorted(self.changes.items())},
            "operations": dict(sorted(self.operations.items())),
        }


class Traffic:
    """One connection issuing the operation mix; each operation is one transaction."""

    def __init__(self, conn: pymysql.Connection, seed: int | None = None) -> None:
        self.conn = conn
        self.gen = SampleGenerator(seed)
        self.stats = TrafficStats()
        self._changes: Counter = Counter()  # the rows the current transaction changed
        self.ops: list[tuple[Callable[[], None], int]] = [
            (self.insert_customer, 8), (self.insert_order, 22), (self.advance_order, 20),
            (self.update_customer, 10), (self.change_email, 6), (self.move_order, 5),
            (self.redate_order, 5), (self.update_item, 10), (self.add_item, 5),
            (self.delete_item, 3), (self.delete_order, 6),
        ]

    # -------------------------------------------------------------- plumbing

    def _exec(self, cur, table: str, op: str, sql: str, args=()) -> int:
        n = cur.execute(sql, args)
        self._changes[(table, op)] += n  # counted in the stats once the transaction commits
        return n

    def _pick(self, cur, table: str, column: str = "id", where: str = "1=1"):
        """A random existing key, found by a range seek (no ORDER BY RAND() on big tables)."""
        cur.execute(f"SELECT MIN({column}), MAX({column}) FROM {table} WHERE {where}")
        lo, hi = cur.fetchone()
        if lo is None:
            return None
        probe = self.gen.rng.randint(int(lo), int(hi))
        cur.execute(f"SELECT {column} FROM {table} WHERE {column} >= %s AND {where} "
                    f"ORDER BY {column} LIMIT 1", (probe,))
        row = cur.fetchone()
        return row[0] if row else None

    def step(self) -> str:
        funcs, weights = zip(*self.ops, strict=True)
        op = self.gen.rng.choices(funcs, weights)[0]
        self._changes = Counter()
        try:
            op()
            self.conn.commit()
            self.stats.changes.update(self._changes)
            self.stats.operations[op.__name__] += 1
        except pymysql.err.IntegrityError:
            self.conn.rollback()  # a race with our own earlier change (e.g. unique email): skip it
            self.stats.operations["skipped"] += 1
        except pymysql.err.OperationalError as e:
            if e.args[0] == READ_ONLY:
                self.conn.rollback()  # fenced by the cutover: the application's writes wait
                self.stats.operations["refused_read_only"] += 1
            elif e.args[0] in LOCK_CONFLICTS:
                self.conn.rollback()
                self.stats.operations["lock_conflict"] += 1
            else:
                raise
        return op.__name__

    # -------------------------------------------------------------- operations

    def insert_customer(self) -> None:
        with self.conn.cursor() as cur:
            self._exec(cur, "customers", "insert", INSERT_CUSTOMER, values(self.gen.customer(), CUSTOMER_COLUMNS))

    def insert_order(self) -> None:
        with self.conn.cursor() as cur:
            cid = self._pick(cur, "customers")
            if cid is None:
                return
            self._exec(cur, "orders", "insert", INSERT_ORDER, values(self.gen.order(cid), ORDER_COLUMNS))
            oid = cur.lastrowid
            for item in self.gen.items(oid):
                self._exec(cur, "order_items", "insert", INSERT_ITEM, values(item, ITEM_COLUMNS))

    def advance_order(self) -> None:
        with self.conn.cursor() as cur:
            oid = self._pick(cur, "orders", where="status IN ('draft','placed','paid')")
            if oid is None:
                return
            cur.execute("SELECT status FROM orders WHERE id = %s FOR UPDATE", (oid,))
            row = cur.fetchone()
            if row is None or row[0] not in NEXT_STATUS:  # another writer shipped or deleted it since the pick
                return
            status = row[0]
            shipped = ", shipped_at = NOW(3)" if NEXT_STATUS[status] == "shipped" else ""
            self._exec(cur, "orders", "update", f"UPDATE orders SET status = %s{shipped} WHERE id = %s",
                       (NEXT_STATUS[status], oid))

    def update_customer(self) -> None:
        rng = self.gen.rng
        with self.conn.cursor() as cur:
            cid = self._pick(cur, "customers")
            if cid is None:
                return
            self._exec(cur, "customers", "update",
                       "UPDATE customers SET tier = %s, tags = %s, lifetime_value = %s, "
                       "login_count = IF(login_count < 4294967295, login_count + 1, 0) WHERE id = %s",
                       (rng.choice(TIERS), ",".join(t for t in TAGS if rng.random() < 0.4),
                        self.gen.decimal_38_10(), cid))

    def change_email(self) -> None:
        with self.conn.cursor() as cur:
            cid = self._pick(cur, "customers")
            if cid is not None:
                self._exec(cur, "customers", "update", "UPDATE customers SET email = %s WHERE id = %s",
                           (self.gen.email(), cid))

    def move_order(self) -> None:
        """Reassign an order to another customer: the order's partition key changes."""
        with self.conn.cursor() as cur:
            oid, cid = self._pick(cur, "orders"), self._pick(cur, "customers")
            if oid is not None and cid is not None:
                self._exec(cur, "orders", "update", "UPDATE orders SET customer_id = %s WHERE id = %s", (cid, oid))

    def redate_order(self) -> None:
        """Correct an order's date: the order's sort key changes."""
        with self.conn.cursor() as cur:
            oid = self._pick(cur, "orders")
            if oid is not None:
                self._exec(cur, "orders", "update",
                           "UPDATE orders SET created_at = created_at - INTERVAL %s SECOND WHERE id = %s",
                           (self.gen.rng.randrange(1, 86400 * 30), oid))

    def update_item(self) -> None:
        with self.conn.cursor() as cur:
            oid = self._pick(cur, "order_items", "order_id")
            if oid is not None:
                self._exec(cur, "order_items", "update",
                           "UPDATE order_items SET qty = qty + 1, unit_price = %s WHERE order_id = %s LIMIT 1",
                           (self.gen.money(500), oid))

    def add_item(self) -> None:
        with self.conn.cursor() as cur:
            oid = self._pick(cur, "orders")
            if oid is None:
                return
            cur.execute("SELECT COALESCE(MAX(line_no), 0) FROM order_items WHERE order_id = %s FOR UPDATE", (oid,))
            for item in self.gen.items(oid, first_line=int(cur.fetchone()[0]) + 1, count=1):
                self._exec(cur, "order_items", "insert", INSERT_ITEM, values(item, ITEM_COLUMNS))

    def delete_item(self) -> None:
        with self.conn.cursor() as cur:
            oid = self._pick(cur, "order_items", "order_id")
            if oid is not None:
                self._exec(cur, "order_items", "delete",
                           "DELETE FROM order_items WHERE order_id = %s ORDER BY line_no DESC LIMIT 1", (oid,))

    def delete_order(self) -> None:
        """Children first: the sample's foreign keys are RESTRICT (cascades are not in the binlog)."""
        with self.conn.cursor() as cur:
            oid = self._pick(cur, "orders")
            if oid is not None:
                self._exec(cur, "order_items", "delete", "DELETE FROM order_items WHERE order_id = %s", (oid,))
                self._exec(cur, "orders", "delete", "DELETE FROM orders WHERE id = %s", (oid,))


def run_traffic(url: str, database: str = "shop", rate: float = 20.0, seconds: float = 10.0,
                seed: int | None = None, progress: Callable[[str], None] = lambda msg: None,
                stop: Callable[[], bool] = lambda: False) -> TrafficStats:
    """Run the mix at `rate` transactions/s for `seconds` (or until `stop()`); return what changed."""
    conn = connect(url, database, autocommit=False)
    traffic = Traffic(conn, seed)
    started = time.monotonic()
    next_report = started + 5
    interval = 1.0 / rate
    done = 0
    try:
        while not stop():
            now = time.monotonic()
            if now - started >= seconds:
                break
            due = started + done * interval
            if due > now:
                time.sleep(min(due - now, 0.5))
                continue
            traffic.step()
            done += 1
            if now >= next_report:
                progress(f"traffic {database}: {done} transactions, {traffic.stats.total_rows} rows changed "
                         f"in {now - started:.0f}s")
                next_report += 5
    finally:
        traffic.stats.seconds = time.monotonic() - started
        conn.close()
    return traffic.stats
