"""Cascading foreign keys: the child rows InnoDB changes with no row event, put into the stream by capture.

Invariant: for every captured change of a parent row that a cascading foreign key follows (ON
UPDATE CASCADE / SET NULL when the referenced columns change, ON DELETE CASCADE / SET NULL on a
delete), the change of every child row the server made with it follows in the stream, right after
the parent's change and with its position, so its `ver` orders it as the server did. Such a change
is marked `source.derived` ("cascade <fk> from <parent>").

InnoDB runs cascades inside the storage engine and logs none of them in the binlog, and after the
fact the server cannot tell which rows a delete removed. So capture holds the child rows itself:
loaded when capture starts (and again after DDL on a captured table), then kept current from the
stream (the child's own row events and the changes derived here). From a held row the derived change
is exact: its before image is the row as it was, its after image the same row with the foreign key
columns set to the parent's new values (CASCADE) or NULL (SET NULL); a delete cascade removes it.
Grandchildren follow from the derived changes in turn.

Limits (docs/capture.md, "Cascading foreign keys"): the held rows cost memory (the child tables of
cascading keys, as decoded rows); they are loaded at the start, so a parent change read from a
checkpoint older than the start (a restart after downtime) is derived from the rows as they are at
the start, which is exact unless the children changed in between (verify finds such keys, and
`verify --repair` re-syncs them); a cascade whose parent table is not captured cannot be seen and
stays a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from mysql2dynamo.cdc.binlog import Transaction
from mysql2dynamo.cdc.current_rows import all_binlog_rows, codec_tag
from mysql2dynamo.cdc.envelope import Change
from mysql2dynamo.keymap.schema import TableSchema, read_table_schema

FOLLOWED = ("CASCADE", "SET NULL")

_REFERENCED_SQL = """
SELECT REFERENCED_COLUMN_NAME FROM INFORMATION_SCHEMA.KEY_COLUMN_USAGE
WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND CONSTRAINT_NAME = %s AND REFERENCED_TABLE_NAME IS NOT NULL
ORDER BY ORDINAL_POSITION
"""


@dataclass(frozen=True)
class Link:
    """A foreign key whose actions change child rows: child.columns -> parent.referenced."""

    name: str
    child: str  # db.table
    columns: tuple[str, ...]
    parent: str
    referenced: tuple[str, ...]
    on_delete: str
    on_update: str


@dataclass
class HeldTable:
    """The rows of one child table, by primary key, as the binlog decodes them."""

    key_columns: tuple[str, ...]
    types: dict[str, str]
    rows: dict[tuple, dict[str, Any]] = field(default_factory=dict)


class Cascades:
    def __init__(self, links: list[Link], held: dict[str, HeldTable], warnings: list[str]) -> None:
        self.links = links
        self.held = held
        self.warnings = warnings
        self.by_parent: dict[str, list[Link]] = {}
        for link in links:
            self.by_parent.setdefault(link.parent, []).append(link)
        # link name -> parent values -> primary keys of the child rows that reference them
        self.index: dict[str, dict[tuple, set[tuple]]] = {link.name: {} for link in links}
        for name, table in held.items():
            for key, row in table.rows.items():
                self._enter(name, key, row)

    @classmethod
    def load(cls, conn, tables: list[str]) -> Cascades:
        """The cascading foreign keys among `tables` and the rows of their child tables, read now."""
        captured = set(tables)
        links, warnings, schemas = [], [], {}
        for table in tables:
            try:
                schema = read_table_schema(conn, *table.split(".", 1))
            except LookupError:
                continue  # not created yet: its DDL will come through the stream
            for fk in schema.foreign_keys:
                if not {fk.on_delete, fk.on_update} & set(FOLLOWED):
                    continue
                if fk.parent not in captured:
                    warnings.append(f"{table}: foreign key {fk.name} -> {fk.parent} is ON DELETE {fk.on_delete} ON "
                                    f"UPDATE {fk.on_update}, but {fk.parent} is not captured: the changes the "
                                    "cascade makes are not in the binlog, so DynamoDB would miss them. Capture "
                                    f"{fk.parent} too (its changes tell capture when the cascade runs).")
                    continue
                schemas[table] = schema
                links.append(Link(f"{table}.{fk.name}", table, fk.columns, fk.parent,
                                  _referenced(conn, schema, fk.name, fk.parent), fk.on_delete, fk.on_update))
        held = {name: _load_rows(conn, schema) for name, schema in schemas.items()}
        return cls(links, held, warnings)

    def expand(self, tx: Transaction) -> Transaction:
        """The transaction with the changes its cascades made, each right after its cause."""
        if not self.links:
            return tx
        changes: list[Change] = []
        for change in tx.changes:
            changes.append(change)
            changes += self._follow(change)
        return replace(tx, changes=changes)

    def _follow(self, change: Change) -> list[Change]:
        name = f"{change.db}.{change.table}"
        if name in self.held:
            self._hold(name, change)
        derived: list[Change] = []
        if change.before is None:
            return derived
        for link in self.by_parent.get(name, ()):
            old = tuple(change.before.get(c) for c in link.referenced)
            new = None if change.after is None else tuple(change.after.get(c) for c in link.referenced)
            if None in old or new == old:
                continue
            action = link.on_update if new is not None else link.on_delete
            if action not in FOLLOWED:
                continue
            table = self.held[link.child]
            db, child = link.child.split(".", 1)
            source = replace(change.source, derived=f"cascade {link.name.rsplit('.', 1)[1]} from {name}")
            for key in sorted(self.index[link.name].get(old, ()), key=repr):
                row = table.rows[key]
                if new is None and action == "CASCADE":
                    op, after = "delete", None
                else:
                    values = new if action == "CASCADE" else (None,) * len(link.columns)
                    op, after = "update", {**row, **dict(zip(link.columns, values, strict=True))}
                step = Change(op, db, child, table.key_columns, dict(row), after, table.types, source)
                derived.append(step)
                derived += self._follow(step)
        return derived

    def _hold(self, name: str, change: Change) -> None:
        table = self.held[name]
        if change.before is not None:
            key = tuple(change.before[c] for c in table.key_columns)
            self._leave(name, key, table.rows.pop(key, change.before))
        if change.after is not None:
            key = tuple(change.after[c] for c in table.key_columns)
            table.rows[key] = dict(change.after)
            table.types = change.types  # the binlog's own types win (an ALTER may have changed them)
            self._enter(name, key, change.after)

    def _enter(self, name: str, key: tuple, row: dict) -> None:
        for link in self.links:
            if link.child == name and None not in (values := tuple(row.get(c) for c in link.columns)):
                self.index[link.name].setdefault(values, set()).add(key)

    def _leave(self, name: str, key: tuple, row: dict) -> None:
        for link in self.links:
            if link.child == name:
                children = self.index[link.name].get(tuple(row.get(c) for c in link.columns))
                if children is not None:
                    children.discard(key)


def _referenced(conn, schema: TableSchema, constraint: str, parent: str) -> tuple[str, ...]:
    """The parent columns a foreign key references (the parent's primary key when the server hides them)."""
    with conn.cursor() as cur:
        cur.execute(_REFERENCED_SQL, (schema.db, schema.name, constraint))
        columns = tuple(r[0] for r in cur.fetchall())
    return columns or read_table_schema(conn, *parent.split(".", 1)).primary_key


def _load_rows(conn, schema: TableSchema) -> HeldTable:
    table = HeldTable(schema.primary_key, {c.name: codec_tag(c) for c in schema.columns})
    for batch in all_binlog_rows(conn, schema):
        for row in batch:
            table.rows[tuple(row[c] for c in schema.primary_key)] = row
    return table
