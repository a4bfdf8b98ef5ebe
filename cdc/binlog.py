"""Reading the binlog as transactions of row changes (python-mysql-replication underneath).

The reader yields one `Transaction` per committed transaction that ends in the binlog (also the
ones with no captured change, so the position keeps moving), and a `Heartbeat` when the server
has nothing to send, so the caller can check its stop flags: a blocked reader cannot be closed
from another thread. Column names, types, primary keys and SET members come from each event's
own table map (binlog_row_metadata=FULL), so an ALTER TABLE in the stream is followed event by
event.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.constants import NONE_SOURCE
from pymysqlreplication.event import (
    GtidEvent,
    HeartbeatLogEvent,
    MariadbGtidEvent,
    NotImplementedEvent,
    QueryEvent,
    RotateEvent,
    XAPrepareEvent,
    XidEvent,
)
from pymysqlreplication.row_event import (
    DeleteRowsEvent,
    PartialUpdateRowsEvent,
    RowsEvent,
    UpdateRowsEvent,
    WriteRowsEvent,
)

from mysql2dynamo.cdc.charsets import UnsupportedCharset, python_codec
from mysql2dynamo.cdc.charsets import learn_from as learn_charsets_from
from mysql2dynamo.cdc.codec import column_tag, fixed_binary_width
from mysql2dynamo.cdc.envelope import Change, Source
from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.cdc.server import ServerInfo
from mysql2dynamo.cdc.statements import Statement, classify
from mysql2dynamo.ground.mysql import MySQLTarget

log = logging.getLogger("mysql2dynamo.cdc")

# the library asks this hook which codec decodes a string column: answer as MySQL decodes (cdc/charsets.py)
RowsEvent.charset_to_encoding = staticmethod(python_codec)


class CaptureError(RuntimeError):
    """Capture cannot go on without losing changes; the message says what the operator can do."""


@dataclass
class Transaction:
    """Changes of one transaction, or one part of a large one.

    `end` is the position after the commit, the resume point once the transaction is acknowledged.
    A transaction of more than `max_changes` rows comes in parts so memory stays bounded: every part
    but the last has `end=None`, so no checkpoint can land inside the transaction.
    """

    changes: list[Change]
    end: BinlogPosition | None
    ts: int
    binlog_bytes: int = 0


@dataclass(frozen=True)
class Heartbeat:
    position: BinlogPosition


@dataclass
class CapturePolicy:
    on_truncate: str = "fail"  # fail | warn: TRUNCATE deletes rows without row events
    warnings: list[str] = field(default_factory=list)


class BinlogSource:
    """Transactions of the captured tables from `start` on."""

    def __init__(self, target: MySQLTarget, tables: list[str], start: BinlogPosition, info: ServerInfo,
                 *, reader_id: int = 54321, blocking: bool = True, heartbeat: float = 0.1,
                 policy: CapturePolicy | None = None, max_changes: int = 10_000) -> None:
        # heartbeat: the idle server wakes the reader every `heartbeat` s, so the stream collects
        # Kinesis acknowledgements (and checkpoints) that fast even when no change comes
        self.tables = {tuple(t.split(".", 1)) for t in tables}
        self.info = info
        self.policy = policy or CapturePolicy()
        self.position = start
        self.max_changes = max_changes
        learn_charsets_from(target.connect)  # non-Unicode character sets decode as this server converts them
        self.reader = BinLogStreamReader(
            # read_timeout: heartbeats come every `heartbeat` s, so a silent socket is a dead one (half-open
            # after a network cut): pymysql raises, the library reconnects from its position
            connection_settings={**target.connection_settings(), "charset": "utf8mb4", "connect_timeout": 10,
                                 "read_timeout": max(30, int(heartbeat * 100)) if blocking else 60},
            server_id=reader_id, log_file=start.file, log_pos=start.pos, resume_stream=True,
            blocking=blocking, slave_heartbeat=heartbeat if blocking else None,
            # every class by name (the library matches exact classes): PartialUpdateRowsEvent must reach the
            # refusal, and NotImplementedEvent shows the events the library cannot read (compressed ones)
            only_events=[WriteRowsEvent, UpdateRowsEvent, PartialUpdateRowsEvent, DeleteRowsEvent, XidEvent,
                         QueryEvent, RotateEvent, GtidEvent, MariadbGtidEvent, HeartbeatLogEvent, XAPrepareEvent,
                         NotImplementedEvent],
            filter_non_implemented_events=False,
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
            if isinstance(event, NotImplementedEvent):
                self._unreadable(event.packet.event_type, f"{file}:{end}")
                continue
            if isinstance(event, PartialUpdateRowsEvent) and (event.schema, event.table) in self.tables:
                raise CaptureError(f"{event.schema}.{event.table} at {file}:{end}: a partial JSON update "
                                   "(binlog_row_value_options=PARTIAL_JSON, settable per session) carries only the "
                                   "changed part of a JSON value; set binlog_row_value_options='' for every session")
            if isinstance(event, WriteRowsEvent | UpdateRowsEvent | DeleteRowsEvent):
                if (event.schema, event.table) in self.tables:
                    changes.extend(self._changes(event, file, end, gtid))
                    if len(changes) >= self.max_changes:  # a part of a large transaction: no resume point
                        yield Transaction(changes, None, event.timestamp)
                        changes = []
                continue
            if isinstance(event, XAPrepareEvent):  # MySQL: the rows come before XA PREPARE, the outcome later
                self._refuse_xa(changes, f"XA PREPARE at {file}:{end}")
            if isinstance(event, QueryEvent):
                db = event.schema.decode() if isinstance(event.schema, bytes) else event.schema
                statement = classify(event.query, db)
                if statement.kind in ("begin", "inside"):
                    continue
                if statement.kind == "xa":
                    self._refuse_xa(changes, f"{statement.text[:60]} at {file}:{end}")
                elif statement.kind == "dml":
                    self._refuse_statement_dml(statement, db, f"{file}:{end}")
                    continue  # a statement on other tables, inside its transaction
                elif statement.kind != "commit":
                    self._ddl(statement, f"{file}:{end}")
            # XidEvent, COMMIT, or a DDL statement (DDL commits implicitly): the transaction ends here
            self.position = BinlogPosition(file, end, gtid)
            yield Transaction(changes, self.position, event.timestamp, max(0, end - begin_pos))
            changes = []

    def _changes(self, event, file: str, end: int, gtid: str | None) -> Iterator[Change]:
        columns = event.columns
        types = {c.name: column_tag(c) for c in columns}
        widths = {c.name: w for c in columns if (w := fixed_binary_width(c))}
        fixes = {c.name: _VALUE_FIXES[c.type] for c in columns if c.type in _VALUE_FIXES}
        for c in columns:  # before the rows are decoded: an unknown character set names its column
            if c.character_set_name and c.character_set_name != "binary":
                try:
                    python_codec(c.character_set_name)
                except UnsupportedCharset as e:
                    raise CaptureError(f"{event.schema}.{event.table}.{c.name}: {e}") from None
        keys = event.primary_key
        key_columns = (keys,) if isinstance(keys, str) else tuple(keys or ())
        if not key_columns and all(c.name is None for c in columns):
            raise CaptureError(f"{event.schema}.{event.table}: the binlog carries no column names or primary key: "
                               "the server logs binlog_row_metadata=MINIMAL (MySQL 8's default; MySQL 5.7 cannot "
                               "log them). Set binlog_row_metadata=FULL (MySQL 8.0.14+, MariaDB 10.5+)")
        if not key_columns:
            raise CaptureError(f"{event.schema}.{event.table} has no primary key: changes cannot be keyed "
                               "(add a primary key or leave the table out of the mapping)")
        op = {WriteRowsEvent: "insert", UpdateRowsEvent: "update", DeleteRowsEvent: "delete"}[type(event)]
        where = f"{event.schema}.{event.table} at {file}:{end}"
        for index, row in enumerate(event.rows):
            if op == "update":
                before = _image(row["before_values"], row["before_none_sources"], widths, fixes, where)
                after = _image(row["after_values"], row["after_none_sources"], widths, fixes, where)
            elif op == "insert":
                before, after = None, _image(row["values"], row["none_sources"], widths, fixes, where)
            else:
                before, after = _image(row["values"], row["none_sources"], widths, fixes, where), None
            yield Change(op, event.schema, event.table, key_columns, before, after,
                         types, Source(file, end, index, gtid, event.packet.server_id, event.timestamp))

    def _unreadable(self, event_type: int, where: str) -> None:
        setting = _COMPRESSED_EVENTS.get(event_type)
        if setting:
            raise CaptureError(f"compressed binlog event (type {event_type}) at {where}: python-mysql-replication "
                               f"cannot read it, so its rows would be lost. Set {setting} on the source and take a "
                               "new snapshot of the tables changed since it was switched on")
        log.debug("binlog event type %d at %s is not read (no row data)", event_type, where)

    def _captured(self, statement: Statement) -> list[str]:
        named = [t for t in statement.tables if t in self.tables]
        named += [t for t in sorted(self.tables) if t[0] in statement.databases]
        return [".".join(t) for t in dict.fromkeys(named)]

    def _refuse_xa(self, changes: list[Change], where: str) -> None:
        if changes:
            tables = sorted({f"{c.db}.{c.table}" for c in changes})
            raise CaptureError(f"XA transaction changing {', '.join(tables)} ({where}): its outcome (XA COMMIT or "
                               "XA ROLLBACK) comes later in the binlog, so capture cannot publish its rows exactly. "
                               "Change these tables without XA during the migration.")

    def _refuse_statement_dml(self, statement: Statement, db: str, where: str) -> None:
        captured = self._captured(statement)
        if captured or db in {d for d, _ in self.tables}:
            what = ", ".join(captured) or f"database {db}"
            raise CaptureError(f"statement-based DML on {what} at {where} ({statement.text[:80]!r}): its rows "
                               "are not in the binlog. A session ran with binlog_format=STATEMENT or MIXED; set "
                               "binlog_format=ROW for every session (SET GLOBAL binlog_format=ROW, and reconnect "
                               "the application), then take a new snapshot of these tables.")

    def _ddl(self, statement: Statement, where: str) -> None:
        captured = self._captured(statement)
        if not captured:
            return
        tables = ", ".join(captured)
        if statement.kind == "truncate":
            msg = (f"TRUNCATE of {tables} at {where}: its deleted rows are not in the binlog as "
                   "row changes, so DynamoDB would keep them. Take a new snapshot of the table (mysql2dynamo "
                   "snapshot) or run with --on-truncate warn to go on and reconcile later with verify.")
            if self.policy.on_truncate == "fail":
                raise CaptureError(msg)
            self.policy.warnings.append(msg)
            log.warning(msg)
        elif statement.kind == "gone":
            raise CaptureError(f"{statement.text[:80]!r} at {where} drops or renames {tables}: their rows leave "
                               "without row events and later changes would not be captured under the old name. "
                               "Stop the migration of these tables, or take a new snapshot and map the new names.")
        else:
            msg = f"schema change at {where} on {tables}: {statement.text[:200]}"
            self.policy.warnings.append(msg)
            log.warning("%s (later events carry the new columns)", msg)


def _bit_value(value: str) -> int:
    """python-mysql-replication gives BIT(n) as its bits in text ('10100101'); the table holds 165."""
    return int(value, 2)


def _time2_value(value: dt.timedelta) -> dt.timedelta:
    """python-mysql-replication reads a negative TIME(fsp) with a fraction wrongly: it applies the sign to
    the whole seconds and the stored (two's complement) fraction separately, so -00:00:01.25 arrives as
    -00:00:01.75 (MySQL's my_time_packed_from_binary borrows a second instead). Undo that."""
    if value >= dt.timedelta(0) or not value.microseconds:
        return value
    magnitude = -value
    whole = dt.timedelta(days=magnitude.days, seconds=magnitude.seconds)
    return -(whole + dt.timedelta(seconds=1) - (magnitude - whole))


# binlog event types that carry rows the library cannot decode -> the setting that avoids them
_COMPRESSED_EVENTS = {
    **dict.fromkeys(range(165, 172), "log_bin_compress=OFF (MariaDB)"),  # QUERY/WRITE/UPDATE/DELETE_*_COMPRESSED
    40: "binlog_transaction_compression=OFF (MySQL 8.0.20+)",  # TRANSACTION_PAYLOAD_EVENT
}

_EPOCH = dt.datetime(1970, 1, 1)


def _timestamp_value(value: dt.datetime) -> dt.datetime | None:
    """A zero TIMESTAMP ('0000-00-00 00:00:00', stored as 0) arrives as 1970-01-01 00:00:00, which no
    TIMESTAMP can hold (they start one second later): it is a zero date, None like the others."""
    return None if value == _EPOCH else value


# column type code -> repair of the library's value (TIMESTAMP = 7, BIT = 16, TIMESTAMP2 = 17, TIME2 = 19)
_VALUE_FIXES = {7: _timestamp_value, 16: _bit_value, 17: _timestamp_value, 19: _time2_value}


def _image(row: dict, none_sources: dict[str, str], widths: dict[str, int], fixes: dict, where: str) -> dict:
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
    for name, fix in fixes.items():
        if row.get(name) is not None:
            row[name] = fix(row[name])
    return row
