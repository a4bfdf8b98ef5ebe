"""Lossless JSON encoding of MySQL row values for the change envelope.

JSON has no decimal, bytes, date or set, so every value is encoded by its column's type tag,
which travels with the event (`types` in the envelope). Decoding gives back exactly what the
binlog reader produced, which is also what the snapshot's Parquet holds:

| tag | Python value | JSON |
|---|---|---|
| int | int (signed or unsigned, up to 2**64-1; also BIT, YEAR) | number |
| decimal | decimal.Decimal | string, digits and scale kept ("12.50") |
| float, double | float (FLOAT is the float32 value widened) | number (repr: round-trips) |
| string | str (CHAR, VARCHAR, TEXT, ENUM; JSON on MariaDB, where it is text) | string |
| bytes | bytes (BINARY(n) padded to n bytes, VARBINARY, BLOB; GEOMETRY as its WKB) | string, base64 |
| date | datetime.date | "YYYY-MM-DD" |
| datetime | datetime.datetime, naive (TIMESTAMP in UTC) | "YYYY-MM-DDTHH:MM:SS.ffffff" |
| time | datetime.timedelta (-838:59:59 .. 838:59:59) | "[-]HH:MM:SS.ffffff" (keymap.types.time_text) |
| json | str, JSON text (MySQL's binary JSON re-serialised) | string |
| set | frozenset[str] | list of members |

NULL is JSON null for every tag.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Callable
from decimal import Decimal
from operator import methodcaller
from typing import Any

from mysql2dynamo.keymap.types import time_text

# pymysqlreplication's column type codes (MySQL's enum_field_types)
_INT_TYPES = {1, 2, 3, 8, 9, 13, 16}  # TINY, SHORT, LONG, LONGLONG, INT24, YEAR, BIT
_DECIMAL = {0, 246}
_DATE = {10, 14}
_DATETIME = {7, 12, 17, 18}  # TIMESTAMP, DATETIME, TIMESTAMP2, DATETIME2
_TIME = {11, 19}
_STRINGS = {15, 253, 254, 252, 249, 250, 251}  # VARCHAR, VAR_STRING, STRING, BLOBs
TYPE_JSON, TYPE_ENUM, TYPE_SET, TYPE_FLOAT, TYPE_DOUBLE, TYPE_STRING, TYPE_GEOMETRY = 245, 247, 248, 4, 5, 254, 255

TAGS = ("int", "decimal", "float", "double", "string", "bytes", "date", "datetime", "time", "json", "set")


def column_tag(column) -> str:
    """The codec tag of a pymysqlreplication Column (from the binlog's table map metadata)."""
    t = column.type
    if t in _INT_TYPES:
        return "int"
    if t in _DECIMAL:
        return "decimal"
    if t == TYPE_FLOAT:
        return "float"
    if t == TYPE_DOUBLE:
        return "double"
    if t in _DATE:
        return "date"
    if t in _DATETIME:
        return "datetime"
    if t in _TIME:
        return "time"
    if t == TYPE_JSON:
        return "json"
    if t == TYPE_SET:
        return "set"
    if t == TYPE_GEOMETRY:
        return "bytes"
    if t == TYPE_ENUM:
        return "string"
    if t in _STRINGS:
        return "bytes" if getattr(column, "character_set_name", None) == "binary" else "string"
    raise ValueError(f"column {column.name}: unsupported MySQL column type code {t}")


def fixed_binary_width(column) -> int | None:
    """n for BINARY(n): the binlog drops its trailing 0x00 bytes, the table keeps all n."""
    if column.type == TYPE_STRING and getattr(column, "character_set_name", None) == "binary":
        return getattr(column, "max_length", None)
    return None


def _time_of(text: str) -> dt.timedelta:
    m = re.fullmatch(r"(-?)(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?", text)
    if not m:
        raise ValueError(f"not a TIME value: {text!r}")
    sign, h, mi, s, frac = m.groups()
    value = dt.timedelta(hours=int(h), minutes=int(mi), seconds=int(s),
                         microseconds=int((frac or "0").ljust(6, "0")))
    return -value if sign else value


def _decimal_text(value: Any) -> str:
    return str(value) if isinstance(value, Decimal) else str(Decimal(value))


def _base64(value: Any) -> str:
    raw = value if isinstance(value, bytes | bytearray) else str(value).encode()
    return base64.b64encode(raw).decode("ascii")


def _json_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _members(value: Any) -> list[str]:
    return sorted(value) if not isinstance(value, str) else [m for m in value.split(",") if m]


# tag -> encoder of a non-NULL value; None: the value is its own JSON
_ENCODERS: dict[str, Callable[[Any], Any] | None] = {
    "int": None, "float": None, "double": None, "string": None,
    "decimal": _decimal_text, "bytes": _base64, "date": methodcaller("isoformat"),
    "datetime": methodcaller("isoformat", timespec="microseconds"), "time": time_text,
    "json": _json_text, "set": _members,
}


def encode_value(tag: str, value: Any) -> Any:
    if tag not in _ENCODERS:
        raise ValueError(f"unknown codec tag {tag!r}")
    encode = _ENCODERS[tag]
    return value if value is None or encode is None else encode(value)


def decode_value(tag: str, raw: Any) -> Any:
    if raw is None:
        return None
    if tag in ("int", "string", "json"):
        return raw
    if tag in ("float", "double"):
        return float(raw)
    if tag == "decimal":
        return Decimal(raw)
    if tag == "bytes":
        return base64.b64decode(raw)
    if tag == "date":
        return dt.date.fromisoformat(raw)
    if tag == "datetime":
        return dt.datetime.fromisoformat(raw)
    if tag == "time":
        return _time_of(raw)
    if tag == "set":
        return frozenset(raw)
    raise ValueError(f"unknown codec tag {tag!r}")


class RowEncoder:
    """Encodes the rows of one table's types, the per-tag dispatch done once: a row is copied and only
    its columns whose values are not their own JSON are converted."""

    def __init__(self, types: dict[str, str]) -> None:
        for tag in types.values():
            if tag not in _ENCODERS:
                raise ValueError(f"unknown codec tag {tag!r}")
        self.converted = [(name, encode) for name, tag in types.items() if (encode := _ENCODERS[tag])]

    def __call__(self, row: dict[str, Any] | None) -> dict[str, Any] | None:
        if row is None:
            return None
        out = dict(row)
        for name, encode in self.converted:
            value = out.get(name)
            if value is not None:
                out[name] = encode(value)
        return out


_row_encoders: dict[tuple, RowEncoder] = {}


def row_encoder(types: dict[str, str]) -> RowEncoder:
    """The encoder of rows with these types (made once per distinct types)."""
    shape = tuple(types.items())
    encoder = _row_encoders.get(shape)
    if encoder is None:
        if len(_row_encoders) >= 4096:
            _row_encoders.clear()
        encoder = _row_encoders[shape] = RowEncoder(types)
    return encoder


def decode_row(types: dict[str, str], row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {name: decode_value(types[name], value) for name, value in row.items()}
