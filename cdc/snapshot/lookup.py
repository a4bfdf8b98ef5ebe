"""Current rows, in the snapshot's form: what a dump taken now would hold for them.

The same SELECT list as the dump (`chunk_dump.select_sql`'s columns), pymysql's decoders and the
snapshot converter (`arrow_rows.BatchConverter`, zero dates as NULL), in a UTC session, so a row
read here maps to exactly the item the bulk load would write. Used where rows must be read again
after the snapshot: verify's re-check of keys changed since it and its repair, and capture's
cascades (the child rows it holds).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from mysql2dynamo.keymap.schema import TableSchema

from .arrow_rows import BatchConverter
from .chunk_dump import _select as _select_column
from .chunks import quote

BATCH = 500  # value tuples per SELECT
FETCH = 5000  # rows converted at a time


def rows_where(conn, schema: TableSchema, columns: Sequence[str], values: Iterable[tuple]) -> list[dict]:
    """The rows of `schema`'s table whose `columns` equal one of the `values` tuples (a NULL matches
    nothing, as in SQL)."""
    wanted = list(dict.fromkeys(tuple(v) for v in values))
    target = "(" + ", ".join(quote(c) for c in columns) + ")"
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    out: list[dict] = []
    for start in range(0, len(wanted), BATCH):
        batch = wanted[start:start + BATCH]
        for rows in _select(conn, schema, f"{target} IN ({', '.join([one] * len(batch))})",
                            [v for values in batch for v in values]):
            out += rows
    return out


def all_rows(conn, schema: TableSchema) -> Iterator[list[dict]]:
    """Every row of the table, in batches."""
    yield from _select(conn, schema, "1=1", [])


def _select(conn, schema: TableSchema, condition: str, args: list) -> Iterator[list[dict]]:
    converter = BatchConverter(schema)
    columns = ", ".join(_select_column(c) for c in schema.columns)
    with conn.cursor() as cur:
        cur.execute("SET SESSION time_zone = '+00:00'")  # TIMESTAMP values in UTC, as the dump reads them
        cur.execute(f"SELECT {columns} FROM {quote(schema.db)}.{quote(schema.name)} WHERE {condition}", args)
        while rows := cur.fetchmany(FETCH):
            yield converter.convert(list(rows)).to_pylist()
