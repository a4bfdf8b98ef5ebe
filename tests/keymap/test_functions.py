"""Every keymap function: its value in the Python engine, and the Spark engine agreeing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from mysql2dynamo.keymap.preview import item_dict as attrs
from mysql2dynamo.keymap.types import Column

COLS = [Column("s", "varchar", length=40), Column("n", "int"), Column("d", "decimal", precision=12, scale=2),
        Column("t", "datetime", fsp=6), Column("day", "date"), Column("f", "double"), Column("x", "varchar", length=40)]
ROW = {"s": "  Ab-Cd ", "n": 42, "d": Decimal("12.50"), "t": dt.datetime(2024, 1, 2, 3, 4, 5, 678901),
       "day": dt.date(2024, 2, 29), "f": 2.5, "x": None}

CASES = [
    ("lower(s)", {"S": "  ab-cd "}), ("upper(s)", {"S": "  AB-CD "}), ("trim(s)", {"S": "Ab-Cd"}),
    ("substr(trim(s), 4)", {"S": "Cd"}), ("substr(trim(s), 1, 2)", {"S": "Ab"}), ("substr(trim(s), -2)", {"S": "Cd"}),
    ("replace(s, '-', '')", {"S": "  AbCd "}), ("replace(s, '', 'x')", {"S": "  Ab-Cd "}),
    ("pad(n, 5)", {"S": "00042"}), ("pad(n, 1)", {"S": "42"}), ("pad(n, 6, 'ab')", {"S": "abab42"}),
    ("rpad(n, 4, '_')", {"S": "42__"}), ("concat(n, '/', d)", {"S": "42/12.50"}), ("concat(n, x)", None),
    ("coalesce(x, s)", {"S": "  Ab-Cd "}), ("coalesce(d, n)", {"N": "12.50"}), ("coalesce(x, null)", None),
    ("if(n > 40, 'big', 'small')", {"S": "big"}), ("if(x = 'a', 1, 2)", {"N": "2"}),
    ("fmt_time(t, '%Y-%m-%dT%H:%M:%S.%f (%j, %y) 100%%')",
     {"S": "2024-01-02T03:04:05.678901 (002, 24) 100%"}), ("fmt_time(day, 'D''%Y')", {"S": "D'2024"}),
    ("iso(t)", {"S": "2024-01-02T03:04:05.678901"}), ("iso(day)", {"S": "2024-02-29"}),
    ("epoch_s(t)", {"N": "1704164645"}), ("epoch_ms(t)", {"N": "1704164645678"}), ("epoch_s(day)", {"N": "1709164800"}),
    ("crc32('a')", {"N": "3904355907"}), ("md5('a')", {"S": "0cc175b9c0f1b6a831c399e269772661"}),
    ("hash_mod(n, 8)", {"N": "0"}), ("json('{\"a\": [1, true]}')", {"M": {"a": {"L": [{"N": "1"}, {"BOOL": True}]}}}),
    ("str(f)", {"S": "2.5"}), ("str(d)", {"S": "12.50"}), ("str(n > 1)", {"S": "true"}),
    ("num('0012.50')", {"N": "12.5"}), ("num('-0.000')", {"N": "0"}), ("num(n = 42)", {"N": "1"}),
    ("length(s)", {"N": "8"}), ("d * 2 + n", {"N": "67.00"}), ("n % 5", {"N": "2"}), ("0 - n % 5", {"N": "-2"}),
    ("n / 8", {"N": "5.25"}), ("f * 3", {"N": "7.5"}), ("n / 0", None), ("-d", {"N": "-12.50"}),
    ("s in ('a', '  Ab-Cd ')", {"BOOL": True}), ("x not in ('a')", None), ("x is null and not (n < 0)", {"BOOL": True}),
    ("t >= '2024-01-02 03:04:05.678901'", {"BOOL": True}), ("day < '2024-01-01'", {"BOOL": False}),
]


@pytest.mark.parametrize("expr, expected", CASES, ids=[c[0] for c in CASES])
def test_function_values(expr, expected):
    from mysql2dynamo.keymap.checker import check
    from mysql2dynamo.keymap.compile_python import compile_python
    from mysql2dynamo.keymap.schema import TableSchema
    from mysql2dynamo.keymap.spec import mapping_from_dict

    schema = TableSchema("db", "t", (Column("id", "bigint", False), *COLS), ("id",))
    rule = {"target": "t", "key": {"PK": "{id}"}, "attributes": {"v": f"{{{expr}}}"}}
    checked = check(mapping_from_dict({"db.t": rule}), {"db.t": schema}).raise_on_errors()
    result = compile_python(checked).map_row("db.t", {"id": 1, **ROW})[0]
    assert attrs(result).get("v") == expected


def test_every_case_agrees_with_spark(engines):
    rows = [ROW, {k: None for k in ROW}]
    results = engines(COLS, {"attributes": {f"v{i}": f"{{{e}}}" for i, (e, _) in enumerate(CASES)}}, rows)
    assert [attrs(results[0]).get(f"v{i}") for i in range(len(CASES))] == [e for _, e in CASES]


def test_num_rejects_bad_text_and_too_many_digits(engines):
    results = engines([Column("s", "varchar", length=60)], {"attributes": {"v": "{num(s)}"}},
                      [{"s": "1e5"}, {"s": "9" * 39}, {"s": "+7.0"}, {"s": "7\n"}, {"s": "\u0663"}])
    assert [r.reason for r in results] == ["bad_value", "number_too_large", None, "bad_value", "bad_value"]
    assert results[0].message == "db.t: bad_value in attribute v; source key id=1"
    assert attrs(results[2])["v"] == {"N": "7"}


def test_epoch_floors_around_1970_in_both_engines(engines):
    """Spark's fast path truncates; before 1970 both engines must still floor."""
    stamps = [dt.datetime(1969, 12, 31, 23, 59, 59, 500000), dt.datetime(1969, 12, 31, 23, 59, 59),
              dt.datetime(1970, 1, 1), dt.datetime(1970, 1, 1, 0, 0, 0, 999999), dt.datetime(1, 1, 1, 0, 0, 0, 1)]
    results = engines([Column("t", "datetime", fsp=6)], {"attributes": {"s": "{epoch_s(t)}", "ms": "{epoch_ms(t)}"}},
                      [{"t": t} for t in stamps])
    assert [(attrs(r)["s"]["N"], attrs(r)["ms"]["N"]) for r in results] == [
        ("-1", "-500"), ("-1", "-1000"), ("0", "0"), ("0", "999"), ("-62135596800", "-62135596800000")]


def _wkb(kind: int, body: bytes, big_endian: bool = False) -> bytes:
    import struct

    order = ">" if big_endian else "<"
    return bytes([0 if big_endian else 1]) + struct.pack(order + "I", kind) + body


def test_geojson_agrees_with_spark_and_rejects_what_it_cannot_write(engines):
    """Every WKB geometry type, either byte order; a value that is no WKB or holds a coordinate DynamoDB
    cannot hold rejects the row in both engines (the JVM half is io.mysql2dynamo.emr.GeoJson)."""
    import struct

    def pts(*xy: float, order: str = "<") -> bytes:
        return struct.pack(order + "i", len(xy) // 2) + struct.pack(order + "d" * len(xy), *xy)

    point = _wkb(1, struct.pack("<dd", 1.5, -2.0))
    line = _wkb(2, pts(0, 0, 1e-5, 123456789.125))
    polygon = _wkb(3, struct.pack("<i", 2) + pts(0, 0, 4, 0, 4, 4, 0, 0) + pts(1, 1, 2, 1, 1, 1))
    multi = _wkb(4, struct.pack(">i", 2) + _wkb(1, struct.pack(">dd", -0.0, 7), True) * 2, True)
    collection = _wkb(7, struct.pack("<i", 2) + point + _wkb(6, struct.pack("<i", 1) + polygon))
    rows = [{"g": v} for v in (point, line, polygon, multi, collection, None, b"\x01\x09\x00\x00\x00",
                               point[:-1], _wkb(1, struct.pack("<dd", 1e-200, 0)))]
    out = engines([Column("g", "blob")], {"attributes": {"j": "{geojson(g)}"}}, rows)
    items = [attrs(r) and attrs(r).get("j") for r in out]
    assert items[0] == {"M": {"type": {"S": "Point"}, "coordinates": {"L": [{"N": "1.5"}, {"N": "-2"}]}}}
    assert items[1]["M"]["coordinates"]["L"][1] == {"L": [{"N": "1.0E-5"}, {"N": "1.23456789125E8"}]}
    assert [len(ring["L"]) for ring in items[2]["M"]["coordinates"]["L"]] == [4, 3]
    assert items[3]["M"]["type"] == {"S": "MultiPoint"} and len(items[3]["M"]["coordinates"]["L"]) == 2
    assert items[4]["M"]["type"] == {"S": "GeometryCollection"} and len(items[4]["M"]["geometries"]["L"]) == 2
    assert items[5] is None
    assert [r.reason for r in out[6:]] == ["bad_value", "bad_value", "number_too_large"]
