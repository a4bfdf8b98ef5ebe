"""Current rows, in the snapshot's form: what a dump taken now would hold for them.

The same SELECT list as the dump (`chunk_dump.select_sql`'s columns), pymysql's decoders and the
snapshot converter (`arrow_rows.BatchConverter`, zero dates as NULL), in a UTC session, so a row
read here maps to exactly the item the bulk load would write. Used where rows must be read again
after the snapshot: verify's re-check of keys changed since it and its repair, and capture's
cascades (the child rows it holds) and backfills after an ALTER TABLE (a table in key order).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from mysql2dynamo.keymap.schema import TableSchema

from .arrow_rows import BatchConverter
from .chunk_dump import _select as _select_column
from .chunks import _tuple_cmp, quote

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


def rows_in_key_order(conn, schema: TableSchema, chunk: int) -> Iterator[list[dict]]:
    """Every row of the table in primary-key order, one SELECT of `chunk` rows per batch, each starting after
    the last key of the one before (on an autocommit connection no statement or read view lasts longer
    than a chunk)."""
    key = schema.primary_key
    at = [schema.names.index(schema.column(c).name) for c in key]
    order = ", ".join(quote(c) for c in key)
    last: tuple | None = None
    while True:
        condition, args = _tuple_cmp(key, last, ">") if last is not None else ("1=1", [])
        raw: list[tuple] = []
        yield from _select(conn, schema, f"{condition} ORDER BY {order} LIMIT {int(chunk)}", args, raw)
        if len(raw) < chunk:
            return
        last = tuple(raw[-1][i] for i in at)  # as the server sent it: a zero date is text, never a NULL


def _select(conn, schema: TableSchema, condition: str, args: list, raw: list | None = None) -> Iterator[list[dict]]:
    """The converted rows of a SELECT; `raw` collects the rows as the server sent them."""
    converter = BatchConverter(schema)
    columns = ", ".join(_select_column(c) for c in schema.columns)
    with conn.cursor() as cur:
        cur.execute("SET SESSION time_zone = '+00:00'")  # TIMESTAMP values in UTC, as the dump reads them
        cur.execute(f"SELECT {columns} FROM {quote(schema.db)}.{quote(schema.name)} WHERE {condition}", args)
        while rows := cur.fetchmany(FETCH):
            if raw is not None:
                raw += rows
            yield converter.convert(list(rows)).to_pylist()
