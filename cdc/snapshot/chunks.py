"""Primary-key range splitting: a table becomes chunks that workers dump independently.

A chunk is `lower <= key < upper` on a prefix of the primary key (either bound open). Bounds are
computed before the snapshot is opened (they only partition the key space, so they need not be
consistent) and stored in the snapshot state, so a resumed run dumps exactly the same ranges.

- integer leading key column: equal-width ranges of that column between MIN and MAX (O(1); the
  outer chunks are open-ended, so rows outside MIN..MAX at snapshot time are still covered);
- any other key (strings, composite keys led by a non-integer, dates, ...): boundaries found by
  seeking through the primary key index, `WHERE key > last ORDER BY key LIMIT 1 OFFSET step-1`
  (one pass over the index on the server, no key sent to the client except the boundaries);
- no primary key: one chunk, the whole table.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal

from mysql2dynamo.keymap.schema import TableSchema

INTEGER_TYPES = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"}


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@dataclass(frozen=True)
class Chunk:
    table: str  # db.table
    index: int
    columns: tuple[str, ...] = ()  # key columns the bounds apply to
    lower: tuple | None = None  # inclusive
    upper: tuple | None = None  # exclusive

    @property
    def key(self) -> str:
        return f"{self.table}#{self.index}"

    def where(self) -> tuple[str, list]:
        """SQL condition (with %s placeholders) and its parameters; `1=1` for a whole table."""
        parts, args = [], []
        if self.lower is not None:
            sql, a = _tuple_cmp(self.columns, self.lower, ">=")
            parts.append(sql)
            args += a
        if self.upper is not None:
            sql, a = _tuple_cmp(self.columns, self.upper, "<")
            parts.append(sql)
            args += a
        return (" AND ".join(parts) or "1=1"), args

    def as_dict(self) -> dict:
        return {"index": self.index, "columns": list(self.columns),
                "lower": encode_key(self.lower), "upper": encode_key(self.upper)}

    @classmethod
    def from_dict(cls, table: str, d: dict) -> Chunk:
        return cls(table, d["index"], tuple(d["columns"]), decode_key(d["lower"]), decode_key(d["upper"]))


def _tuple_cmp(cols: tuple[str, ...], vals: tuple, op: str) -> tuple[str, list]:
    """`(c1, c2, ...) op (v1, v2, ...)` expanded into ORs that every server's range optimiser uses."""
    strict = op.rstrip("=")  # '>=' -> '>', '<' -> '<'
    ors, args = [], []
    for i in range(len(cols)):
        last = i == len(cols) - 1
        terms = [f"{quote(c)} = %s" for c in cols[:i]] + [f"{quote(cols[i])} {op if last else strict} %s"]
        ors.append("(" + " AND ".join(terms) + ")")
        args += list(vals[: i + 1])
    return ("(" + " OR ".join(ors) + ")") if len(ors) > 1 else ors[0][1:-1], args


# ------------------------------------------------------------------ key values in JSON

def encode_key(values: tuple | None):
    if values is None:
        return None
    out = []
    for v in values:
        if isinstance(v, bool | int | str) or v is None:
            out.append(v)
        elif isinstance(v, bytes | bytearray):
            out.append({"bytes": base64.b64encode(bytes(v)).decode()})
        elif isinstance(v, Decimal):
            out.append({"decimal": str(v)})
        elif isinstance(v, dt.datetime):
            out.append({"datetime": v.isoformat()})
        elif isinstance(v, dt.date):
            out.append({"date": v.isoformat()})
        elif isinstance(v, dt.timedelta):
            out.append({"time_us": v // dt.timedelta(microseconds=1)})
        elif isinstance(v, float):
            out.append({"float": repr(v)})
        else:
            raise TypeError(f"cannot use a {type(v).__name__} primary key value as a chunk bound: {v!r}")
    return out


def decode_key(values):
    if values is None:
        return None
    out = []
    for v in values:
        if not isinstance(v, dict):
            out.append(v)
            continue
        (kind, text), = v.items()
        out.append({"bytes": lambda t: base64.b64decode(t), "decimal": Decimal,
                    "datetime": dt.datetime.fromisoformat, "date": dt.date.fromisoformat,
                    "time_us": lambda t: dt.timedelta(microseconds=t), "float": float}[kind](text))
    return tuple(out)


# ------------------------------------------------------------------ planning

def estimated_rows(conn, db: str, table: str) -> int:
    """InnoDB's row estimate (INFORMATION_SCHEMA.TABLES.TABLE_ROWS): cheap, approximate."""
    with conn.cursor() as cur:
        cur.execute("SELECT TABLE_ROWS FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s",
                    (db, table))
        row = cur.fetchone()
    return int(row[0] or 0) if row else 0


def plan_chunks(conn, schema: TableSchema, est_rows: int, chunk_rows: int, min_chunks: int = 1,
                min_split_rows: int = 10_000) -> list[Chunk]:
    """Split `schema`'s table into ~`est_rows / chunk_rows` key ranges (at least `min_chunks`
    when the table has `min_split_rows` rows or more, so every worker gets work)."""
    name = schema.full_name
    pk = tuple(schema.primary_key)
    n = max(1, math.ceil(est_rows / max(chunk_rows, 1)))
    if est_rows >= min_split_rows:
        n = max(n, min_chunks)
    if not pk or n == 1:
        return [Chunk(name, 0)]
    table = f"{quote(schema.db)}.{quote(schema.name)}"
    lead = schema.column(pk[0])
    if lead is not None and lead.data_type in INTEGER_TYPES:
        with conn.cursor() as cur:
            cur.execute(f"SELECT MIN({quote(pk[0])}), MAX({quote(pk[0])}) FROM {table}")
            lo, hi = cur.fetchone()
        if lo is None or lo == hi:
            return [Chunk(name, 0)]
        lo, hi = int(lo), int(hi)
        width = max(1, math.ceil((hi - lo + 1) / n))
        cuts = [lo + i * width for i in range(1, n) if lo + i * width <= hi]
        return _from_cuts(name, (pk[0],), [(c,) for c in cuts])
    return _from_cuts(name, pk, _seek_cuts(conn, table, pk, max(1, math.ceil(est_rows / n))))


def _seek_cuts(conn, table: str, pk: tuple[str, ...], step: int) -> list[tuple]:
    cols = ", ".join(quote(c) for c in pk)
    order = ", ".join(quote(c) for c in pk)
    cuts: list[tuple] = []
    with conn.cursor() as cur:
        while True:
            if cuts:
                cond, args = _tuple_cmp(pk, cuts[-1], ">")
            else:
                cond, args = "1=1", []
            cur.execute(f"SELECT {cols} FROM {table} WHERE {cond} ORDER BY {order} LIMIT 1 OFFSET %s",
                        [*args, step - 1 if cuts else step])
            row = cur.fetchone()
            if row is None:
                return cuts
            cuts.append(tuple(row))


def _from_cuts(name: str, cols: tuple[str, ...], cuts: list[tuple]) -> list[Chunk]:
    bounds = [None, *cuts, None]
    return [Chunk(name, i, cols, bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
