"""The key design, measured on the snapshot with Spark (so it holds at any size): per target table,
how many partition keys the items spread over and which are hottest (share of items, of write
units, and of sampled writes when a change sample is given), the item sizes against DynamoDB's
1 KB write-unit steps and 400 KB limit, each GSI's fan-out and skew, and a warning wherever one
partition would pass DynamoDB's per-partition limits (1,000 WCU / 3,000 RCU per second) at the
planned rate.

Every figure is an aggregate over all the mapped items; only the top-N keys and the histogram
reach the driver. A partition's share of the load's write rate is its share of the items' write
units, since the load writes a target's items in random order (it shuffles them); reads are
assumed to follow the items (the planned read rate times the key's share). A key's share of
writes is counted on a sample of changes mapped with the Python engine (`write_counts`): one write
per item a change puts or tombstones."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

PARTITION_WCU, PARTITION_RCU = 1000, 3000
MAX_ITEM_BYTES = 400 * 1024
SIZE_STEPS = (256, 512, 1024, 2048, 4096, 8192, 16384, 65536, 131072, MAX_ITEM_BYTES)


@dataclass(frozen=True)
class KeyLayout:
    """A target table's partition key attribute and its GSIs' (index -> partition key attribute)."""

    partition_key: str
    gsis: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rates:
    """The planned rates of one target table: the load's write units and the application's reads per second."""

    wcu: float | None = None
    rcu: float | None = None


def _attribute(column: str, name: str):
    """The value of attribute `name` of a DynamoDB JSON column as text (S, N or B), or null."""
    from pyspark.sql import functions as F

    return F.coalesce(*[F.get_json_object(F.col(column), f"$['{name}'].{t}") for t in ("S", "N", "B")])


def _top(per_key, top: int, total: int, total_wcu: int | None = None) -> list[dict]:
    rows = per_key.orderBy(per_key["items"].desc(), per_key["key"]).limit(top).collect()
    return [{"key": r["key"], "items": r["items"], "share": round(r["items"] / total, 4) if total else 0.0,
             **({"wcu_share": round(r["wcu"] / total_wcu, 4)} if total_wcu else {})} for r in rows]


def _size_counts() -> list:
    """One count column per size step (items above the step before, up to this one), and one for larger."""
    from pyspark.sql import functions as F

    size, lower = F.col("_size"), [0, *SIZE_STEPS]
    return [F.sum(F.when((size > lo) & (size <= hi), 1).otherwise(0)).alias(f"upto_{hi}")
            for lo, hi in zip(lower, SIZE_STEPS, strict=False)] + \
        [F.sum(F.when(size > SIZE_STEPS[-1], 1).otherwise(0)).alias("larger")]


def _per_key(frame) -> tuple[object, int, int]:
    """Items (and write units) per key of `frame`, cached, with the number of keys and of items."""
    from pyspark.sql import functions as F

    per_key = frame.groupBy("key").agg(F.count(F.lit(1)).alias("items"), F.sum("wcu").alias("wcu")).cache()
    counts = per_key.agg(F.count(F.lit(1)).alias("keys"), F.sum("items").alias("items")).first()
    return per_key, counts["keys"], counts["items"] or 0


def analyze_target(items, target: str, layout: KeyLayout, rates: Rates, top: int = 10,
                   writes: dict[str, int] | None = None) -> dict:
    """The key-design figures of one target's mapped items (`_item`, `_key`, `_size` columns)."""
    from pyspark.sql import functions as F

    from mysql2dynamo.jobs.load_report import wcu_column

    keyed = items.select(_attribute("_key", layout.partition_key).alias("key"), "_item", "_size",
                         wcu_column().alias("wcu")).cache()
    cached = [keyed]
    try:
        totals = keyed.agg(F.count(F.lit(1)).alias("items"), F.sum("wcu").alias("wcu"), F.max("_size").alias("max"),
                           *_size_counts()).first()
        n, wcu, over = totals["items"], int(totals["wcu"] or 0), totals["larger"]
        per_key, keys, _ = _per_key(keyed)
        cached.append(per_key)
        hot = _top(per_key, top, n, wcu)
        sampled = sum((writes or {}).values())
        for h in hot:
            h["write_share"] = round(writes.get(h["key"], 0) / sampled, 4) if sampled else None
        sizes = [{"upto_bytes": s, "items": totals[f"upto_{s}"]} for s in SIZE_STEPS]
        out = {"target": target, "items": n, "partition_key": layout.partition_key,
               "partition_keys": keys, "hot_keys": hot, "item_sizes": sizes + ([{"upto_bytes": None, "items": over}]
                                                                               if over else []),
               "max_item_bytes": totals["max"], "items_over_400kb": over,
               "wcu_per_item": round(wcu / n, 2) if n else 0.0, "sampled_writes": sampled, "gsis": [],
               "rates": {"wcu": rates.wcu, "rcu": rates.rcu}, "warnings": []}
        if over:
            out["warnings"].append(f"{target}: {over:,} items over DynamoDB's 400 KB item limit "
                                   f"(largest {totals['max']:,} bytes)")
        out["warnings"] += _partition_warnings(target, "", hot, rates, "wcu_share")
        for index, attribute in sorted(layout.gsis.items()):
            projected = keyed.select(_attribute("_item", attribute).alias("key"), "wcu").where(F.col("key").isNotNull())
            g_per_key, g_keys, g_items = _per_key(projected)
            cached.append(g_per_key)
            g_hot = _top(g_per_key, top, g_items)
            out["gsis"].append({"index": index, "partition_key": attribute, "items": g_items,
                                "fan_out": round(g_items / n, 3) if n else 0.0, "partition_keys": g_keys,
                                "hot_keys": g_hot})
            # an index partition takes the writes of its items: its share of the table's items
            scaled = [{**h, "share_of_table": h["items"] / n} for h in g_hot] if n else []
            out["warnings"] += _partition_warnings(target, index, scaled, rates, "share_of_table")
        return out
    finally:
        for frame in cached:
            frame.unpersist()


def _partition_warnings(target: str, index: str, hot: list[dict], rates: Rates, share: str) -> list[str]:
    where = f"{target}.{index}" if index else target
    warnings = []
    for h in hot:
        for rate, limit, what, key_share in ((rates.wcu, PARTITION_WCU, "WCU", h.get(share)),
                                             (None if index else rates.rcu, PARTITION_RCU, "RCU", h["share"])):
            if rate and key_share and key_share * rate > limit:
                warnings.append(f"{where}: partition key {h['key']!r} would take {key_share * rate:,.0f} {what}/s "
                                f"({key_share:.1%} of {rate:,.0f}), over DynamoDB's {limit:,} {what}/s per partition")
    return warnings


def write_counts(changes: Iterable, mapper, layouts: dict[str, KeyLayout]) -> dict[str, dict[str, int]]:
    """Writes per target and partition key value in a sample of changes (`cdc.envelope.Change`), mapped
    with the Python engine (`mapper`): each item a change's images map to is one write (an update that
    keeps the item's key one; one that moves it two: the new item and the old one's tombstone)."""
    counts: dict[str, Counter] = {t: Counter() for t in layouts}
    for change in changes:
        source = f"{change.db}.{change.table}"
        if source not in mapper.sources:
            continue
        written = {(r.target, r.key) for image in (change.before, change.after) if image is not None
                   for r in mapper.map_row(source, image) if r.status == "item" and r.target in layouts}
        for target, key in written:
            value = json.loads(key)[layouts[target].partition_key]
            counts[target][next(iter(value.values()))] += 1
    return {t: dict(c) for t, c in counts.items()}


def default_layouts(checked) -> dict[str, KeyLayout]:
    """Each target's partition key when its table cannot be described: the rules' first key attribute."""
    layouts: dict[str, KeyLayout] = {}
    for cr in checked.rules:
        layouts.setdefault(cr.rule.target, KeyLayout(next(iter(cr.rule.key))))
    return layouts


def analyze(spark, manifest, checked, layouts: dict[str, KeyLayout], rates: dict[str, Rates], top: int = 10,
            scheme: str = "s3a", writes: dict[str, dict[str, int]] | None = None) -> dict:
    """The key-design figures of every target of the checked mapping, from the snapshot."""
    from pyspark.sql import functions as F

    from mysql2dynamo.jobs.bulk_load import mapped_frame

    sources = sorted({cr.rule.source for cr in checked.rules})
    mapped = mapped_frame(spark, manifest, checked, sources, scheme).where(F.col("_item").isNotNull()).cache()
    try:
        return {"snapshot": manifest.snapshot_id,
                "targets": [analyze_target(mapped.where(F.col("_target") == t), t, layouts[t],
                                           rates.get(t, Rates()), top, (writes or {}).get(t))
                            for t in sorted(layouts)]}
    finally:
        mapped.unpersist()


def render(result: dict) -> str:
    """The figures as text, one block per target."""
    lines = []
    for t in result["targets"]:
        lines.append(f"{t['target']}: {t['items']:,} items over {t['partition_keys']:,} partition keys "
                     f"({t['partition_key']}), {t['wcu_per_item']} WCU per item, largest {t['max_item_bytes']:,} bytes")
        lines.append("  hottest partition keys (share of items"
                     + (f", of {t['sampled_writes']:,} sampled writes" if t["sampled_writes"] else "") + "):")
        for h in t["hot_keys"]:
            writes = f", {h['write_share']:.1%} of writes" if h.get("write_share") is not None else ""
            lines.append(f"    {h['key']}: {h['items']:,} items ({h['share']:.1%}){writes}")
        steps = ", ".join(f"<= {b['upto_bytes']:,} B: {b['items']:,}" if b["upto_bytes"] else f"larger: {b['items']:,}"
                          for b in t["item_sizes"] if b["items"])
        lines.append(f"  item sizes: {steps}")
        for g in t["gsis"]:
            top = g["hot_keys"][0] if g["hot_keys"] else None
            lines.append(f"  GSI {g['index']} ({g['partition_key']}): {g['items']:,} items, fan-out {g['fan_out']:.2f} "
                         f"per item, {g['partition_keys']:,} keys" +
                         (f", hottest {top['key']} ({top['share']:.1%})" if top else ""))
        rates = t["rates"]
        lines.append(f"  at {rates['wcu'] or '-'} WCU/s (load) and {rates['rcu'] or '-'} RCU/s (reads): "
                     + ("; ".join(t["warnings"]) if t["warnings"] else "no partition over its limits"))
    return "\n".join(lines)
