"""One canonical text per DynamoDB item, so that source and target can be compared as strings.

DynamoDB does not keep what was written byte for byte: numbers come back canonical ("990.90" is
read as "990.9"), sets come back in any order, attribute order is lost. Both sides of a verify
go through `canonical_item`: attributes sorted, numbers normalised, sets sorted, the version
attribute left out (the source side has no version). Verify computes the same text inside the JVM
(io.mysql2dynamo.emr.Canonical in the converter jar, `CANONICAL_CLASS`), character for character:
tests/verify/test_canonical.py holds the two to each other.
"""

from __future__ import annotations

import json
from decimal import Context, Decimal
from typing import Any

DELETED = "_deleted"  # replay's delete marker (a tombstone item): not row data
TTL = "_ttl"  # a tombstone's expiry
CANONICAL_CLASS = "io.mysql2dynamo.emr.Canonical"
EXACT = Context(prec=200)  # normalize() rounds to its context's precision: 28 digits would hide a 38-digit difference


def canonical_number(text: str) -> str:
    d = Decimal(text)
    if d == 0:
        return "0"
    n = d.normalize(EXACT)
    return format(n, "f") if abs(n.adjusted()) < 40 else str(n)


def canonical_value(value: dict[str, Any]) -> dict[str, Any]:
    (kind, v), = value.items()
    if kind == "N":
        return {"N": canonical_number(v)}
    if kind == "NS":
        return {"NS": sorted(canonical_number(x) for x in v)}
    if kind in ("SS", "BS"):
        return {kind: sorted(v)}
    if kind == "M":
        return {"M": {k: canonical_value(x) for k, x in sorted(v.items())}}
    if kind == "L":
        return {"L": [canonical_value(x) for x in v]}
    return {kind: v}


def canonical_item(item: dict[str, dict[str, Any]], drop: tuple[str, ...] = ()) -> str:
    return json.dumps({k: canonical_value(v) for k, v in sorted(item.items()) if k not in drop},
                      ensure_ascii=False, separators=(",", ":"))


def differing_attributes(source: str, target: str) -> dict[str, dict[str, Any]]:
    """attribute -> {source, target} for two canonical items."""
    a, b = json.loads(source), json.loads(target)
    return {k: {"source": a.get(k), "target": b.get(k)} for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}
