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
from dataclasses import dataclass, field, replace

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

from mysql2dynamo.cdc.charsets import UnsupportedCharset, max_bytes_per_char, python_codec
from mysql2dynamo.cdc.charsets import learn_from as learn_charsets_from
from mysql2dynamo.cdc.codec import column_tag, fixed_binary_width
from mysql2dynamo.cdc.envelope import Change, Source
from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.cdc.row_decoder import decoded_rows
from mysql2dynamo.cdc.server import ServerInfo
from mysql2dynamo.cdc.statements import Statement, classify
from mysql2dynamo.ground.mysql import MySQLTarget
from mysql2dynamo.keymap.schema import binlog_type, mariadb_json_columns
from mysql2dynamo.keymap.types import Column

log = logging.getLogger("mysql2dynamo.cdc")

# the library asks this hook which codec decodes a string column: answer as MySQL decodes (cdc/charsets.py)
RowsEvent.charset_to_encoding = staticmethod(python_codec)


class CaptureError(RuntimeError):
    """Capture cannot go on without losing changes; the message says what the operator can do."""


@dataclass(frozen=True)
class Rewrite:
    """An ALTER TABLE of a captured table that changed its existing rows without row events."""

    table: str  # db.table
    clauses: tuple[str, ...]  # ("ADD COLUMN c", ...): statements.rewriting_clauses
    server_id: int


@dataclass
class Transaction:
    """Changes of one transaction, or one part of a large one.

    `end` is the position after the commit, the resume point once the transaction is acknowledged.
    A transaction of more than `max_changes` rows comes in parts so memory stays bounded: every part
    but the last has `end=None`, so no checkpoint can land inside the transaction. `rewrite`: the
    transaction is an ALTER TABLE that rewrote a captured table's rows (capture re-reads them,
    cdc/backfill.py).
    """

    changes: list[Change]
    end: BinlogPosition | None
    ts: int
    binlog_bytes: int = 0
    rewrite: Rewrite | None = None


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
                 policy: CapturePolicy | None = None, max_changes: int = 10_000,
                 exclude: dict[str, frozenset[str]] | None = None) -> None:
        # heartbeat: the idle server wakes the reader every `heartbeat` s, so the stream collects
        # Kinesis acknowledgements (and checkpoints) that fast even when no change comes
        self.tables = {tuple(t.split(".", 1)) for t in tables}
        self.info = info
        self.connect = target.connect
        self.json_columns: dict[tuple[str, str], frozenset[str]] = {}  # MariaDB's, per table, read after each DDL
        self.policy = policy or CapturePolicy()
        self.position = start
        self.max_changes = max_changes
        # db.table -> columns left out of its changes (lower case: MySQL column names ignore case)
        self.exclude = {t: {c.lower() for c in cols} for t, cols in (exclude or {}).items()}
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
                self.position = replace(self.position, file=event.next_binlog, pos=event.position)
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
            rewrite: Rewrite | None = None
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
                    captured = self._ddl(statement, f"{file}:{end}")
                    if captured and statement.rewrites:
                        rewrite = Rewrite(captured[0], statement.rewrites, event.packet.server_id)
            # XidEvent, COMMIT, or a DDL statement (DDL commits implicitly): the transaction ends here
            self.position = BinlogPosition(file, end, gtid, self.position.epoch)
            yield Transaction(changes, self.position, event.timestamp, max(0, end - begin_pos), rewrite)
            changes = []

    def _changes(self, event, file: str, end: int, gtid: str | None) -> Iterator[Change]:
        columns = event.columns
        types = {c.name: column_tag(c) for c in columns}
        json = self._json_columns(event.schema, event.table, columns)
        described = tuple((c.name, "json" if c.name in json else binlog_type(_binlog_column(c))) for c in columns)
        widths = {c.name: fixed_binary_width(c) or 0 for c in columns if types[c.name] == "bytes"}
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
        excluded = self.exclude.get(f"{event.schema}.{event.table}", ())
        dropped = {c.name for c in columns if c.name.lower() in excluded}.difference(key_columns)
        types = {name: tag for name, tag in types.items() if name not in dropped}
        where = f"{event.schema}.{event.table} at {file}:{end}"
        for index, row in enumerate(decoded_rows(event)):  # the library's rows, compiled per table map
            if op == "update":
                before = _image(row["before_values"], row["before_none_sources"], widths, fixes, where)
                after = _image(row["after_values"], row["after_none_sources"], widths, fixes, where)
            elif op == "insert":
                before, after = None, _image(row["values"], row["none_sources"], widths, fixes, where)
            else:
                before, after = _image(row["values"], row["none_sources"], widths, fixes, where), None
            if dropped:
                before, after = _without(before, dropped), _without(after, dropped)
            source = Source(file, end, index, gtid, event.packet.server_id, event.timestamp, self.position.epoch)
            yield Change(op, event.schema, event.table, key_columns, before, after, types, source, described)

    def _json_columns(self, db: str, table: str, columns) -> frozenset[str]:
        """MariaDB's binlog types a JSON column as the LONGTEXT it is stored as: its json_valid check says
        JSON. Read from the server for a table's first event and again after each DDL on the table."""
        if not any(c.type == 252 and c.length_size == 4 and c.character_set_name != "binary" for c in columns):
            return frozenset()
        if (db, table) not in self.json_columns:
            conn = self.connect()
            try:
                with conn.cursor() as cur:
                    self.json_columns[(db, table)] = mariadb_json_columns(cur, db, table)
            finally:
                conn.close()
        return self.json_columns[(db, table)]

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

    def _ddl(self, statement: Statement, where: str) -> list[str]:
        """The captured tables a DDL statement names; refuses or warns as its kind requires."""
        captured = self._captured(statement)
        if not captured:
            return captured
        for name in captured:
            self.json_columns.pop(tuple(name.split(".", 1)), None)
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
        return captured


_INTEGERS = {1: "tinyint", 2: "smallint", 9: "mediumint", 3: "int", 8: "bigint"}
_TEMPORAL = {10: "date", 7: "timestamp", 17: "timestamp", 12: "datetime", 18: "datetime", 11: "time", 19: "time"}
_BLOB_SIZES = {1: "tiny", 2: "", 3: "medium", 4: "long"}


def _binlog_column(c) -> Column:
    """The keymap Column a python-mysql-replication column (the event's table map) describes: what the
    binlog knows of the table version the row was written with (no display widths, no MariaDB JSON)."""
    t, binary = c.type, c.character_set_name == "binary"
    kw: dict = {"unsigned": bool(c.unsigned) and t != 13}
    if t in _INTEGERS:
        dtp = _INTEGERS[t]
    elif t in (0, 246):
        dtp, kw["precision"], kw["scale"] = "decimal", c.precision, c.decimals
    elif t in _TEMPORAL:
        dtp, kw["fsp"] = _TEMPORAL[t], getattr(c, "fsp", 0)
    elif t in (15, 253, 254):  # VARCHAR, VAR_STRING, STRING: lengths in bytes
        dtp = ("var" if t != 254 else "") + ("binary" if binary else "char")
        kw["length"] = c.max_length if binary else c.max_length // max_bytes_per_char(c.collation_name)
    elif t == 252:
        dtp = _BLOB_SIZES[c.length_size] + ("blob" if binary else "text")
    elif t in (247, 248):
        dtp, kw["members"] = ("enum", tuple(c.enum_values[1:])) if t == 247 else ("set", tuple(c.set_values))
    else:
        dtp = {4: "float", 5: "double", 13: "year", 16: "bit", 245: "json", 255: "geometry"}[t]
        kw["length"] = c.bits if t == 16 else None
    return Column(c.name, dtp, **kw)


def _without(image: dict | None, names: set[str]) -> dict | None:
    return None if image is None else {k: v for k, v in image.items() if k not in names}


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


def _year_value(value: int) -> int:
    """YEAR 0000 is stored as 0 and arrives as 1900 (the library adds 1900 to every byte); no YEAR holds 1900
    (they run 1901-2155), so 1900 is always 0000, which the snapshot reads as 0."""
    return 0 if value == 1900 else value


def _geometry_value(value: bytes) -> bytes:
    """MySQL stores a geometry as its 4-byte SRID and then the WKB; the item holds the WKB (the snapshot
    selects SUBSTRING(col, 5)), so both paths give the same bytes."""
    return bytes(value[4:])


# column type code -> repair of the library's value (TIMESTAMP = 7, YEAR = 13, BIT = 16, TIMESTAMP2 = 17,
# TIME2 = 19, GEOMETRY = 255)
_VALUE_FIXES = {7: _timestamp_value, 13: _year_value, 16: _bit_value, 17: _timestamp_value, 19: _time2_value,
                255: _geometry_value}


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
    for name, width in widths.items():  # binary columns -> n of BINARY(n), else 0
        value = row.get(name)
        if value == "":  # the library gives '' (str) for no bytes: an empty VARBINARY, an all-zero BINARY(n)
            row[name] = value = b""
        if isinstance(value, bytes) and len(value) < width:
            row[name] = value.ljust(width, b"\0")
    for name, fix in fixes.items():
        if row.get(name) is not None:
            row[name] = fix(row[name])
    return row
