"""The workers' two drivers read the same rows: mysqlclient (C) and pymysql give, for every sample
type, the edge types, zero dates, geometry and JSON, the same values and the same Arrow table;
the driver choice is explicit, and TLS asked for through mysqlclient is TLS or an error."""

from __future__ import annotations

import pytest

from mysql2dynamo.cdc.snapshot.arrow_rows import BatchConverter
from mysql2dynamo.cdc.snapshot.chunk_dump import select_sql
from mysql2dynamo.cdc.snapshot.chunks import Chunk
from mysql2dynamo.cdc.snapshot.raw_connection import choose_driver, connect_raw, tls_arguments
from mysql2dynamo.ground.mysql import MySQLTarget, connect
from mysql2dynamo.keymap.schema import read_table_schema
from tests.snapshot.test_types_and_chunks import _edge_table

ODD_DDL = """
CREATE TABLE odd (
  id    INT PRIMARY KEY,
  f     FLOAT NULL,
  d     DOUBLE NULL,
  j     JSON NULL,
  g     GEOMETRY NULL,
  s     SET('a','b','c') NULL,
  e     ENUM('x','y') NULL,
  txt   TEXT NULL,
  blb   BLOB NULL
) DEFAULT CHARSET=utf8mb4
"""


def _rows(conn, schema) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute("SET SESSION time_zone = '+00:00'")
    cur = conn.cursor()
    sql, args = select_sql(schema, Chunk(schema.full_name, 0))
    cur.execute(sql + " ORDER BY " + ", ".join(f"`{c}`" for c in schema.primary_key), args)
    rows = list(cur.fetchall())
    cur.close()
    return rows


def test_mysqlclient_and_pymysql_read_the_same_rows_and_arrow_tables(local_stack, sample_db, fresh_db):
    _edge_table(local_stack.mysql_url, fresh_db, rows=200).close()
    conn = connect(local_stack.mysql_url, fresh_db)
    with conn.cursor() as cur:
        cur.execute(ODD_DDL)
        cur.execute("INSERT INTO odd VALUES (1, 1.17549435e-38, 0.1, '{\"k\": [1, \"🚀\"]}', "
                    "ST_GeomFromText('POINT(1 2)', 4326), 'a,c', 'y', 'tab\\there\\nnewline 🌮', x'00ff00'), "
                    "(2, NULL, NULL, NULL, NULL, '', NULL, '', ''), (3, -3.40282e38, -1e308, 'null', "
                    "ST_GeomFromText('LINESTRING(0 0, 1 1)'), 'b', 'x', NULL, NULL)")
    target = MySQLTarget.parse(local_stack.cdc_mysql_url)
    fast, slow = connect_raw(target, "mysqlclient"), connect_raw(target, "pymysql")
    names = [f"{sample_db}.{t}" for t in ("customers", "orders", "order_items")]
    names += [f"{fresh_db}.edge", f"{fresh_db}.odd"]
    for name in names:
        schema = read_table_schema(conn, *name.split(".", 1))
        want = _rows(slow, schema)
        got = _rows(fast, schema)
        assert len(got) == len(want) > 0, name
        for g, w in zip(got, want, strict=True):  # numbers and dates: text from pymysql, bytes from mysqlclient
            text = [v.decode() if isinstance(v, bytes) and isinstance(u, str) else v for v, u in zip(g, w, strict=True)]
            assert text == list(w), (name, g, w)
        assert BatchConverter(schema).convert_raw(got).equals(BatchConverter(schema).convert_raw(want)), name
    for c in (fast, slow, conn):
        c.close()


def test_the_driver_is_chosen_explicitly_and_tls_through_mysqlclient_is_tls_or_an_error(local_stack):
    target = MySQLTarget.parse(local_stack.mysql_url)
    assert choose_driver(target) == "mysqlclient"  # installed with the dev extra: the default
    assert choose_driver(target, "pymysql") == "pymysql"
    with pytest.raises(ValueError, match="unknown snapshot driver 'odbc'"):
        choose_driver(target, "odbc")
    iam = MySQLTarget.parse("mysql://app@db.example:3306/?auth=rds-iam&region=eu-west-1&ssl_ca=/etc/ca.pem")
    assert choose_driver(iam) == "pymysql"  # RDS IAM stays on the driver it is tested with
    with pytest.raises(ValueError, match="mysqlclient: RDS IAM authentication is read through pymysql"):
        choose_driver(iam, "mysqlclient")
    # never weaker than pymysql: a CA verifies the certificate, verify_identity the host name too
    assert tls_arguments({}) == {}
    assert tls_arguments({"ssl_ca": "/ca.pem"}) == {"ssl_mode": "VERIFY_CA", "ssl": {"ca": "/ca.pem"}}
    assert tls_arguments({"ssl_ca": "/ca.pem", "ssl_verify_identity": True})["ssl_mode"] == "VERIFY_IDENTITY"
    assert tls_arguments({"ssl_ca": "/ca.pem", "ssl_verify_cert": False})["ssl_mode"] == "REQUIRED"
    assert tls_arguments({"ssl_verify_cert": True}) == {"ssl_mode": "VERIFY_CA"}
    # the local server offers no TLS: asking for it is refused, naming the server, not read in clear
    import certifi
    import MySQLdb

    tls = MySQLTarget.parse(f"{local_stack.mysql_url}?ssl_ca={certifi.where()}&ssl_verify_identity=true")
    with pytest.raises(MySQLdb.OperationalError, match=rf"{tls.user}@127.0.0.1:{tls.port}: .*SSL") as err:
        connect_raw(tls, "mysqlclient")
    assert err.value.args[0] == 2026
