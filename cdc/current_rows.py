"""Rows read from a table now, in the form a row event of the same rows carries.

Invariant: a row read here has exactly the values and codec tags the binlog reader (cdc/binlog.py)
gives the same row, so a change capture makes from it (a cascade's held child, a backfill after an
ALTER TABLE) maps to the item a real row event would. The rows come through the snapshot's reader
(cdc/snapshot/lookup.py: its SELECT list and converter) and are turned into the binlog's values here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mysql2dynamo.cdc.codec import decode_value
from mysql2dynamo.keymap.schema import TableSchema
from mysql2dynamo.keymap.types import SPATIAL, Column

_TAGS = {"tinyint": "int", "smallint": "int", "mediumint": "int", "int": "int", "integer": "int", "bigint": "int",
         "year": "int", "bit": "int", "decimal": "decimal", "float": "float", "double": "double", "date": "date",
         "datetime": "datetime", "timestamp": "datetime", "time": "time", "json": "json", "set": "set",
         "binary": "bytes", "varbinary": "bytes", "tinyblob": "bytes", "blob": "bytes", "mediumblob": "bytes",
         "longblob": "bytes", **dict.fromkeys(SPATIAL, "bytes")}


def codec_tag(column: Column) -> str:
    """The envelope's codec tag of a column (cdc.codec.column_tag's, from the schema instead of the binlog)."""
    return _TAGS.get(column.data_type, "string")


def binlog_value(tag: str, value: Any) -> Any:
    """A value in the snapshot's form (cdc.snapshot.lookup) as the binlog reader decodes it."""
    if value is None:
        return None
    if tag == "int":
        return int(value)  # BIGINT UNSIGNED and wide BIT are decimals in the snapshot
    if tag == "set":
        return frozenset(value)
    if tag in ("time", "decimal") and isinstance(value, str):
        return decode_value(tag, value)  # TIME and DECIMAL(>38) are text in the snapshot
    return value


def _decoded(batch: list[dict], types: dict[str, str]) -> list[dict]:
    return [{name: binlog_value(tag, row[name]) for name, tag in types.items()} for row in batch]


def all_binlog_rows(conn, schema: TableSchema) -> Iterator[list[dict]]:
    """Every row of the table, in batches, as the binlog decodes them."""
    from mysql2dynamo.cdc.snapshot.lookup import all_rows  # Arrow's converter: only where rows are read again

    types = {c.name: codec_tag(c) for c in schema.columns}
    for batch in all_rows(conn, schema):
        yield _decoded(batch, types)


def binlog_rows_in_key_order(conn, schema: TableSchema, chunk: int) -> Iterator[list[dict]]:
    """Every row of the table in primary-key order, `chunk` rows per SELECT, as the binlog decodes them."""
    from mysql2dynamo.cdc.snapshot.lookup import rows_in_key_order

    types = {c.name: codec_tag(c) for c in schema.columns}
    for batch in rows_in_key_order(conn, schema, chunk):
        yield _decoded(batch, types)
