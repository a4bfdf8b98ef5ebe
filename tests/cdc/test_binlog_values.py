"""Values python-mysql-replication decodes differently from the table arrive as the table holds them.

Each case failed before its repair in cdc/binlog.py: BIT(n) came as its bits in text ('10100101' was
written as the number 10100101 instead of 165), a negative TIME with a fraction had its fraction
mirrored (-00:00:01.25 arrived as -00:00:01.75), and a zero TIMESTAMP arrived as 1970-01-01 00:00:00
while the snapshot reads it as NULL (the zero-date policy: zero dates are None on both paths).
"""

from __future__ import annotations

import datetime as dt

from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.keymap.schema import binlog_type, read_table_schema, same_binlog_type
from tests.conftest import after_images, binlog_now, read_binlog

T = dt.timedelta

ROWS = [  # id, b1, b8, b64, t6, t2, t0
    (1, 1, 0b10100101, 2**64 - 1, T(microseconds=-1), T(seconds=-1, microseconds=-250000), T(hours=-838)),
    (2, 0, 0, 0, -(T(hours=838, minutes=59, seconds=59, microseconds=999999)), T(microseconds=-10000), T(0)),
    (3, 1, 255, 2**63, T(hours=-1, microseconds=-500000), T(hours=2, microseconds=990000), T(seconds=-59)),
    (4, None, None, None, T(hours=838, minutes=59, seconds=59, microseconds=999999), None, None),
]


def _table_rows(url: str, db: str) -> list[tuple]:
    """The rows as the table holds them (BIT read as a number, TIME as pymysql's timedelta)."""
    conn = connect(url, db)
    with conn.cursor() as cur:
        cur.execute("SELECT id, b1+0, b8+0, b64+0, t6, t2, t0 FROM v ORDER BY id")
        rows = [tuple(None if x is None else int(x) if i in (1, 2, 3) else x for i, x in enumerate(r))
                for r in cur.fetchall()]
    conn.close()
    return rows


def test_bit_and_negative_fractional_time_arrive_as_the_table_holds_them(local_stack, fresh_db):
    url = local_stack.mysql_url
    conn = connect(url, fresh_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE v (id INT PRIMARY KEY, b1 BIT(1), b8 BIT(8), b64 BIT(64), t6 TIME(6), "
                    "t2 TIME(2), t0 TIME)")
    start = binlog_now(url)
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO v VALUES (%s, %s, %s, %s, %s, %s, %s)", ROWS)
        cur.execute("UPDATE v SET t6 = t6 - INTERVAL 1 MICROSECOND, b8 = b8 ^ 1 WHERE id = 3")
    conn.close()
    assert _table_rows(url, fresh_db)[:2] == ROWS[:2]  # the test's own expectations are the table's

    changes = [c for tx in read_binlog(local_stack, [f"{fresh_db}.v"], start) for c in tx.changes]
    latest = {}
    for c in changes:
        latest[c.after["id"]] = c.after
    columns = ("id", "b1", "b8", "b64", "t6", "t2", "t0")
    assert [tuple(latest[i][n] for n in columns) for i in sorted(latest)] == _table_rows(url, fresh_db)
    update = changes[-1]
    assert update.op == "update" and update.before["t6"] == T(hours=-1, microseconds=-500000)
    assert update.after["t6"] == T(hours=-1, microseconds=-500001) and update.after["b8"] == 254


def test_zero_dates_are_none_in_the_stream_as_in_the_snapshot(local_stack, fresh_db):
    url = local_stack.mysql_url
    conn = connect(url, fresh_db)
    with conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute("CREATE TABLE z (id INT PRIMARY KEY, d DATE, dt6 DATETIME(6), ts TIMESTAMP NULL, "
                    "ts3 TIMESTAMP(3) NULL)")
        start = binlog_now(url)
        cur.execute("INSERT INTO z VALUES (1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', "
                    "'0000-00-00 00:00:00'), (2, '2024-02-29', '1970-01-01 00:00:00', '1970-01-01 00:00:01', "
                    "'2038-01-19 03:14:07.999')")
    conn.close()
    after = after_images(local_stack, [f"{fresh_db}.z"], start)
    assert after[1] == {"id": 1, "d": None, "dt6": None, "ts": None, "ts3": None}
    assert after[2] == {"id": 2, "d": dt.date(2024, 2, 29), "dt6": dt.datetime(1970, 1, 1),
                        "ts": dt.datetime(1970, 1, 1, 0, 0, 1), "ts3": dt.datetime(2038, 1, 19, 3, 14, 7, 999000)}


def _charsets(url: str) -> list[tuple[str, int]]:
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT CHARACTER_SET_NAME, MAXLEN FROM information_schema.CHARACTER_SETS "
                    "WHERE CHARACTER_SET_NAME != 'binary' ORDER BY 1")
        out = list(cur.fetchall())
    conn.close()
    return out


TEXT = "Zoë Ärger ñ ß € £ ¥ © Ωμέγα Привет שלום مرحبا ไทย 日本語 한국어 中文 𝄞 🚀 \t'\"\\"


def test_every_character_set_decodes_as_mysql_decodes(local_stack, fresh_db):
    """Per character set: every byte of the 8-bit ones, and a text of many scripts (what the charset
    can hold, as the server converts it), read by the stream equal the server's own utf8mb4 reading."""
    url = local_stack.mysql_url
    charsets = _charsets(url)
    conn = connect(url, fresh_db)
    with conn.cursor() as cur:
        cols = ", ".join(f"c_{cs} TEXT CHARACTER SET {cs}" for cs, _ in charsets)
        cur.execute(f"CREATE TABLE cs (id INT PRIMARY KEY, {cols})")
        cur.execute("SET SESSION sql_mode = ''")  # what a charset cannot hold becomes '?'
        start = binlog_now(url)
        single = [cs for cs, maxlen in charsets if maxlen == 1]
        every_byte = "".join(f"{b:02X}" for b in range(1, 256))
        cur.execute("INSERT INTO cs (id, " + ", ".join(f"c_{cs}" for cs in single) + ") VALUES (1, "
                    + ", ".join(f"CONVERT(UNHEX('{every_byte}') USING {cs})" for cs in single) + ")")
        cur.execute("INSERT INTO cs (id, " + ", ".join(f"c_{cs}" for cs, _ in charsets) + ") VALUES (2, "
                    + ", ".join(f"CONVERT(CONVERT(%s USING {cs}) USING {cs})" for cs, _ in charsets) + ")",
                    [TEXT] * len(charsets))
        cur.execute("SELECT * FROM cs ORDER BY id")
        names = [d[0] for d in cur.description]
        table = {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}
    conn.close()
    after = after_images(local_stack, [f"{fresh_db}.cs"], start)
    wrong = [(i, name) for i in (1, 2) for name in names if after[i][name] != table[i][name]]
    assert wrong == [], [(i, n, after[i][n], table[i][n]) for i, n in wrong][:5]


TYPES_DDL = """CREATE TABLE every (id INT UNSIGNED PRIMARY KEY, a TINYINT, b SMALLINT, c MEDIUMINT(5),
  d BIGINT UNSIGNED,
  e DECIMAL(12,4), f FLOAT, g DOUBLE, h VARCHAR(10), h2 VARCHAR(7) CHARACTER SET latin1, h3 CHAR(2) CHARACTER SET
  utf16, i CHAR(3), j BINARY(4), k VARBINARY(9), l TINYTEXT, m TEXT, n MEDIUMTEXT, o LONGTEXT, p TINYBLOB, q BLOB,
  r MEDIUMBLOB, s LONGBLOB, t DATE, u DATETIME(3), v TIMESTAMP(6) NULL, w TIME(2), x YEAR, y BIT(5),
  z ENUM('a','b''c'), aa SET('x','y'), js JSON, geo GEOMETRY, pt POINT, addr INET6)"""


def test_the_envelope_describes_the_table_version_as_the_schema_read_does(local_stack, fresh_db):
    """Every column type the binlog describes equals what replay's mapping schema says of it (no ALTER is seen
    where there is none), MariaDB's JSON included; a geometry arrives as the WKB ST_AsBinary gives."""
    url = local_stack.mysql_url
    conn = connect(url, fresh_db)
    start = binlog_now(url)
    with conn.cursor() as cur:
        cur.execute(TYPES_DDL)
        cur.execute("INSERT INTO every (id, js, geo, pt) VALUES (1, '{\"a\": 1}', "
                    "ST_GeomFromText('POLYGON((0 0, 4 0, 4 4, 0 0))', 4326), POINT(1.5, -2))")
        cur.execute("SELECT ST_AsBinary(geo), ST_AsBinary(pt) FROM every")
        wkb = cur.fetchone()
    schema = read_table_schema(conn, fresh_db, "every")
    conn.close()
    (change,) = [c for tx in read_binlog(local_stack, [f"{fresh_db}.every"], start) for c in tx.changes]

    assert schema.column("js").data_type == "json" and schema.unsupported == (("addr", "inet6"),)
    carried = [(n, t) for n, t in change.columns if n != "addr"]
    assert [n for n, _ in carried] == schema.names
    described = dict(carried)
    assert [(c.name, binlog_type(c)) for c in schema.columns if not same_binlog_type(c, described[c.name])] == []
    assert (change.after["geo"], change.after["pt"]) == wkb
