"""Previews: what a mapping does to real or sample rows, for the CLI and for notebooks.

`preview_rows` runs the Python engine over decoded rows; `preview_spark` runs the Spark engine
over the same rows turned into a snapshot-typed DataFrame; `preview_frame` returns a pandas
DataFrame with the source row and the item side by side.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from mysql2dynamo.keymap.checked import CheckedMapping
from mysql2dynamo.keymap.compile_python import PythonMapper, Result
from mysql2dynamo.keymap.schema import TableSchema
from mysql2dynamo.keymap.types import SPATIAL, ZERO_DATE_TYPES, Column, snapshot_value, spark_type


def sample_value(col: Column, n: int):
    """A small, valid, deterministic value of the column's type (n = 1, 2, ... differ)."""
    d = col.data_type
    if d in ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "bit", "year"):
        return 2000 + n if d == "year" else n
    if d == "decimal":
        return Decimal(n).scaleb(0) + (Decimal(1).scaleb(-col.scale) if col.scale else 0)
    if d in ("float", "double"):
        return n + 0.5
    if d == "enum":
        return col.members[(n - 1) % len(col.members)] if col.members else ""
    if d == "set":
        return frozenset(col.members[: n % (len(col.members) + 1)])
    if d in ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"):
        b = bytes([n])
        return b.ljust(col.length, b"\x00") if d == "binary" and col.length else b
    if d == "date":
        return dt.date(2024, 1, n)
    if d in ("datetime", "timestamp"):
        return dt.datetime(2024, 1, n, 12, 30, 45, 123456 if col.fsp else 0)
    if d == "time":
        return dt.timedelta(hours=n, minutes=2)
    if d == "json":
        return f'{{"n": {n}}}'
    return f"{col.name}-{n}"


def decoded_value(col: Column, value):
    """A value as pymysql reads it -> as the binlog reader and the snapshot carry it: a zero date (pymysql
    gives its text) is None, BIT(n) is its number, a geometry its WKB (without MySQL's 4-byte SRID)."""
    if value is None:
        return None
    if col.data_type in ZERO_DATE_TYPES and isinstance(value, str):
        return None
    if col.data_type == "bit" and isinstance(value, bytes | bytearray):
        return int.from_bytes(value, "big")
    if col.data_type in SPATIAL:
        return bytes(value[4:])
    return value


def decoded_row(schema: TableSchema, row: dict) -> dict:
    """A row as pymysql reads it (`SELECT *`) -> the decoded row both engines take (`decoded_value`)."""
    return {c.name: decoded_value(c, row.get(c.name)) for c in schema.columns}


def sample_row(schema: TableSchema, n: int) -> dict:
    return {c.name: sample_value(c, n) for c in schema.columns}


def preview_rows(mapper: PythonMapper, source: str, rows: Iterable[dict], version: int | None = None
                 ) -> list[tuple[dict, Result]]:
    """(row, result) for every rule of every row, filtered rows left out."""
    out = []
    for row in rows:
        for r in mapper.map_row(source, row, version):
            if r.status != "filtered":
                out.append((row, r))
    return out


def rows_to_dataframe(spark, schema: TableSchema, rows: list[dict], index_column: str | None = None):
    """A DataFrame of decoded rows with the snapshot's Spark types (as the Parquet would hold).

    `index_column` adds the row's position in `rows` (LongType) under that name.
    """
    from pyspark.sql import types as T

    fields = [T.StructField(c.name, spark_type(c), True) for c in schema.columns]
    data = [tuple(snapshot_value(c, r.get(c.name)) for c in schema.columns) for r in rows]
    if index_column:
        fields.append(T.StructField(index_column, T.LongType(), False))
        data = [(*d, i) for i, d in enumerate(data)]
    return spark.createDataFrame(data, T.StructType(fields))


def preview_spark(spark, checked: CheckedMapping, schema: TableSchema, rows: list[dict],
                  version: int | None = None) -> list[tuple[dict, Result]]:
    """The Spark engine's results for `rows`, in row then rule order, as `Result`s like Python's."""
    from mysql2dynamo.keymap.compile_spark import compile_spark

    df = rows_to_dataframe(spark, schema, rows, "_n")
    rules = compile_spark(checked, schema.full_name)
    rank = {cr.rule.name: i for i, cr in enumerate(rules.rules)}
    out = sorted(rules.apply(df, version, keep=["_n"]).collect(), key=lambda r: (r["_n"], rank[r["_rule"]]))
    return [(rows[r["_n"]], Result(r["_rule"], r["_target"], "rejected" if r["_reject_reason"] else "item",
                                   r["_item"], r["_key"], r["_size"], r["_reject_reason"], r["_reject_message"]))
            for r in out]


def item_dict(result: Result) -> dict | None:
    """The item of a result as parsed DynamoDB JSON (None for a rejection or a filtered row)."""
    import json

    return json.loads(result.item) if result.item else None


def preview_frame(results: list[tuple[dict, Result]]):
    """pandas DataFrame: one line per (row, rule) with source columns, then item/rejection columns."""
    import pandas as pd

    records = []
    for row, r in results:
        rec = {f"src.{k}": v for k, v in row.items()}
        rec.update({"rule": r.rule, "target": r.target, "item": r.item, "key": r.key, "size": r.size,
                    "reject_reason": r.reason, "reject_message": r.message})
        records.append(rec)
    return pd.DataFrame.from_records(records)
