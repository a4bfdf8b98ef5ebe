"""Two values the binlog reader gets wrong, found by the compiled decoder's differential test against
python-mysql-replication (which the decoder copies): an all-zero BINARY(n) arrived as '' (the binlog drops
trailing zero bytes and the library returns '' for no bytes, so the padding to n bytes was skipped), and
YEAR 0000 arrived as 1900. Both failed before the repairs in cdc/binlog.py; the table's rows are the
expectation, as the snapshot reads them."""

from __future__ import annotations

from mysql2dynamo.ground.mysql import connect
from tests.conftest import after_images, binlog_now


def test_all_zero_binary_and_year_zero_arrive_as_the_table_holds_them(local_stack, fresh_db):
    url = local_stack.mysql_url
    conn = connect(url, fresh_db)
    with conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute("CREATE TABLE e (id INT PRIMARY KEY, b4 BINARY(4), vb VARBINARY(8), y YEAR)")
        start = binlog_now(url)
        cur.executemany("INSERT INTO e VALUES (%s, %s, %s, %s)", [
            (1, b"\0\0\0\0", b"", 0), (2, b"\0\x01", b"\0", 1901), (3, b"abcd", b"\0\0", 2155)])
        cur.execute("SELECT id, b4, vb, y FROM e ORDER BY id")
        table = {r[0]: r[1:] for r in cur.fetchall()}
    conn.close()
    assert table[1] == (b"\0\0\0\0", b"", 0)
    images = after_images(local_stack, [f"{fresh_db}.e"], start)
    assert {i: (a["b4"], a["vb"], a["y"]) for i, a in images.items()} == table
