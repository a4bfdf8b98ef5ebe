"""Warnings about a type-checked rule: it runs, but a data engineer should look (keys that can be
null, collide or pass the primary key through lossy functions, items or keys that can be too large,
cascading foreign keys). The collision example runs the Python compiler on sample rows, so this
module sits above the compilers and nothing they import imports it.
"""

from __future__ import annotations

from mysql2dynamo.keymap.ast import Call, columns, walk
from mysql2dynamo.keymap.checked import CheckedRule, Diagnostic
from mysql2dynamo.keymap.compile_python import compile_rule
from mysql2dynamo.keymap.functions import FUNCTIONS
from mysql2dynamo.keymap.item_rules import KEY_KINDS, KEY_LIMITS, MAX_ITEM_BYTES
from mysql2dynamo.keymap.preview import sample_row
from mysql2dynamo.keymap.types import ZERO_DATE_TYPES

HUGE_TYPES = {"json", "mediumtext", "longtext", "mediumblob", "longblob"}


def lint(cr: CheckedRule) -> list[Diagnostic]:
    return _null_key_warnings(cr) + _key_warnings(cr) + _size_warnings(cr) + _fk_warnings(cr)


def _warning(cr: CheckedRule, message: str) -> Diagnostic:
    return Diagnostic("warning", f"{cr.rule.name}: {message}", cr.rule.loc)


def _null_key_warnings(cr: CheckedRule) -> list[Diagnostic]:
    out = []
    for a in cr.keys:
        if a.type.nullable and a.type.kind in KEY_KINDS:
            used = [col for c in sorted(columns(a.expr)) if (col := cr.schema.column(c)) is not None]
            cols = [col.name for col in used if col.nullable]
            dates = [col.name for col in used if not col.nullable and col.data_type in ZERO_DATE_TYPES]
            why = f"nullable column(s) {', '.join(cols)}" if cols else \
                f"a zero date '0000-00-00' in {', '.join(dates)} reads as null, where sql_mode allows one" if dates \
                else "nullable column(s) in the expression"
            out.append(Diagnostic("warning", f"{cr.rule.name}: key attribute {a.name} can be null ({why}): such "
                                  "rows are rejected as null_key; wrap with coalesce()", cr.rule.key[a.name].loc))
    return out


def _key_warnings(cr: CheckedRule) -> list[Diagnostic]:
    pk = cr.schema.primary_key
    if not pk:
        return [_warning(cr, f"{cr.schema.full_name} has no primary key: rows cannot be told apart and replay "
                             f"cannot find their items")]
    used = set().union(*(columns(a.expr) for a in cr.keys)) if cr.keys else set()
    missing = [c for c in pk if c not in used]
    if missing:
        return [_warning(cr, f"the key does not contain primary key column(s) {', '.join(missing)}: two rows can "
                             f"map to one item, {_collision_example(cr, missing)}")]
    lossy = sorted({n.name for a in cr.keys for n in walk(a.expr) if isinstance(n, Call)
                    and not FUNCTIONS[n.name].injective and columns(n) & set(pk)})
    if lossy:
        return [_warning(cr, f"the key passes primary key columns through {', '.join(f + '()' for f in lossy)}, "
                             f"which can map different rows to one item")]
    return []


def _collision_example(cr: CheckedRule, missing: list[str]) -> str:
    """Two sample rows that differ only in the missing primary key columns, and their key."""
    row1 = sample_row(cr.schema, 1)
    row2 = dict(row1)
    for c in missing:
        row2[c] = sample_row(cr.schema, 2)[c]
    result = compile_rule(cr)(row1)
    pk = ", ".join(cr.schema.primary_key)
    if result.key is None:
        return f"e.g. rows differing only in ({pk})"
    return (f"e.g. rows with ({pk}) = ({', '.join(repr(row1[c]) for c in cr.schema.primary_key)}) and "
            f"({', '.join(repr(row2[c]) for c in cr.schema.primary_key)}) both get key {result.key}")


def _size_warnings(cr: CheckedRule) -> list[Diagnostic]:
    out = []
    for i, a in enumerate(cr.keys):
        limit = KEY_LIMITS[i]
        if a.type.max_bytes is not None and a.type.max_bytes > limit:
            out.append(_warning(cr, f"key attribute {a.name} can exceed DynamoDB's {limit}-byte key limit (up to "
                                    f"{a.type.max_bytes} bytes): such rows are rejected as key_too_large"))
    total, unbounded = cr.bounded_size()
    from_huge = [a.name for a in cr.attributes if a.name in unbounded and any(
        (col := cr.schema.column(c)) is not None and col.data_type in HUGE_TYPES for c in columns(a.expr))]
    if total > MAX_ITEM_BYTES or from_huge:
        extra = f" (unbounded: {', '.join(unbounded)})" if unbounded else ""
        out.append(_warning(cr, f"items can exceed DynamoDB's 400 KB limit: known attributes alone reach {total} "
                                f"bytes{extra}; such rows are rejected as item_too_large"))
    return out


def _fk_warnings(cr: CheckedRule) -> list[Diagnostic]:
    return [_warning(cr, f"foreign key {fk.name} ({', '.join(fk.columns)}) -> {fk.parent} has ON DELETE "
                         f"{fk.on_delete} / ON UPDATE {fk.on_update}: cascaded changes are made by the storage "
                         f"engine and are NOT in the binlog, so replay will miss them")
            for fk in cr.schema.foreign_keys if fk.cascades]
