"""The target tables a mapping writes: each table's key, its GSIs and its TTL attribute, read from the
checked mapping, so the tables are made for the items and not the other way round.

- The key is the rules' key attributes with their DynamoDB types (S/N/B); rules of one table with
  another key are an error naming both rules.
- A GSI is an attribute pair the mapping declares: `NAMEPK` (partition) and optionally `NAMESK`
  (sort) make index NAME (`GSI1PK`/`GSI1SK` -> `GSI1`), the single-table convention; a `NAMESK`
  without its `NAMEPK` is an error (an index needs a partition key).
- TTL is on the tombstone attribute `_ttl` (delete tombstones expire by it); a rule whose own `ttl`
  is another attribute is an error: a table has one TTL attribute.
"""

from __future__ import annotations

import re

from mysql2dynamo.jobs.targets import TableSpec
from mysql2dynamo.keymap.checked import CheckedMapping
from mysql2dynamo.keymap.item_rules import KEY_KINDS
from mysql2dynamo.replay.apply import TTL_ATTRIBUTE

INDEX_ATTRIBUTE = re.compile(r"^(?P<index>\w+?)(?P<part>PK|SK)$")


class TableDesignError(ValueError):
    """The mapping's rules do not describe one table design (the message names rules and attributes)."""


def table_specs(checked: CheckedMapping, wcu: int | None = None, rcu: int | None = None,
                warm_wcu: int | None = None) -> list[TableSpec]:
    specs: dict[str, TableSpec] = {}
    owner: dict[tuple[str, str], str] = {}  # (table, attribute or "key") -> the rule that fixed its type
    for cr in checked.rules:
        table, rule = cr.rule.target, cr.rule.name
        key = {a.name: KEY_KINDS.get(a.type.kind, a.type.kind.value) for a in cr.keys}
        spec = specs.setdefault(table, TableSpec(table, key, ttl=TTL_ATTRIBUTE, wcu=wcu, rcu=rcu, warm_wcu=warm_wcu))
        first = owner.setdefault((table, "key"), rule)
        if spec.key != key:
            raise TableDesignError(f"table {table}: rule {rule} writes the key {_text(key)} but rule {first} "
                                   f"writes {_text(spec.key)}: one table has one key")
        if cr.rule.ttl and cr.rule.ttl != TTL_ATTRIBUTE:
            raise TableDesignError(f"table {table}: rule {rule} has ttl {cr.rule.ttl}, but delete tombstones expire "
                                   f"by {TTL_ATTRIBUTE} and a table has one TTL attribute: use ttl: {TTL_ATTRIBUTE}")
        types = {a.name: KEY_KINDS.get(a.type.kind, a.type.kind.value) for a in cr.attributes}
        declared = [n for n in cr.rule.attributes if n not in key and INDEX_ATTRIBUTE.match(n)]
        for name in sorted(declared, key=lambda n: not n.endswith("PK")):  # partition key first
            m = INDEX_ATTRIBUTE.match(name)
            index = spec.indexes.setdefault(m["index"], {}) if m["part"] == "PK" else spec.indexes.get(m["index"])
            if index is None:
                raise TableDesignError(f"table {table}: rule {rule} writes {name} but no {m['index']}PK: "
                                       f"index {m['index']} needs a partition key")
            if types[name] not in ("S", "N", "B"):
                raise TableDesignError(f"table {table}: rule {rule}: {name} is {types[name]}, an index key is "
                                       "S, N or B")
            earlier = owner.setdefault((table, name), rule)
            if index.setdefault(name, types[name]) != types[name]:
                raise TableDesignError(f"table {table}: {name} is {types[name]} in rule {rule} but "
                                       f"{index[name]} in rule {earlier}: an index key has one type")
    return list(specs.values())


def _text(key: dict[str, str]) -> str:
    return "(" + ", ".join(f"{n} {t}" for n, t in key.items()) + ")"


def create_tables(dynamodb, specs: list[TableSpec]) -> list[dict]:
    """Create the tables that do not exist (then their TTL: "ttl" is None where the endpoint has none);
    an existing table with another key is an error, one with the same key is left as it is."""
    from mysql2dynamo.jobs.targets import describe_target

    out = []
    for spec in specs:
        existing = describe_target(dynamodb, spec.name)
        if not existing.exists:
            ttl = spec.create(dynamodb)
            out.append({"table": spec.name, "action": "created", "key": spec.key, "indexes": spec.indexes,
                        "ttl": spec.ttl if ttl else None})
        elif existing.key != spec.key:
            raise TableDesignError(f"table {spec.name} exists with the key {_text(existing.key)}, the mapping writes "
                                   f"{_text(spec.key)}: DynamoDB would refuse every item")
        else:
            out.append({"table": spec.name, "action": "exists", "key": existing.key})
    return out
