"""`mysql2dynamo sample create`: (re)build the sample shop database with N customers."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.sample.data import (
    INSERT_CUSTOMER,
    INSERT_ITEM,
    INSERT_ORDER,
    SampleGenerator,
    values,
)
from mysql2dynamo.sample.schema import CUSTOMER_COLUMNS, ITEM_COLUMNS, ORDER_COLUMNS, TABLES

BATCH = 500


@dataclass
class SampleCounts:
    customers: int = 0
    orders: int = 0
    order_items: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def create_sample(url: str, database: str = "shop", customers: int = 1000, seed: int = 42,
                  say: Callable[[str], None] = lambda msg: None) -> SampleCounts:
    """Drop and recreate `database` with `customers` customers, ~2 orders each, 1-4 lines per order.

    Ids are assigned in the generator (not AUTO_INCREMENT) so one seed always gives the same rows.
    """
    if not database.replace("_", "").isalnum():
        raise ValueError(f"database name must be letters, digits and _: {database!r}")
    started = time.monotonic()
    gen = SampleGenerator(seed)
    counts = SampleCounts()
    conn = connect(url, autocommit=False)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (database,))
            if cur.fetchone()[0]:  # an empty database is kept: no DROP in the binlog a capture may be reading
                cur.execute(f"DROP DATABASE `{database}`")
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4 "
                        "COLLATE utf8mb4_unicode_ci")
            cur.execute(f"USE `{database}`")
            for ddl in TABLES.values():
                cur.execute(ddl)
            conn.commit()
            batch: dict[str, list[tuple]] = {"c": [], "o": [], "i": []}
            next_order = 1
            for cid in range(1, customers + 1):
                batch["c"].append((cid, *values(gen.customer(), CUSTOMER_COLUMNS)))
                for _ in range(gen.rng.choice((0, 1, 2, 2, 3, 4))):
                    batch["o"].append((next_order, *values(gen.order(cid), ORDER_COLUMNS)))
                    batch["i"].extend(values(item, ITEM_COLUMNS) for item in gen.items(next_order))
                    next_order += 1
                if len(batch["c"]) >= BATCH or cid == customers:
                    _flush(cur, batch, counts)
                    conn.commit()
                    say(f"sample {database}: {counts.customers}/{customers} customers, "
                             f"{counts.orders} orders, {counts.order_items} order items")
    finally:
        conn.close()
    counts.seconds = time.monotonic() - started
    return counts


def _with_id(sql: str) -> str:
    return sql.replace("(`", "(`id`, `", 1).replace("VALUES (", "VALUES (%s, ", 1)


def _flush(cur, batch: dict[str, list[tuple]], counts: SampleCounts) -> None:
    cur.executemany(_with_id(INSERT_CUSTOMER), batch["c"])
    cur.executemany(_with_id(INSERT_ORDER), batch["o"])
    cur.executemany(INSERT_ITEM, batch["i"])
    counts.customers += len(batch["c"])
    counts.orders += len(batch["o"])
    counts.order_items += len(batch["i"])
    for rows in batch.values():
        rows.clear()
