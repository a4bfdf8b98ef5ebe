"""Reading the binlog as transactions of row changes (python-mysql-replication underneath).

The reader yields one `Transaction` per committed transaction that ends in the binlog (also the
ones with no captured change, so the position keeps moving), and a `Heartbeat` when the server
has nothing to send, so the caller can check its stop flags: a blocked reader cannot be closed
from another thread. Column names, types, primary keys and SET members come from each event's
own table map (binlog_row_metadata=FULL), so an ALTER TABLE in the stream is followed event by
event.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from mysql2dynamo.cdc.codec import column_tag, fixed_binary_width
from mysql2dynamo.cdc.envelope import Change, Source
from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.cdc.server import ServerInfo
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.constants import NONE_SOURCE
from pymysqlreplication.event import (
    GtidEvent,
    HeartbeatLogEvent,
    MariadbGtidEvent,
    QueryEvent,
    RotateEvent,
    XidEvent,
)
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from mysql2dynamo.ground.mysql import MySQLTarget

log = logging.getLogger("mysql2dynamo.cdc")


class CaptureError(RuntimeError):
    """Capture cannot go on without losing changes; the message says what the operator can do."""


@dataclass
class Transaction:
    changes: list[Change]
    end: BinlogPosition  # after the commit: the resume point once this transaction is acknowledged
    ts: int
    binlog_bytes: int = 0


@dataclass(frozen=True)
class Heartbeat:
    position: BinlogPosition


@dataclass
class CapturePolicy:
    on_truncate: str = "fail"  # fail | warn: TRUNCATE deletes rows without row events
    warnings: list[str] = field(default_factory=list)


def _statement_kind(query: str) -> str:
    words = query.strip().split(None, 2)
    return (words[0].upper() if words else "") + (" " + words[1].upper() if len(words) > 1 else "")


_DDL_TABLE = re.compile(
    r"^\s*(?:alter|create|drop|truncate|rename)\s+(?:(?:online|ignore|temporary)\s+)*(?:table\s+)?"
    r"(?:if\s+(?:not\s+)?exists\s+)?([`\w$]+(?:\s*\.\s*[`\w$]+)?)", re.IGNORECASE)


def ddl_table(query: str, default_db: str) -> tuple[str, str] | None:
    """The table a DDL statement changes (`db`.`t` or t in the statement's default database)."""
    m = _DDL_TABLE.match(query)
    if not m:
        return None
    name = m.group(1).replace("`", "").replace(" ", "")
    db, _, table = name.rpartition(".")
    return (db or default_db, table)


class BinlogSource:
    """Transactions of the captured tables from `start` on."""

    def __init__(self, target: MySQLTarget, tables: list[str], start: BinlogPosition, info: ServerInfo,
                 *, reader_id: int = 54321, blocking: bool = True, heartbeat: float = 0.1,
                 policy: CapturePolicy | None = None) -> None:
        # heartbeat: the idle server wakes the reader every `heartbeat` s, so the stream collects
        # Kinesis acknowledgements (and checkpoints) that fast even when no change comes
        self.tables = {tuple(t.split(".", 1)) for t in tables}
        self.info = info
        self.policy = policy or CapturePolicy()
        self.position = start
        self.reader = BinLogStreamReader(
            connection_settings={"host": target.host, "port": target.port, "user": target.user,
                                 "password": target.password, "charset": "utf8mb4"},
            server_id=reader_id, log_file=start.file, log_pos=start.pos, resume_stream=True,
            blocking=blocking, slave_heartbeat=heartbeat if blocking else None,
            only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent, XidEvent, QueryEvent,
                         RotateEvent, GtidEvent, MariadbGtidEvent, HeartbeatLogEvent],
            only_schemas=sorted({db for db, _ in self.tables}),
            # MariaDB serves file/position dumps like MySQL; is_mariadb=True would ignore them
            is_mariadb=False, enable_logging=False,
        )

    def close(self) -> None:
        self.reader.close()

    def __iter__(self) -> Iterator[Transaction | Heartbeat]:
        changes: list[Change] = []
        gtid: str | None = None
        begin_pos = self.position.pos
        for event in self.reader:
            file = self.reader.log_file
            end = event.packet.log_pos
            if isinstance(event, RotateEvent):
                self.position = BinlogPosition(event.next_binlog, event.position, self.position.gtid)
                continue
            if isinstance(event, HeartbeatLogEvent):
                yield Heartbeat(self.position)
                continue
            if isinstance(event, GtidEvent | MariadbGtidEvent):
                gtid, changes, begin_pos = event.gtid, [], event.packet.log_pos
                continue
            if isinstance(event, WriteRowsEvent | UpdateRowsEvent | DeleteRowsEvent):
                if (event.schema, event.table) in self.tables:
                    changes.extend(self._changes(event, file, end, gtid))
                continue
            if isinstance(event, QueryEvent):
                query = event.query.strip()
                kind = _statement_kind(query)
                if kind.startswith("BEGIN"):
                    continue
                if not kind.startswith("COMMIT"):
                    self._ddl(event, kind, query, file, end)
            # XidEvent, COMMIT, or a DDL statement: the transaction ends here
            self.position = BinlogPosition(file, end, gtid)
            yield Transaction(changes, self.position, event.timestamp, max(0, end - begin_pos))
            changes = []

    def _changes(self, event, file: str, end: int, gtid: str | None) -> Iterator[Change]:
        columns = event.columns
        types = {c.name: column_tag(c) for c in columns}
        widths = {c.name: w for c in columns if (w := fixed_binary_width(c))}
        keys = event.primary_key
        key_columns = (keys,) if isinstance(keys, str) else tuple(keys or ())
        if not key_columns:
            raise CaptureError(f"{event.schema}.{event.table} has no primary key: changes cannot be keyed "
                               "(add a primary key or leave the table out of the mapping)")
        op = {WriteRowsEvent: "insert", UpdateRowsEvent: "update", DeleteRowsEvent: "delete"}[type(event)]
        where = f"{event.schema}.{event.table} at {file}:{end}"
        for index, row in enumerate(event.rows):
            if op == "update":
                before = _image(row["before_values"], row["before_none_sources"], widths, where)
                after = _image(row["after_values"], row["after_none_sources"], widths, where)
            elif op == "insert":
                before, after = None, _image(row["values"], row["none_sources"], widths, where)
            else:
                before, after = _image(row["values"], row["none_sources"], widths, where), None
            yield Change(op, event.schema, event.table, key_columns, before, after,
                         types, Source(file, end, index, gtid, event.packet.server_id, event.timestamp))

    def _ddl(self, event, kind: str, query: str, file: str, end: int) -> None:
        db = event.schema.decode() if isinstance(event.schema, bytes) else event.schema
        target = ddl_table(query, db)
        if target not in self.tables:
            return
        table = ".".join(target)
        where = f"{file}:{end}"
        if kind.startswith("TRUNCATE"):
            msg = (f"TRUNCATE of {table} at {where}: its deleted rows are not in the binlog as "
                   "row changes, so DynamoDB would keep them. Take a new snapshot of the table (mysql2dynamo "
                   "snapshot) or run with --on-truncate warn to go on and reconcile later with verify.")
            if self.policy.on_truncate == "fail":
                raise CaptureError(msg)
            self.policy.warnings.append(msg)
            log.warning(msg)
        else:
            msg = f"schema change at {where} on {table}: {' '.join(query.split())[:200]}"
            self.policy.warnings.append(msg)
            log.warning("%s (later events carry the new columns)", msg)


def _image(row: dict, none_sources: dict[str, str], widths: dict[str, int], where: str) -> dict:
    """A row image as the table holds it.

    The reader turns several things into None besides NULL: an empty SET (restored as an empty
    set), a zero date (kept as None: the documented zero-date policy, the same as the snapshot's),
    a column missing from a partial image, and a partial JSON update (both refused: the image
    would not be the row).
    """
    for name, source in none_sources.items():
        if source == NONE_SOURCE.EMPTY_SET:
            row[name] = frozenset()
        elif source in (NONE_SOURCE.COLS_BITMAP, NONE_SOURCE.JSON_PARTIAL_UPDATE):
            raise CaptureError(f"{where}: column {name} is not in the row image ({source}); capture needs "
                               "binlog_row_image=FULL and binlog_row_value_options='' (no partial JSON)")
    for name, width in widths.items():
        value = row.get(name)
        if isinstance(value, bytes) and len(value) < width:
            row[name] = value.ljust(width, b"\0")
    return row
