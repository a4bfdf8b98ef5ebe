"""GeoJSON text of a WKB geometry, the same text the Spark engine gets from io.mysql2dynamo.emr.GeoJson.

A MySQL geometry travels as its OGC WKB (2D: Point .. GeometryCollection). `geojson()` writes it as
GeoJSON with members in the order type, coordinates (geometries for a collection), no spaces, and
each coordinate in `float_text`'s digits, so both engines hand the attribute writer the same JSON
text. A value that is no WKB is `bad_value`; a coordinate outside DynamoDB's number range is
`number_too_large` (both engines reject the row).
"""

from __future__ import annotations

import struct

from mysql2dynamo.keymap.values import DYNAMO_NUMBER_RANGE, BadValue, float_text

_TYPES = (None, "Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon",
          "GeometryCollection")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at, self.order = data, 0, "<"

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.at + size > len(self.data):
            raise BadValue("geometry: WKB ends early")
        (value,) = struct.unpack_from(self.order + fmt, self.data, self.at)
        self.at += size
        return value

    def header(self) -> int:
        self.order = ">" if self.take("B") == 0 else "<"
        kind = self.take("I")
        if not 1 <= kind <= 7:
            raise BadValue(f"geometry: WKB type {kind}")
        return kind

    def count(self) -> int:
        n = self.take("i")
        if n < 0 or n > len(self.data) - self.at:
            raise BadValue(f"geometry: count {n}")
        return n


def _number(x: float) -> str:
    a = abs(x)
    if a != a or a == float("inf") or (a != 0 and not DYNAMO_NUMBER_RANGE[0] <= a < DYNAMO_NUMBER_RANGE[1]):
        raise BadValue(f"geometry coordinate {x!r} is no DynamoDB number", "number_too_large")
    return float_text(x, False)


def _coordinates(r: _Reader, kind: int) -> str:
    if kind == 1:
        return f"[{_number(r.take('d'))},{_number(r.take('d'))}]"
    parts = []
    for _ in range(r.count()):
        parts.append(_coordinates(r, 1 if kind == 2 else 2 if kind == 3 else r.header()))
    return "[" + ",".join(parts) + "]"


def _geometry(r: _Reader) -> str:
    kind = r.header()
    if kind == 7:
        return f'{{"type":"{_TYPES[kind]}","geometries":[' + ",".join(_geometry(r) for _ in range(r.count())) + "]}"
    return f'{{"type":"{_TYPES[kind]}","coordinates":{_coordinates(r, kind)}}}'


def geojson(wkb: bytes) -> str:
    """GeoJSON text of an OGC WKB geometry."""
    r = _Reader(bytes(wkb))
    text = _geometry(r)
    if r.at != len(r.data):
        raise BadValue("geometry: bytes after the WKB")
    return text
