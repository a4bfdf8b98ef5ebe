"""`mysql2dynamo stream`: the capture loop, binlog -> Kinesis, checkpointed, restartable.

At start it refuses, naming the table, to capture a table that does not exist or has no primary key,
and to resume a checkpoint on another server or binlog numbering (the way out is a new epoch,
cdc.position). Columns the mapping excludes everywhere are left out of every change.

Loop: read a committed transaction, hand its changes to the publisher, let the publisher send
what it can, and every `checkpoint_every` seconds store the acknowledged position (its copy in the
progress table, when one is configured, is written by a thread of its own: cdc/progress_saver.py). An ALTER TABLE
that rewrote a captured table's rows is preceded by a backfill of them (cdc/backfill.py), queued in
parts with no resume point, so its position is acknowledged only once all of them are on the
stream. Stops cleanly on SIGTERM/SIGINT, at `until` or after `max_seconds` (heartbeats wake the
blocked reader so it sees the flag), sending what is queued and storing the final checkpoint first. A MySQL restart
is retried with backoff from the last transaction boundary read; a resume point the server no
longer has (purged binlog) is a fatal error that says to take a new snapshot.
"""

from __future__ import annotations

import json
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pymysql

from mysql2dynamo.cdc.backfill import CHUNK_ROWS, backfill
from mysql2dynamo.cdc.binlog import BinlogSource, CaptureError, CapturePolicy, Transaction
from mysql2dynamo.cdc.cascade import Cascades
from mysql2dynamo.cdc.checkpoint import Checkpoint, CheckpointStore
from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.cdc.progress import ProgressTable
from mysql2dynamo.cdc.progress_saver import ProgressSaver
from mysql2dynamo.cdc.publisher import ClaimCheck, KinesisPublisher, PublishError
from mysql2dynamo.cdc.server import (
    binlog_files,
    binlog_holds_gtid,
    check_binlog_settings,
    current_position,
    server_identity,
    server_info,
)
from mysql2dynamo.ground.files import atomic_write
from mysql2dynamo.ground.metrics import emit
from mysql2dynamo.ground.mysql import MySQLTarget, redact
from mysql2dynamo.keymap.schema import TableSchema, read_table_schema
from mysql2dynamo.keymap.spec import Mapping

log = logging.getLogger("mysql2dynamo.cdc")
DEFAULT_RETENTION_HOURS = 7 * 24
MAX_BACKLOG = 20_000  # records queued before the reader waits for Kinesis


class PurgedBinlogError(CaptureError):
    pass


@dataclass
class StreamSettings:
    mysql_url: str
    tables: list[str]
    stream: str
    checkpoint: CheckpointStore
    create_stream: bool = False
    shards: int = 2  # when the stream is created
    retention_hours: int = DEFAULT_RETENTION_HOURS
    # where capture starts when the checkpoint store has none: here, or the server's current end when
    # from_now; neither is an error (a lost checkpoint must not silently skip what happened meanwhile)
    start: BinlogPosition | None = None
    from_now: bool = False
    # the way out after a refusal to resume on a new binlog numbering: start at `start` in the checkpoint's
    # epoch + 1, so every later change is newer than every change captured before
    new_epoch: bool = False
    # columns left out of every change of a table (the mapping excludes them everywhere): db.table -> names
    exclude: dict[str, frozenset[str]] = field(default_factory=dict)
    until: BinlogPosition | None = None
    max_seconds: float | None = None
    stop_at_end: bool = False  # non-blocking: stop when the reader reaches the end of the binlog
    checkpoint_every: float = 1.0
    in_flight: int = 4
    reader_id: int = 54321
    claim_check: str | None = None
    on_truncate: str = "fail"
    metrics_path: Path | None = None
    progress_every: float = 5.0
    backfill_chunk: int = CHUNK_ROWS  # rows per SELECT when a table is re-read after an ALTER TABLE


@dataclass
class StreamMetrics:
    started: float = field(default_factory=time.time)
    transactions: int = 0
    events: int = 0
    records: int = 0  # changes on the stream
    kinesis_records: int = 0  # the Kinesis records they took (cdc/aggregate.py)
    bytes: int = 0
    binlog_bytes: int = 0
    backfilled: int = 0  # rows re-read after an ALTER TABLE rewrote them (cdc/backfill.py)
    reconnects: int = 0
    position: str | None = None
    checkpoint: str | None = None
    lag_seconds: float | None = None
    lag_binlog_bytes: int | None = None
    progress_table_error: str | None = None  # while the progress table's writes fail (cdc.progress_saver)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        elapsed = max(time.time() - self.started, 1e-9)
        return {**self.__dict__, "seconds": round(elapsed, 3), "events_per_s": round(self.events / elapsed, 1),
                "records_per_s": round(self.records / elapsed, 1), "bytes_per_s": round(self.bytes / elapsed, 1)}


def ensure_stream(kinesis, name: str, shards: int, retention_hours: int) -> None:
    """Create the stream when missing and make its retention outlast snapshot + load + catch-up."""
    try:
        desc = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    except kinesis.exceptions.ResourceNotFoundException:
        kinesis.create_stream(StreamName=name, ShardCount=shards)
        kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
        desc = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    if desc["RetentionPeriodHours"] < retention_hours:
        kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=retention_hours)


def run_stream(settings: StreamSettings, kinesis, s3=None, say: Callable[[str], None] = log.info,
               install_signals: bool = True, progress: ProgressTable | None = None) -> StreamMetrics:
    """`progress`: the progress table capture records its position in (default: the one M2D_PROGRESS_TABLE
    names, if any)."""
    target = MySQLTarget.parse(settings.mysql_url)
    ctl = target.connect()
    info = server_info(ctl)
    metrics = StreamMetrics()
    try:
        metrics.warnings.extend(check_binlog_settings(ctl, info))
        identity = server_identity(ctl, info)
        start, resumed = _start(settings, ctl, info, identity)
        require_available(ctl, start)
        captured_schemas(ctl, settings.tables)  # refuses missing and keyless tables, naming them
        cascades = Cascades.load(ctl, settings.tables)  # the child rows cascading foreign keys change (cdc/cascade.py)
        metrics.warnings.extend(cascades.warnings)
        for w in metrics.warnings:
            say(f"WARNING: {w}")
        if not resumed:  # stored at once: a restart before the first change resumes here, not "from now" again
            settings.checkpoint.save(Checkpoint(start, settings.stream, time.time(), identity))
    finally:
        ctl.close()
    if settings.create_stream:
        ensure_stream(kinesis, settings.stream, settings.shards, settings.retention_hours)
    say(f"capturing {', '.join(settings.tables)} from {redact(settings.mysql_url)} at {start} "
             f"({'checkpoint ' + str(settings.checkpoint) if resumed else 'no checkpoint yet'}) -> {settings.stream}")

    progress = progress or ProgressTable.from_env(settings.stream)  # where status and cutover look, if configured
    loop = _CaptureLoop(settings, target, info, identity, metrics, start, kinesis, s3, say, cascades, progress)
    previous = {}
    if install_signals:
        previous = {s: signal.signal(s, loop.stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        loop.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        loop.finish()
    return metrics


def _start(settings: StreamSettings, ctl, info, identity: dict) -> tuple[BinlogPosition, bool]:
    """Where capture starts, and whether that is the stored checkpoint (a resume)."""
    saved = settings.checkpoint.load()
    if settings.new_epoch:
        if not (saved and settings.start):
            raise CaptureError("--new-epoch starts a new binlog numbering after capture refused to resume: it needs "
                               f"the checkpoint ({settings.checkpoint}) and --from-position FILE:POS on this server")
        return replace(settings.start, epoch=saved.position.epoch + 1), False
    if saved:
        check_resume(ctl, info, identity, saved, str(settings.checkpoint))
        return saved.position, True
    if settings.start or settings.from_now:
        return settings.start or current_position(ctl, info), False
    raise CaptureError(f"no checkpoint in {settings.checkpoint} and no start position: capture will not start "
                       "from an unknown place. On the first run, before the snapshot, pass --from-now (or "
                       "--from-position FILE:POS). If a checkpoint existed and is lost (another M2D_HOME, a "
                       "restarted container, a typo in --checkpoint), the changes since it are unknown: point "
                       "--checkpoint at it, or take a new snapshot after starting capture with --from-now.")


class _CaptureLoop:
    """The state of one `run_stream`: reader position, publisher, checkpoint, stop reason."""

    def __init__(self, settings: StreamSettings, target: MySQLTarget, info, identity: dict, metrics: StreamMetrics,
                 start: BinlogPosition, kinesis, s3, say: Callable[[str], None], cascades: Cascades,
                 progress: ProgressTable | None) -> None:
        self.settings, self.target, self.info, self.metrics, self.say = settings, target, info, metrics, say
        self.identity = identity
        claim = ClaimCheck(s3, settings.claim_check) if settings.claim_check else None
        self.publisher = KinesisPublisher(kinesis, settings.stream, in_flight=settings.in_flight, claim_check=claim)
        self.policy = CapturePolicy(on_truncate=settings.on_truncate)
        self.read_to = self.checkpointed = start
        self.saver = None  # writes the progress table off this loop: a slow table never slows capture
        if progress is not None:
            progress.ensure_table()
            progress.save_capture(start, start)  # where capture started, before the first change
            self.saver = ProgressSaver(progress, start, say)
        self.reason: str | None = None
        self.deadline = time.monotonic() + settings.max_seconds if settings.max_seconds else None
        self.next_checkpoint = self.next_progress = time.monotonic()
        self.ctl = target.connect()
        self.cascades, self.ddl_seen = cascades, 0

    def stop(self, signum, _frame) -> None:
        self.reason = signal.Signals(signum).name

    def run(self) -> None:
        backoff = 1.0
        while self.reason is None:
            source = BinlogSource(self.target, self.settings.tables, self.read_to, self.info,
                                  reader_id=self.settings.reader_id, blocking=not self.settings.stop_at_end,
                                  policy=self.policy, exclude=self.settings.exclude)
            try:
                self._consume(source)
                backoff = 1.0
            except pymysql.err.OperationalError as e:
                if _is_purged(e):
                    raise PurgedBinlogError(_purged_message(self.read_to)) from e
                self.metrics.reconnects += 1
                self.say(f"MySQL connection lost ({e.args[-1]}); reconnecting in {backoff:.0f}s "
                              f"from {self.read_to}")
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                self.ctl = _reconnect(self.target, self.ctl)
            except (CaptureError, PublishError) as e:
                self.reason = f"error: {e}"
                raise
            finally:
                source.close()

    def _consume(self, source: BinlogSource) -> None:
        s, publisher, metrics = self.settings, self.publisher, self.metrics
        for item in source:
            if isinstance(item, Transaction):
                metrics.transactions += item.end is not None
                metrics.events += len(item.changes)
                metrics.binlog_bytes += item.binlog_bytes
                if item.changes:
                    metrics.lag_seconds = max(0.0, time.time() - item.ts)
                if item.rewrite is not None and not self._backfill(item):
                    return  # stopped in the middle: the ALTER is read again, and its backfill made again, on restart
                publisher.add(self.cascades.expand(item))
                if len(self.policy.warnings) != self.ddl_seen:  # DDL on a captured table: foreign keys may differ
                    self.ddl_seen = len(self.policy.warnings)
                    self.cascades = Cascades.load(self.ctl, s.tables)
                self.read_to = item.end or self.read_to
            elif not publisher.backlog:
                metrics.lag_seconds = 0.0  # a heartbeat with nothing queued: caught up
            publisher.pump(block=publisher.backlog > MAX_BACKLOG)
            now = self._tick()
            if self.deadline and now >= self.deadline:
                self.reason = "max-seconds"
            if s.until and self.read_to >= s.until:
                self.reason = f"reached {s.until}"
            if self.reason:
                return
        self.reason = self.reason or "end of binlog"

    def _tick(self) -> float:
        """Checkpoint and report when they are due; the time now."""
        now = time.monotonic()
        if now >= self.next_checkpoint:
            self.save_checkpoint()
            self.next_checkpoint = now + self.settings.checkpoint_every
        if self.saver is not None:
            self.saver.check()
            self.metrics.progress_table_error = self.saver.error
        if now >= self.next_progress:
            _report(self.metrics, self.publisher, self.read_to, self.ctl, self.info, self.settings, self.say)
            self.next_progress = now + self.settings.progress_every
        return now

    def _backfill(self, alter: Transaction) -> bool:
        """Queue the rows of the table the ALTER TABLE rewrote, before the ALTER itself; False when stopped
        in the middle (a signal)."""
        rewrite, publisher = alter.rewrite, self.publisher
        excluded = {c.lower() for c in self.settings.exclude.get(rewrite.table, ())}
        conn = self.target.connect()
        rows, started = 0, time.monotonic()
        try:
            self.say(f"backfill of {rewrite.table} ({', '.join(rewrite.clauses)}) after ALTER TABLE at {alter.end}: "
                     f"re-reading its {_estimated_rows(conn, rewrite.table)} rows in key order")
            next_report = started + self.settings.progress_every
            for changes in backfill(conn, alter, excluded, self.settings.backfill_chunk):
                publisher.add(Transaction(changes, None, alter.ts))  # no resume point until the ALTER's own
                rows += len(changes)
                self.metrics.backfilled += len(changes)
                publisher.pump()
                while publisher.backlog > MAX_BACKLOG:
                    publisher.pump(block=True)
                if self._tick() >= next_report:
                    self.say(f"backfill of {rewrite.table}: {rows} rows queued "
                             f"({rows / (time.monotonic() - started):.0f}/s), backlog {publisher.backlog}")
                    next_report = time.monotonic() + self.settings.progress_every
                if self.reason is not None:
                    self.say(f"backfill of {rewrite.table} stopped after {rows} rows ({self.reason}): it starts "
                             f"again from its first row on restart (the checkpoint stays before the ALTER)")
                    return False
        except LookupError as e:  # gone since: capture stops at its DROP or RENAME when it gets there
            warning = f"{rewrite.table} not backfilled after ALTER TABLE at {alter.end}: {e}"
            self.metrics.warnings.append(warning)
            self.say(f"WARNING: {warning}")
            return True
        finally:
            conn.close()
        self.say(f"backfill of {rewrite.table}: {rows} rows queued in {time.monotonic() - started:.1f}s")
        return True

    def save_checkpoint(self) -> None:
        acked = self.publisher.acknowledged
        if acked and acked > self.checkpointed:
            self.settings.checkpoint.save(Checkpoint(acked, self.settings.stream, time.time(), self.identity))
            if self.saver is not None:
                self.saver.offer(acked)
            self.checkpointed = acked
            self.metrics.checkpoint = str(acked)

    def finish(self) -> None:
        """Send what is queued and store the last acknowledged position, whatever stopped us."""
        try:
            self.say(f"stopping ({self.reason}): sending {self.publisher.backlog} queued records")
            try:
                drained = self.publisher.drain(timeout=60)
            except PublishError:
                drained = False
            if not drained:
                self.say(f"WARNING: {self.publisher.backlog} records not acknowledged; "
                              "they are sent again on restart")
            self.save_checkpoint()
            self._flush_progress()
        finally:
            self.publisher.close()
            self.metrics.warnings = sorted(set(self.metrics.warnings + self.policy.warnings))
            _report(self.metrics, self.publisher, self.read_to, self.ctl, self.info, self.settings, self.say)
            self.ctl.close()

    def _flush_progress(self) -> None:
        """The progress table gets the final checkpoint, or capture's last words say it did not."""
        if self.saver is None:
            return
        if not self.saver.close():
            self.metrics.progress_table_error = self.saver.error or "the last write did not finish in time"
            warning = (f"progress table {self.saver.progress} holds {self.saver.saved}, not the final checkpoint "
                       f"{self.checkpointed}: {self.metrics.progress_table_error}")
            self.metrics.warnings.append(warning)
            self.say(f"WARNING: {warning}")
        else:
            self.metrics.progress_table_error = None


def _estimated_rows(conn, table: str) -> str:
    """`about N` (the server's estimate), or `all` when it has none."""
    with conn.cursor() as cur:
        cur.execute("SELECT TABLE_ROWS FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                    tuple(table.split(".", 1)))
        found = cur.fetchone()
    return f"about {found[0]}" if found and found[0] is not None else "all"


def _reconnect(target: MySQLTarget, ctl):
    try:
        ctl.close()
    except Exception:
        pass
    try:
        return target.connect()
    except pymysql.err.OperationalError:
        return ctl  # still down: the next round of the loop waits again


def _is_purged(e: pymysql.err.OperationalError) -> bool:
    # 1236: the dump thread cannot find the requested log file or position
    return bool(e.args) and e.args[0] == 1236


def _purged_message(position: BinlogPosition) -> str:
    return (f"the binlog at {position} is no longer on the server (purged by expire_logs_days / "
            "binlog_expire_logs_seconds or PURGE BINARY LOGS): the changes after it cannot be captured. "
            "Take a new snapshot (mysql2dynamo snapshot), delete the checkpoint, and start capture again "
            "before the snapshot; raise binlog retention so it outlasts a stream outage.")


def require_available(conn, position: BinlogPosition) -> None:
    """A resume point must be inside a binlog file the server still has."""
    files = dict(binlog_files(conn))
    if position.file not in files or position.pos > files[position.file]:
        raise PurgedBinlogError(_purged_message(position))


def check_resume(conn, info, identity: dict, saved: Checkpoint, where: str) -> None:
    """Resume only on the server and the binlog numbering the checkpoint was taken on: elsewhere its
    file:pos names other changes, and every `ver` after a new numbering would look older."""
    problems = []
    if saved.server and saved.server != identity:
        problems.append(f"it was taken on {_server(saved.server)}, this is {_server(identity)}")
    if binlog_holds_gtid(conn, info, saved.position) is False:
        problems.append(f"this server's binlog does not hold its transaction {saved.position.gtid}")
    newest = BinlogPosition(binlog_files(conn)[-1][0], 0)
    if newest.file.rpartition(".")[0] != saved.position.file.rpartition(".")[0] or \
            newest.file_index < saved.position.file_index:
        problems.append(f"this server's binlog ends in {newest.file}, not at or after the checkpoint's "
                        f"{saved.position.file}")
    if problems:
        raise CaptureError(
            f"capture will not resume at {saved.position} (checkpoint {where}): {'; '.join(problems)}. The binlog was "
            "reset (RESET MASTER) or restored, or this is another server (a failover): the checkpoint's position means "
            "nothing here. If every change up to the reset was captured (the stream's metrics show no lag before it), "
            "start a new epoch where this server's binlog begins (SHOW BINARY LOGS): mysql2dynamo stream "
            "--from-position FILE:POS --new-epoch; later changes then sort after every earlier one. Otherwise changes "
            "are missing: take a new snapshot and load it.")


def _server(identity: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in identity.items() if k != "flavour")


def captured_schemas(conn, tables: list[str]) -> dict[str, TableSchema]:
    """The schema of every captured table; CaptureError naming the tables that do not exist or have no primary
    key (their changes could not be keyed, so they would fail at the first change)."""
    schemas, missing = {}, []
    for table in tables:
        db, dot, name = table.partition(".")
        try:
            if not dot:
                raise LookupError(table)
            schemas[table] = read_table_schema(conn, db, name)
        except LookupError:
            missing.append(table)
    keyless = [t for t, schema in schemas.items() if not schema.primary_key]
    problems = ([f"{', '.join(missing)}: no such table (db.table, as the source names it)"] if missing else []) + \
        ([f"{', '.join(keyless)}: no primary key, so changes cannot be keyed (add one, or leave the table out of "
          "the mapping)"] if keyless else [])
    if problems:
        raise CaptureError("capture will not start: " + "; ".join(problems))
    return schemas


def excluded_columns(mapping: Mapping) -> dict[str, frozenset[str]]:
    """The columns every rule of a source excludes: capture leaves them out (they never reach the stream)."""
    out = {}
    for source in mapping.sources:
        common = frozenset.intersection(*(frozenset(r.exclude) for r in mapping.rules_for(source)))
        if common:
            out[source] = common
    return out


def _report(metrics: StreamMetrics, publisher: KinesisPublisher, position: BinlogPosition, ctl, info,
            settings: StreamSettings, say: Callable[[str], None]) -> None:
    metrics.records = publisher.stats.records
    metrics.kinesis_records = publisher.stats.kinesis_records
    metrics.bytes = publisher.stats.bytes
    metrics.position = str(position)
    if ctl is not None:
        try:
            metrics.lag_binlog_bytes = binlog_bytes_behind(ctl, info, position)
        except pymysql.err.Error:
            pass
    m = metrics.as_dict()
    say(f"stream {settings.stream}: {m['events']} changes, {m['records']} records "
             f"({m['records_per_s']}/s, {m['bytes_per_s'] / 1e6:.2f} MB/s), backlog {publisher.backlog}, "
             f"lag {m['lag_seconds'] if m['lag_seconds'] is not None else '-'}s / "
             f"{m['lag_binlog_bytes'] if m['lag_binlog_bytes'] is not None else '-'} binlog bytes, "
             f"checkpoint {m['checkpoint'] or '-'}")
    emit(settings.stream, {"CaptureLagMs": round((m["lag_seconds"] or 0) * 1000),
                           "CaptureRowsPerSecond": m["events_per_s"]}, totals={"CaptureRecords": m["records"]})
    if settings.metrics_path:
        atomic_write(settings.metrics_path, json.dumps({**m, "stream": settings.stream, "tables": settings.tables,
                                                        "publisher": publisher.stats.__dict__}, indent=2))


def binlog_bytes_behind(conn, info, position: BinlogPosition) -> int:
    head = current_position(conn, info)
    if head.file == position.file:
        return max(0, head.pos - position.pos)
    behind = 0
    for name, size in binlog_files(conn):
        if name == position.file:
            behind += size - position.pos
        elif position.file < name < head.file:
            behind += size
    return behind + head.pos
