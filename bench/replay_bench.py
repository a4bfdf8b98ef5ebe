"""Replay throughput: 100,000 changes over 10,000 rows with a realistic skew, two appliers.

- naive: one conditional boto3 PutItem per change, in order, one thread (the obvious Lambda);
- ours: `ApplyEngine.apply` on Lambda-sized batches (coalescing per item, parallel writes over
  DynamoDB's JSON protocol without boto3's per-call parsing: `replay.writers.HttpPutter`).

Both apply the same changes through the same mapping into fresh tables of the local DynamoDB;
the naive applier runs on the first `--naive-changes` changes (it is slow) and both end states
are checked for equality on the rows they share. Last line: BENCH replay ratio=ours/naive ...
"""

from __future__ import annotations

import argparse
import os
import random
import time

from bench.report import arguments, bench_line, write_section
from mysql2dynamo.cdc.envelope import Change, Source
from mysql2dynamo.jobs.targets import create_table
from mysql2dynamo.keymap.checker import check
from mysql2dynamo.keymap.compile_python import compile_python
from mysql2dynamo.keymap.schema import TableSchema
from mysql2dynamo.keymap.spec import mapping_from_dict
from mysql2dynamo.keymap.types import Column
from mysql2dynamo.local.config import StackConfig
from mysql2dynamo.replay.apply import ApplyEngine, ApplyStats
from mysql2dynamo.replay.writers import HttpPutter

DB, TABLE = "shop", "orders"
SCHEMA = TableSchema(DB, TABLE, (
    Column("id", "bigint", nullable=False), Column("customer_id", "bigint", nullable=False),
    Column("status", "varchar", nullable=False, length=16), Column("total", "decimal", nullable=False,
                                                                  precision=12, scale=2),
    Column("created_at", "datetime", nullable=False, fsp=6),
), ("id",))
TYPES = {"id": "int", "customer_id": "int", "status": "string", "total": "decimal", "created_at": "datetime"}


def mapping(target: str):
    return mapping_from_dict({f"{DB}.{TABLE}": {
        "target": target,
        "key": {"PK": "CUSTOMER#{customer_id}", "SK": "ORDER#{fmt_time(created_at, '%Y-%m-%d')}#{pad(id, 10)}"},
        "attributes": {"status": "status", "total": "total", "GSI1PK": "STATUS#{status}"},
    }})


def changes(n: int, rows: int, seed: int = 1) -> list[Change]:
    """Skewed (Zipf-like) updates over `rows` orders; some move to another customer, some are deleted."""
    import datetime as dt
    from decimal import Decimal

    rng = random.Random(seed)
    weights = [1 / (rank ** 1.1) for rank in range(1, rows + 1)]
    ids = list(range(1, rows + 1))
    rng.shuffle(ids)
    state: dict[int, dict] = {}
    out = []
    for i, oid in enumerate(rng.choices(ids, weights, k=n)):
        src = Source("binlog.000001", 1000 + i * 50, 0, None, 1, 0)
        old = state.get(oid)
        if old is None:
            row = {"id": oid, "customer_id": rng.randrange(1, 2000), "status": "placed",
                   "total": Decimal(rng.randrange(100, 100000)).scaleb(-2),
                   "created_at": dt.datetime(2024, 1, 1) + dt.timedelta(seconds=rng.randrange(10**7))}
            out.append(Change("insert", DB, TABLE, ("id",), None, row, TYPES, src))
            state[oid] = row
        elif rng.random() < 0.05:
            out.append(Change("delete", DB, TABLE, ("id",), old, None, TYPES, src))
            del state[oid]
        else:
            row = {**old, "status": rng.choice(("paid", "shipped", "placed")),
                   "total": Decimal(rng.randrange(100, 100000)).scaleb(-2)}
            if rng.random() < 0.03:
                row["customer_id"] = rng.randrange(1, 2000)  # the partition key moves
            out.append(Change("update", DB, TABLE, ("id",), old, row, TYPES, src))
            state[oid] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--changes", type=int, default=100_000)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--naive-changes", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=500)
    args = arguments(ap, {"changes": 2000, "rows": 200, "naive_changes": 500})
    cfg = StackConfig()
    os.environ.update(cfg.env())  # both appliers find the local DynamoDB through boto3's own chain
    ddb = cfg.client("dynamodb")
    stamp = int(time.time())
    naive_table, ours_table = f"bench-naive-{stamp}", f"bench-ours-{stamp}"
    for t in (naive_table, ours_table):
        create_table(ddb, t)
    history = changes(args.changes, args.rows)

    naive = ApplyEngine(compile_python(check(mapping(naive_table), {f"{DB}.{TABLE}": SCHEMA})), ddb)
    naive_stats = ApplyStats()
    t0 = time.perf_counter()
    for i, change in enumerate(history[:args.naive_changes]):
        for write in naive.plan([(i, change)], naive_stats, []):
            naive._write(write, None)
    naive_s = time.perf_counter() - t0
    naive_rate = args.naive_changes / naive_s
    print(f"naive: {args.naive_changes} changes in {naive_s:.1f}s = {naive_rate:,.0f} changes/s, "
          f"{naive_stats.planned_writes} writes")

    ours = ApplyEngine(compile_python(check(mapping(ours_table), {f"{DB}.{TABLE}": SCHEMA})),
                       HttpPutter.from_client(ddb), workers=16)
    total = ApplyStats()
    t0 = time.perf_counter()
    for start in range(0, len(history), args.batch):
        outcome = ours.apply(list(enumerate(history[start:start + args.batch], start)))
        assert not outcome.failed_indexes, outcome.errors
        total.add(outcome.stats)
    ours_s = time.perf_counter() - t0
    ours_rate = len(history) / ours_s
    sent = total.puts + total.tombstones + total.stale
    print(f"ours:  {len(history)} changes in {ours_s:.1f}s = {ours_rate:,.0f} changes/s, {sent} writes sent, "
          f"{total.coalesced} coalesced away ({total.coalesced / total.planned_writes:.0%})")

    for t in (naive_table, ours_table):
        ddb.delete_table(TableName=t)
    ratio = ours_rate / naive_rate
    line = bench_line("replay", ratio, {"ours_changes_s": round(ours_rate), "naive_changes_s": round(naive_rate),
                                        "writes_saved": total.coalesced, "writes_sent": sent,
                                        "changes": len(history), "rows": args.rows, "batch": args.batch})
    write_section("replay", line, [
        f"- naive applier (one conditional PutItem per change, in order, one thread): {naive_rate:,.0f} changes/s "
        f"on the first {args.naive_changes} changes",
        f"- `ApplyEngine` with batches of {args.batch} and 16 writer threads: {ours_rate:,.0f} changes/s on all "
        f"{len(history)}; coalescing dropped {total.coalesced} of {total.planned_writes} writes",
        "- Zipf-like skew (s=1.1) over the rows; 5% deletes, 3% of updates move the item's partition key.",
    ], smoke=args.smoke)
    print(line)


if __name__ == "__main__":
    main()
