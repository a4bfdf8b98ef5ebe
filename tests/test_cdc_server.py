"""Server flavour branches and the binlog position / `ver` order."""

from __future__ import annotations

import pytest

from mysql2dynamo.cdc.position import ROW_MAX, BinlogPosition
from mysql2dynamo.cdc.server import ServerInfo, check_binlog_settings, current_position, parse_version, server_info
from mysql2dynamo.ground.mysql import connect


@pytest.mark.parametrize(("text", "flavour", "version", "statement", "metadata"), [
    ("10.11.19-MariaDB-0+deb12u1-log", "mariadb", (10, 11, 19), "SHOW MASTER STATUS", True),
    ("10.4.34-MariaDB", "mariadb", (10, 4, 34), "SHOW MASTER STATUS", False),
    ("5.7.44-log", "mysql", (5, 7, 44), "SHOW MASTER STATUS", False),
    ("8.0.13", "mysql", (8, 0, 13), "SHOW MASTER STATUS", False),
    ("8.0.36", "mysql", (8, 0, 36), "SHOW MASTER STATUS", True),
    ("8.4.3", "mysql", (8, 4, 3), "SHOW BINARY LOG STATUS", True),
])
def test_flavour_branches(text, flavour, version, statement, metadata):
    got_flavour, got_version = parse_version(text)
    assert (got_flavour, got_version) == (flavour, version)
    info = ServerInfo(got_flavour, got_version, server_id=1, gtid_mode=True)
    assert info.status_statement == statement
    assert info.has_row_metadata is metadata


def test_ver_orders_by_file_then_position_then_row():
    a = BinlogPosition("binlog.000009", 4_294_967_295)
    b = BinlogPosition("binlog.000010", 4)
    assert a.ver(0) < a.ver(ROW_MAX) < b.ver(0)
    assert b.ver(1) == b.ver(0) + 1
    assert len(str(BinlogPosition("binlog.999999", 4_294_967_295).ver())) <= 38
    with pytest.raises(ValueError):
        BinlogPosition("binlog", 4).ver()


def test_local_mariadb_position_and_settings(local_stack):
    conn = connect(local_stack.cdc_mysql_url)
    info = server_info(conn)
    assert info.is_mariadb and info.server_id == 1
    before = current_position(conn, info)
    assert before.file.startswith("binlog.") and before.gtid is not None  # MariaDB: domain-server-seq
    assert check_binlog_settings(conn, info) == []
    conn.close()
    app = connect(local_stack.mysql_url)
    with app.cursor() as cur:
        cur.execute("FLUSH BINARY LOGS")
    app.close()
    conn = connect(local_stack.cdc_mysql_url)
    assert current_position(conn, info) > before
    conn.close()
