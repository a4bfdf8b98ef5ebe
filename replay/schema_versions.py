"""Schema changes followed, never guessed: each change is mapped with the table version it was read with.

A change envelope carries the columns of its table version (`Change.columns`, as the binlog's table
map tells them). When they equal the mapping's schema (the snapshot's), the mapping's compiled rules
map the row. When an ALTER TABLE changed them, the rules are checked and compiled again for the new
version (cached per version) when the mapping still holds: a new column comes under `rest`, a dropped
one is no longer written, a widened type maps with its new precision. When the mapping no longer
holds (a column a key uses is dropped or retyped so its key text would change, or an attribute names
a dropped column), `SchemaStop` names the table, the column and the change; the apply engine turns
every record of that table version into a dead letter with that reason, never a silently wrong item.
"""

from __future__ import annotations

import dataclasses
import logging

from mysql2dynamo.cdc.envelope import Change
from mysql2dynamo.keymap.ast import columns as referenced_columns
from mysql2dynamo.keymap.checker import check
from mysql2dynamo.keymap.compile_python import PythonMapper, compile_python
from mysql2dynamo.keymap.schema import TableSchema, binlog_type, column_from_binlog_type, same_binlog_type
from mysql2dynamo.keymap.types import Column, Kind, VType, value_type

log = logging.getLogger("mysql2dynamo.replay")
TableVersion = tuple[tuple[str, str], ...]


class SchemaStop(Exception):
    """The mapping does not hold for a table version; records of it go to the dead letters."""

    reason = "schema_changed"


def _key_text_form(t: VType) -> tuple:
    """What of a key column's type decides its key text (int -> bigint does not, a new scale does)."""
    return (t.kind, t.scale if t.kind is Kind.NUMBER else 0, t.fsp, t.members if t.kind is Kind.SET else ())


def describe_change(old: TableSchema, new: TableSchema) -> str:
    """`added c (int), dropped d, e: varchar(10) -> int` between two versions of a table."""
    olds = {c.name.lower(): c for c in old.columns}
    news = {c.name.lower(): c for c in new.columns}
    parts = [f"added {c.name} ({binlog_type(c)})" for k, c in news.items() if k not in olds]
    parts += [f"dropped {c.name}" for k, c in olds.items() if k not in news]
    parts += [f"{c.name}: {binlog_type(olds[k])} -> {binlog_type(c)}" for k, c in news.items()
              if k in olds and olds[k] is not c]
    return ", ".join(parts) or "columns reordered"


class SchemaVersions:
    """The compiled mapping for each table version met on the stream."""

    def __init__(self, mapper: PythonMapper) -> None:
        self.base = mapper
        self.schemas: dict[str, TableSchema] = {f"{r.schema.full_name}": r.schema for r in mapper.checked.rules}
        self._versions: dict[tuple[str, TableVersion], PythonMapper | SchemaStop] = {}

    def mapper_for(self, change: Change) -> PythonMapper:
        """The mapper for the change's table version; raises SchemaStop when the mapping does not hold."""
        source = f"{change.db}.{change.table}"
        base = self.schemas.get(source)
        if change.columns is None or base is None:
            return self.base
        slot = (source, change.columns)
        found = self._versions.get(slot)
        if found is None:  # once per table version: the columns are compared, the rules compiled, or the stop
            found = self.base if self._unchanged(base, change.columns) else self._compile(source, base, change)
            self._versions[slot] = found
        if isinstance(found, SchemaStop):
            raise found
        return found

    @staticmethod
    def _unchanged(base: TableSchema, columns: TableVersion) -> bool:
        carried = [(n, t) for n, t in columns if base.unsupported_type(n) is None]
        return len(carried) == len(base.columns) and all(
            c.name == n and same_binlog_type(c, t) for c, (n, t) in zip(base.columns, carried, strict=True))

    def _compile(self, source: str, base: TableSchema, change: Change) -> PythonMapper | SchemaStop:
        schema = self.version_schema(base, change)
        what = describe_change(base, schema)
        where = f"{source} changed at ver {change.ver} ({what})"
        stop = self._key_change(source, base, schema, where)
        if stop is None:
            mapping = self.base.checked.mapping
            rules = tuple(dataclasses.replace(r, exclude=tuple(c for c in r.exclude if schema.column(c) is not None
                                                               or schema.unsupported_type(c) is not None))
                          for r in mapping.rules_for(source))
            checked = check(dataclasses.replace(mapping, rules=rules), {source: schema})
            if checked.errors:
                stop = SchemaStop(f"{where}: the mapping no longer holds: "
                                  + "; ".join(d.message for d in checked.errors)
                                  + ". Fix the mapping or take a new snapshot of the table; its changes go to the "
                                    "dead letters meanwhile")
            else:
                log.warning("%s: mapping with the new table version", where)
                return compile_python(checked)
        log.error("replay stopped for %s", stop)
        return stop

    def _key_change(self, source: str, base: TableSchema, schema: TableSchema, where: str) -> SchemaStop | None:
        for cr in self.base.checked.rules_for(source):
            for attr in cr.keys:
                for name in sorted(referenced_columns(attr.expr)):
                    old, new = base.column(name), schema.column(name)
                    if old is None:
                        continue
                    if new is None:
                        return SchemaStop(f"{where}: key column {source}.{old.name} of key attribute {attr.name} "
                                          f"(rule {cr.rule.name}) was dropped: items cannot be keyed. Take a new "
                                          "snapshot of the table with a mapping for its new columns; its changes go "
                                          "to the dead letters meanwhile")
                    if _key_text_form(value_type(old)) != _key_text_form(value_type(new)):
                        return SchemaStop(f"{where}: key column {source}.{old.name} of key attribute {attr.name} "
                                          f"(rule {cr.rule.name}) was retyped {binlog_type(old)} -> "
                                          f"{binlog_type(new)}: its key text would change, so items written before "
                                          "would not be found. Take a new snapshot of the table; its changes go to "
                                          "the dead letters meanwhile")
        return None

    @staticmethod
    def version_schema(base: TableSchema, change: Change) -> TableSchema:
        """The table version of `change`: the mapping's column where the binlog says it is unchanged (it knows
        more: MariaDB's JSON, exact lengths), else the column as the binlog describes it."""
        keys = set(change.key_columns)
        columns: list[Column] = []
        for name, text in change.columns or ():
            if base.unsupported_type(name) is not None:
                continue
            known = base.column(name)
            if known is not None and known.name == name and same_binlog_type(known, text):
                columns.append(known)
            else:
                columns.append(column_from_binlog_type(name, text, nullable=name not in keys))
        return TableSchema(base.db, base.name, tuple(columns), change.key_columns, base.foreign_keys,
                           base.unsupported)
