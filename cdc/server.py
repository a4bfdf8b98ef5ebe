"""What kind of MySQL server we talk to, and where its binlog is (the position itself and the `ver`
order of changes: cdc/position.py).

Production sources are MySQL 5.7, 8.0, 8.4 and MariaDB; they differ in how the binlog position is
asked for (SHOW MASTER STATUS; SHOW BINARY LOG STATUS from MySQL 8.2, the only form in 8.4), in
GTID formats (MySQL `uuid:1-n` sets, MariaDB `domain-server-seq` lists) and in whether
binlog_row_metadata exists (MySQL 8.0.14+, MariaDB 10.5+). Every such branch lives here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.ground.mysql import connect


@dataclass(frozen=True)
class ServerInfo:
    flavour: str  # "mariadb" or "mysql"
    version: tuple[int, int, int]
    server_id: int
    gtid_mode: bool  # MySQL gtid_mode=ON; MariaDB always writes GTIDs

    @property
    def is_mariadb(self) -> bool:
        return self.flavour == "mariadb"

    @property
    def status_statement(self) -> str:
        if self.flavour == "mysql" and self.version >= (8, 2, 0):
            return "SHOW BINARY LOG STATUS"
        return "SHOW MASTER STATUS"

    @property
    def has_row_metadata(self) -> bool:
        """binlog_row_metadata exists (column names and signedness in the binlog)."""
        return self.version >= ((10, 5, 0) if self.is_mariadb else (8, 0, 14))


def parse_version(text: str) -> tuple[str, tuple[int, int, int]]:
    """'10.11.19-MariaDB-0+deb12u1-log' -> ('mariadb', (10, 11, 19)); '8.4.3' -> ('mysql', (8, 4, 3))."""
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", text)
    if not m:
        raise ValueError(f"unrecognised server version {text!r}")
    flavour = "mariadb" if "mariadb" in text.lower() else "mysql"
    return flavour, (int(m[1]), int(m[2]), int(m[3]))


def server_info(conn) -> ServerInfo:
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION(), @@server_id")
        version, server_id = cur.fetchone()
        flavour, numbers = parse_version(version)
        gtid_mode = True
        if flavour == "mysql":
            cur.execute("SELECT @@gtid_mode")
            gtid_mode = str(cur.fetchone()[0]).upper() == "ON"
    return ServerInfo(flavour, numbers, int(server_id), gtid_mode)


def current_position(conn, info: ServerInfo) -> BinlogPosition:
    """The server's current binlog end (and GTID state), as a new reader would start from."""
    with conn.cursor() as cur:
        cur.execute(info.status_statement)
        row = cur.fetchone()
        if row is None:
            raise RuntimeError("binary logging is off on the source (log_bin): capture needs it")
        file, pos = row[0], int(row[1])
        gtid = None
        if info.is_mariadb:
            cur.execute("SELECT @@gtid_binlog_pos")
            gtid = cur.fetchone()[0] or None
        elif info.gtid_mode and len(row) >= 5:
            gtid = (row[4] or "").replace("\n", "") or None
    return BinlogPosition(file, pos, gtid)


def head_position(url: str) -> BinlogPosition:
    """The server's current binlog position, on a connection of its own."""
    conn = connect(url)
    try:
        return current_position(conn, server_info(conn))
    finally:
        conn.close()


def server_identity(conn, info: ServerInfo) -> dict:
    """What tells this server from another: its server_id, and its server_uuid on MySQL (MariaDB has none)."""
    identity: dict = {"flavour": info.flavour, "server_id": info.server_id}
    if not info.is_mariadb:
        with conn.cursor() as cur:
            cur.execute("SELECT @@server_uuid")
            identity["server_uuid"] = cur.fetchone()[0]
    return identity


def binlog_holds_gtid(conn, info: ServerInfo, position: BinlogPosition) -> bool | None:
    """Whether this server's binlog, at `position`, has written the transaction(s) of `position.gtid`;
    None when it cannot tell (no GTID stored, MySQL with gtid_mode off). A RESET MASTER starts the GTIDs
    again, and another server (a restore, a failover) has its own binlog: both answer False."""
    if not position.gtid or not (info.is_mariadb or info.gtid_mode):
        return None
    with conn.cursor() as cur:
        if not info.is_mariadb:
            cur.execute("SELECT GTID_SUBSET(%s, @@gtid_executed)", (position.gtid,))
            return bool(cur.fetchone()[0])
        cur.execute("SELECT BINLOG_GTID_POS(%s, %s)", (position.file, position.pos))
        state = cur.fetchone()[0]
        if state is None:  # the file is gone (purged, or a new numbering): the whole binlog's state
            cur.execute("SELECT @@gtid_binlog_pos")
            state = cur.fetchone()[0]
    have = dict(_mariadb_seq(g) for g in (state or "").split(",") if g.strip())
    return all(have.get(domain, -1) >= seq for domain, seq in map(_mariadb_seq, position.gtid.split(",")))


def _mariadb_seq(gtid: str) -> tuple[int, int]:
    """'0-1-42' -> (domain 0, sequence number 42)."""
    domain, _server, seq = gtid.strip().split("-")
    return int(domain), int(seq)


def binlog_files(conn) -> list[tuple[str, int]]:
    """The binlog files the server still has (name, size): a resume point outside them is gone."""
    with conn.cursor() as cur:
        cur.execute("SHOW BINARY LOGS")
        return [(r[0], int(r[1])) for r in cur.fetchall()]


def check_binlog_settings(conn, info: ServerInfo) -> list[str]:
    """What is wrong with the server's binlog settings for capture (empty when all is well)."""
    wanted = {"log_bin": "1", "binlog_format": "ROW", "binlog_row_image": "FULL"}
    if info.has_row_metadata:
        wanted["binlog_row_metadata"] = "FULL"
    problems = []
    with conn.cursor() as cur:
        for name, value in wanted.items():
            cur.execute(f"SELECT @@{name}")
            actual = str(cur.fetchone()[0]).upper()
            if actual not in (value, "ON" if value == "1" else value):
                problems.append(f"{name} is {actual}, capture needs {value}")
    if not info.is_mariadb and info.version >= (8, 0, 3):
        with conn.cursor() as cur:
            cur.execute("SELECT @@binlog_row_value_options")
            if "PARTIAL_JSON" in str(cur.fetchone()[0]).upper():
                problems.append("binlog_row_value_options is PARTIAL_JSON, capture needs it empty (full JSON images)")
    if not info.has_row_metadata:
        problems.append(f"{info.flavour} {'.'.join(map(str, info.version))} has no binlog_row_metadata: "
                        "column names come from the current schema, so DDL during capture is unsafe")
    return problems
