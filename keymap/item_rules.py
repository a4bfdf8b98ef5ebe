"""DynamoDB item rules shared by both engines: limits, attribute sizes, rejection reasons,
and the Python-side DynamoDB-JSON writer (the Spark side builds the same text with to_json).

Sizes follow DynamoDB's documented rules, with two conservative simplifications that both
engines apply identically: a number counts `1 + ceil(len(text) / 2)` bytes (DynamoDB counts
significant digits, never more than that), and an M/L value counts the bytes of its
DynamoDB-JSON text (always more than DynamoDB's 3 bytes + elements + 1 byte per element).
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass

from mysql2dynamo.keymap.types import Kind, VType
from mysql2dynamo.keymap.values import json_string

MAX_ITEM_BYTES = 400 * 1024
KEY_LIMITS = (2048, 1024)  # partition key, sort key (bytes)

REASONS = {
    "null_key": "a key attribute is null",
    "empty_key": "a key attribute is an empty string or binary",
    "key_too_large": "a key attribute exceeds 2048 bytes (partition) / 1024 bytes (sort)",
    "bad_value": "a value has no DynamoDB representation (NaN/Infinity, invalid JSON or number text, "
                 "JSON nested deeper than 16 levels)",
    "number_too_large": "a number has more than 38 significant digits or a float's magnitude is >= 2**63",
    "item_too_large": "the item exceeds DynamoDB's 400 KB item size",
}


# the DynamoDB type each value kind becomes; the key attributes' kinds are those that become S, N or B
NATURAL_TYPES = {Kind.NUMBER: "N", Kind.FLOAT: "N", Kind.DOUBLE: "N", Kind.STRING: "S", Kind.BINARY: "B",
                 Kind.DATE: "S", Kind.DATETIME: "S", Kind.TIME: "S", Kind.JSON: "M/L", Kind.SET: "SS",
                 Kind.BOOL: "BOOL", Kind.NULL: "NULL"}
KEY_KINDS = {k: tag for k, tag in NATURAL_TYPES.items() if tag in ("S", "N", "B")}


def number_size(text: str) -> int:
    return 1 + math.ceil(len(text) / 2)


def value_bound(t: VType) -> int | None:
    """Upper bound of a value's DynamoDB size in bytes (the rules above), None when unknown."""
    if t.kind is Kind.NUMBER:
        return number_size("-" * (t.precision + 2)) if t.scale >= 0 else 1 + 20
    if t.kind in (Kind.FLOAT, Kind.DOUBLE):
        return 1 + 13
    if t.kind in (Kind.BOOL, Kind.NULL):
        return 1
    return t.max_bytes


@dataclass(frozen=True)
class AttrValue:
    """A DynamoDB attribute value: tag S/N/B/BOOL/NULL/SS, or J (pre-built DynamoDB JSON of M/L/...)."""

    tag: str
    value: object

    def json(self) -> str:
        tag, v = self.tag, self.value
        if tag == "J":
            return v  # type: ignore[return-value]
        if tag in ("S", "N"):
            return f'{{"{tag}":{json_string(v)}}}'  # type: ignore[arg-type]
        if tag == "B":
            return '{"B":"' + base64.b64encode(v).decode() + '"}'  # type: ignore[arg-type]
        if tag in ("BOOL", "NULL"):
            return f'{{"{tag}":{"true" if v else "false"}}}'
        if tag == "SS":
            return '{"SS":[' + ",".join(json_string(s) for s in v) + "]}"  # type: ignore[union-attr]
        raise AssertionError(tag)

    def size(self) -> int:
        tag, v = self.tag, self.value
        if tag == "S":
            return len(v.encode("utf-8", "surrogatepass"))  # type: ignore[union-attr]
        if tag == "N":
            return number_size(v)  # type: ignore[arg-type]
        if tag == "B":
            return len(v)  # type: ignore[arg-type]
        if tag in ("BOOL", "NULL"):
            return 1
        if tag == "SS":
            return sum(len(s.encode("utf-8", "surrogatepass")) for s in v)  # type: ignore[union-attr]
        return len(v.encode("utf-8", "surrogatepass"))  # type: ignore[union-attr]

    def is_empty_key(self) -> bool:
        return self.tag in ("S", "B") and len(self.value) == 0  # type: ignore[arg-type]


def item_json(attrs: list[tuple[str, AttrValue]]) -> str:
    """Compact DynamoDB JSON in the given attribute order (what Spark's to_json writes)."""
    return "{" + ",".join(f"{json_string(n)}:{v.json()}" for n, v in attrs) + "}"


def item_size(attrs: list[tuple[str, AttrValue]]) -> int:
    return sum(len(n.encode("utf-8", "surrogatepass")) + v.size() for n, v in attrs)
