"""The consistent point: N worker transactions that see one snapshot, and the binlog position of it.

Two methods (docs/snapshot.md):

- `mariadb-snapshot` (MariaDB, lock-free): every worker runs `START TRANSACTION WITH CONSISTENT
  SNAPSHOT`; MariaDB then reports, per transaction, the binlog position its snapshot corresponds to
  (`SHOW STATUS LIKE 'binlog_snapshot_%'`, taken atomically with the read view under the commit
  order lock). When every worker reports the same file/position, all read views contain exactly the
  transactions binlogged before that position: they are the same snapshot. Otherwise a commit slipped
  in between: all roll back and try again (a few ms later); after `attempts` misses, fall back to FTWRL
  (method `auto`) or fail. The GTID comes from `BINLOG_GTID_POS(file, pos)`.
- `ftwrl` (MySQL 5.7/8.0/8.4, and MariaDB on request): the control connection takes `FLUSH TABLES
  WITH READ LOCK` (commits stop for a moment), every worker starts its consistent-snapshot transaction
  under the lock, the control connection reads the binlog position (`SHOW MASTER STATUS`, or `SHOW
  BINARY LOG STATUS` from MySQL 8.2) with the executed GTID set, then `UNLOCK TABLES`. The lock is held
  for the few milliseconds N `START TRANSACTION`s take; `lock_wait_timeout` bounds how long FTWRL may
  wait behind a long-running statement.

The algorithm talks to "sessions" (anything with `query(sql, args) -> rows`) so the SQL sequence of
each branch is unit-tested without a server of that flavour; production sessions are the worker
processes' connections (workers.py) and the control connection.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Protocol

from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.cdc.server import ServerInfo, current_position

from .manifest import utc_timestamp

START = "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"
SNAPSHOT_STATUS = "SHOW STATUS LIKE 'binlog_snapshot_%'"
WORKER_SETUP = (
    "SET SESSION time_zone = '+00:00'",  # TIMESTAMP values in UTC, as the binlog carries them
    "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
)
METHODS = ("auto", "mariadb-snapshot", "ftwrl")


class Session(Protocol):
    def query(self, sql: str, args: tuple | list | None = None) -> list[tuple]: ...


class ConnSession:
    """A `Session` over a pymysql connection."""

    def __init__(self, conn) -> None:
        self.conn = conn

    def query(self, sql: str, args=None) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall()) if cur.description else []


class _Cursor:
    """Just enough of a DB-API cursor over a Session for `cdc.server.current_position`."""

    def __init__(self, session: Session) -> None:
        self.session, self.rows = session, []

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def execute(self, sql, args=None):
        self.rows = list(self.session.query(sql, args))

    def fetchone(self):
        return self.rows.pop(0) if self.rows else None

    def fetchall(self):
        rows, self.rows = self.rows, []
        return rows


class _SessionConn:
    def __init__(self, session: Session) -> None:
        self.session = session

    def cursor(self):
        return _Cursor(self.session)


class SnapshotError(RuntimeError):
    pass


@dataclass(frozen=True)
class ConsistentPoint:
    position: BinlogPosition
    method: str  # how it was taken: "mariadb-snapshot" or "ftwrl"
    taken_at: str  # ISO-8601 UTC
    attempts: int = 1
    lock_ms: float | None = None  # how long FTWRL blocked commits

    @property
    def ver(self) -> int:
        return self.position.ver()

    def as_dict(self) -> dict:
        return {**self.position.as_dict(), "ver": self.ver, "method": self.method, "taken_at": self.taken_at,
                "attempts": self.attempts, "lock_ms": self.lock_ms}


def choose_method(info: ServerInfo, method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown consistency method {method!r} (one of {', '.join(METHODS)})")
    if method == "mariadb-snapshot" and not info.is_mariadb:
        raise ValueError("consistency method mariadb-snapshot needs MariaDB (binlog_snapshot_file/position); "
                         f"this server is {info.flavour}: use ftwrl")
    if method == "auto":
        return "mariadb-snapshot" if info.is_mariadb else "ftwrl"
    return method


def snapshot_status(session: Session) -> tuple[str, int]:
    status = {str(k).lower(): v for k, v in session.query(SNAPSHOT_STATUS)}
    try:
        return str(status["binlog_snapshot_file"]), int(status["binlog_snapshot_position"])
    except KeyError as e:
        raise SnapshotError("server reports no binlog_snapshot_file/position (binary log off?)") from e


def open_point(control: Session, workers: list[Session], info: ServerInfo, method: str = "auto",
               attempts: int = 25, lock_wait_timeout: int = 10, sleep=time.sleep) -> ConsistentPoint:
    """Start one consistent-snapshot transaction in every worker session, all on one snapshot,
    and return the binlog position that snapshot corresponds to."""
    chosen = choose_method(info, method)
    for w in workers:
        for sql in WORKER_SETUP:
            w.query(sql)
    if chosen == "mariadb-snapshot":
        for attempt in range(1, attempts + 1):
            seen = []
            for w in workers:
                w.query(START)
                seen.append(snapshot_status(w))
            if len(set(seen)) == 1:
                file, pos = seen[0]
                gtid = control.query("SELECT BINLOG_GTID_POS(%s, %s)", (file, pos))[0][0] or None
                return ConsistentPoint(BinlogPosition(file, pos, gtid), chosen, utc_timestamp(), attempt)
            for w in workers:
                w.query("ROLLBACK")
            sleep(random.uniform(0.001, 0.02) * attempt)
        if method != "auto":
            raise SnapshotError(f"workers did not get one snapshot in {attempts} attempts (commits kept "
                                "landing between them): retry, or use --consistency ftwrl")
    return _ftwrl_point(control, workers, info, lock_wait_timeout)


def _ftwrl_point(control: Session, workers: list[Session], info: ServerInfo, lock_wait_timeout: int) -> ConsistentPoint:
    control.query(f"SET SESSION lock_wait_timeout = {int(lock_wait_timeout)}")
    control.query("FLUSH TABLES WITH READ LOCK")
    locked = time.monotonic()
    try:
        for w in workers:
            w.query(START)
        position = current_position(_SessionConn(control), info)
        if info.is_mariadb:  # cross-check: MariaDB also says where each worker's snapshot is
            for w in workers:
                seen = snapshot_status(w)
                if seen != (position.file, position.pos):
                    raise SnapshotError(f"worker snapshot at {seen} but binlog at {position} under FTWRL")
    finally:
        control.query("UNLOCK TABLES")
    lock_ms = round((time.monotonic() - locked) * 1000, 2)
    return ConsistentPoint(position, "ftwrl", utc_timestamp(), 1, lock_ms)
