"""Rows an ALTER TABLE rewrote without row events, put into the stream by capture.

Invariant: after a captured ALTER TABLE that changes the stored values of existing rows
(`statements.rewriting_clauses`: ADD / DROP / MODIFY / CHANGE / RENAME COLUMN, CONVERT TO CHARACTER
SET), every row of the table follows in the stream before the ALTER's own position can be
acknowledged: one `update` change per row (before = after = the row as read), at the ALTER's
position (`file`, `pos`; `row` = its place in primary-key order, capped at the position's row range:
rows of one backfill have different keys, so they never need ordering among themselves), marked
`source.derived` = "backfill after ALTER TABLE db.t ADD COLUMN c". So its `ver` is after every
change before the ALTER and before every change after it: a later real change of a row wins, and the
guarded writes of replay skip a backfill change for an item already newer (a re-run re-emits,
harmlessly).

The rows are read when capture reaches the ALTER, in primary-key order, a chunk per SELECT: a row
changed since the ALTER is read as it is now, which its own later change in the stream brings about
anyway. Columns excluded from the table's changes are left out as in a row event; the column list
is the table's as it is read (INFORMATION_SCHEMA). A table gone by then (a later DROP or RENAME,
which capture refuses when it reaches it) is skipped with a warning.
"""

from __future__ import annotations

from collections.abc import Iterator

from mysql2dynamo.cdc.binlog import Rewrite, Transaction
from mysql2dynamo.cdc.current_rows import binlog_rows_in_key_order, codec_tag
from mysql2dynamo.cdc.envelope import Change, Source
from mysql2dynamo.cdc.position import ROW_MAX
from mysql2dynamo.keymap.schema import binlog_type, read_table_schema

CHUNK_ROWS = 5000  # rows per SELECT


def cause(rewrite: Rewrite) -> str:
    """`source.derived` of a backfill change: "backfill after ALTER TABLE db.t ADD COLUMN c, DROP COLUMN d"."""
    return f"backfill after ALTER TABLE {rewrite.table} {', '.join(rewrite.clauses)}"


def backfill(conn, alter: Transaction, excluded: frozenset[str] | set[str] = frozenset(),
             chunk: int = CHUNK_ROWS) -> Iterator[list[Change]]:
    """The changes that re-state every row of the table `alter.rewrite` names, a chunk at a time.
    `excluded`: lower-case names of the columns left out of the table's changes. LookupError when the
    table no longer exists."""
    rewrite, end = alter.rewrite, alter.end
    if rewrite is None or end is None:
        raise ValueError("a backfill follows an ALTER TABLE that rewrote rows")
    schema = read_table_schema(conn, *rewrite.table.split(".", 1))
    if not schema.primary_key:
        raise LookupError(f"{rewrite.table} has no primary key")
    key = schema.primary_key
    described = tuple((c.name, binlog_type(c)) for c in schema.columns)
    dropped = {c.name for c in schema.columns if c.name.lower() in excluded}.difference(key)
    types = {c.name: codec_tag(c) for c in schema.columns if c.name not in dropped}
    derived = cause(rewrite)
    index = 0
    for rows in binlog_rows_in_key_order(conn, schema, chunk):
        changes = []
        for row in rows:
            image = {name: row[name] for name in types}
            source = Source(end.file, end.pos, min(index, ROW_MAX), end.gtid, rewrite.server_id, alter.ts, end.epoch,
                            derived)
            changes.append(Change("update", schema.db, schema.name, key, image, image, types, source, described))
            index += 1
        yield changes
