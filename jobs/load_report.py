"""What a bulk load tells its user: counts per rule, rejects with reasons, duplicate target keys with
examples, and the summary JSON (progress while writing: jobs/spark_progress.py).

All counts come from one aggregate over the mapped (cached) DataFrame; collisions from one
group-by on the target key; nothing is collected to the driver but counts and a few examples.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

EXAMPLES = 10


def wcu_column():
    from pyspark.sql import functions as F

    return F.greatest(F.lit(1), F.ceil(F.col("_size") / F.lit(1024))).cast("long")


@dataclass
class Counts:
    by_rule: list[dict] = field(default_factory=list)  # source, rule, target, items, rejects, wcu, bytes
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    items_by_target: dict[str, int] = field(default_factory=dict)
    wcu_by_target: dict[str, int] = field(default_factory=dict)
    bytes_by_target: dict[str, int] = field(default_factory=dict)

    @property
    def items(self) -> int:
        return sum(self.items_by_target.values())

    @property
    def rejects(self) -> int:
        return sum(self.rejects_by_reason.values())


def count(mapped) -> Counts:
    """Items and rejects per rule and reason, WCU and bytes per target, in one pass."""
    from pyspark.sql import functions as F

    rows = (mapped.groupBy("_source", "_rule", "_target", "_reject_reason")
            .agg(F.count(F.lit(1)).alias("n"),
                 F.sum(F.when(F.col("_item").isNotNull(), wcu_column())).alias("wcu"),
                 F.sum(F.when(F.col("_item").isNotNull(), F.col("_size"))).alias("bytes"))
            .collect())
    c = Counts()
    rules: dict[str, dict] = {}
    for r in rows:
        entry = rules.setdefault(r["_rule"], {"source": r["_source"], "rule": r["_rule"], "target": r["_target"],
                                              "items": 0, "rejects": 0, "wcu": 0, "bytes": 0})
        if r["_reject_reason"] is None:
            entry["items"] += r["n"]
            entry["wcu"] += int(r["wcu"] or 0)
            entry["bytes"] += int(r["bytes"] or 0)
            t = r["_target"]
            c.items_by_target[t] = c.items_by_target.get(t, 0) + r["n"]
            c.wcu_by_target[t] = c.wcu_by_target.get(t, 0) + int(r["wcu"] or 0)
            c.bytes_by_target[t] = c.bytes_by_target.get(t, 0) + int(r["bytes"] or 0)
        else:
            entry["rejects"] += r["n"]
            c.rejects_by_reason[r["_reject_reason"]] = c.rejects_by_reason.get(r["_reject_reason"], 0) + r["n"]
    c.by_rule = sorted(rules.values(), key=lambda e: e["rule"])
    return c


def reject_rows(mapped):
    """The rejects dataset: one row per refused (row, rule) with the reason and the message."""
    from pyspark.sql import functions as F

    return mapped.where(F.col("_reject_reason").isNotNull()).select(
        F.col("_source").alias("source"), F.col("_rule").alias("rule"), F.col("_target").alias("target"),
        F.col("_reject_reason").alias("reason"), F.col("_reject_message").alias("message"),
        F.col("_source_key").alias("source_key"))


def reject_examples(mapped, n: int = EXAMPLES) -> list[dict]:
    return [r.asDict() for r in reject_rows(mapped).limit(n).collect()]


def collisions(mapped, n: int = EXAMPLES) -> dict:
    """Target keys that two or more source rows map to: how many, and examples with the source rows."""
    from pyspark.sql import functions as F

    items = mapped.where(F.col("_item").isNotNull())
    dup = (items.groupBy("_target", "_key")
           .agg(F.count(F.lit(1)).alias("n"),
                F.slice(F.sort_array(F.collect_list(F.struct("_source", "_rule", "_source_key"))), 1, 5)
                .alias("rows"))
           .where(F.col("n") > 1)).cache()
    try:
        per_target = dup.groupBy("_target").agg(F.count(F.lit(1)).alias("keys"), F.sum("n").alias("rows")).collect()
        keys = sum(int(r["keys"]) for r in per_target)
        rows = sum(int(r["rows"]) for r in per_target)
        # items not written because another row won their key
        superseded = {r["_target"]: int(r["rows"]) - int(r["keys"]) for r in per_target}
        examples = []
        if keys:
            for r in dup.orderBy("_target", "_key").limit(n).collect():
                examples.append({"target": r["_target"], "key": json.loads(r["_key"]), "rows": r["n"],
                                 "sources": [{"source": x["_source"], "rule": x["_rule"],
                                              "key": json.loads(x["_source_key"])} for x in r["rows"]]})
        return {"keys": keys, "rows": rows, "superseded": sum(superseded.values()), "superseded_by_target": superseded,
                "examples": examples}
    finally:
        dup.unpersist()


def one_item_per_key(items):
    """Keep one item per target key (a BatchWriteItem may not hold a key twice, and which of two
    colliding puts lands last would be chance): the item of the greatest (source, rule, source key)."""
    from pyspark.sql import functions as F

    win = F.max_by(F.struct("_item", "_size"), F.struct("_source", "_rule", "_source_key"))
    return items.groupBy("_target", "_key").agg(win.alias("w")).select("_target", "w._item", "w._size")
