"""`mysql2dynamo stream`: the capture loop, binlog -> Kinesis, checkpointed, restartable.

Loop: read a committed transaction, hand its changes to the publisher, let the publisher send
what it can, and every `checkpoint_every` seconds store the acknowledged position. Stops cleanly
on SIGTERM/SIGINT, at `until` or after `max_seconds` (heartbeats wake the blocked reader so it
sees the flag), sending what is queued and storing the final checkpoint first. A MySQL restart
is retried with backoff from the last transaction boundary read; a resume point the server no
longer has (purged binlog) is a fatal error that says to take a new snapshot.
"""

from __future__ import annotations

import json
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

from mysql2dynamo.cdc.binlog import BinlogSource, CaptureError, CapturePolicy, Transaction
from mysql2dynamo.cdc.checkpoint import Checkpoint, CheckpointStore
from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.cdc.progress import ProgressTable
from mysql2dynamo.cdc.publisher import ClaimCheck, KinesisPublisher, PublishError
from mysql2dynamo.cdc.server import binlog_files, check_binlog_settings, current_position, server_info
from mysql2dynamo.ground.files import atomic_write
from mysql2dynamo.ground.mysql import MySQLTarget, redact
from mysql2dynamo.keymap.schema import read_table_schema

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


@dataclass
class StreamMetrics:
    started: float = field(default_factory=time.time)
    transactions: int = 0
    events: int = 0
    records: int = 0
    bytes: int = 0
    binlog_bytes: int = 0
    reconnects: int = 0
    position: str | None = None
    checkpoint: str | None = None
    lag_seconds: float | None = None
    lag_binlog_bytes: int | None = None
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
               install_signals: bool = True) -> StreamMetrics:
    target = MySQLTarget.parse(settings.mysql_url)
    ctl = target.connect()
    info = server_info(ctl)
    metrics = StreamMetrics()
    metrics.warnings.extend(check_binlog_settings(ctl, info))
    metrics.warnings.extend(cascading_foreign_keys(ctl, settings.tables))
    for w in metrics.warnings:
        say(f"WARNING: {w}")

    saved = settings.checkpoint.load()
    if saved:
        start = saved.position
    elif settings.start or settings.from_now:
        start = settings.start or current_position(ctl, info)
    else:
        ctl.close()
        raise CaptureError(f"no checkpoint in {settings.checkpoint} and no start position: capture will not start "
                           "from an unknown place. On the first run, before the snapshot, pass --from-now (or "
                           "--from-position FILE:POS). If a checkpoint existed and is lost (another M2D_HOME, a "
                           "restarted container, a typo in --checkpoint), the changes since it are unknown: point "
                           "--checkpoint at it, or take a new snapshot after starting capture with --from-now.")
    require_available(ctl, start)
    if not saved:  # stored at once: a restart before the first change resumes here, not "from now" again
        settings.checkpoint.save(Checkpoint(start, settings.stream, time.time()))
    ctl.close()
    if settings.create_stream:
        ensure_stream(kinesis, settings.stream, settings.shards, settings.retention_hours)
    say(f"capturing {', '.join(settings.tables)} from {redact(settings.mysql_url)} at {start} "
             f"({'checkpoint ' + str(settings.checkpoint) if saved else 'no checkpoint yet'}) -> {settings.stream}")

    loop = _CaptureLoop(settings, target, info, metrics, start, kinesis, s3, say)
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


class _CaptureLoop:
    """The state of one `run_stream`: reader position, publisher, checkpoint, stop reason."""

    def __init__(self, settings: StreamSettings, target: MySQLTarget, info, metrics: StreamMetrics,
                 start: BinlogPosition, kinesis, s3, say: Callable[[str], None]) -> None:
        self.settings, self.target, self.info, self.metrics, self.say = settings, target, info, metrics, say
        claim = ClaimCheck(s3, settings.claim_check) if settings.claim_check else None
        self.publisher = KinesisPublisher(kinesis, settings.stream, in_flight=settings.in_flight, claim_check=claim)
        self.policy = CapturePolicy(on_truncate=settings.on_truncate)
        self.read_to = self.checkpointed = self.start = start
        self.progress = ProgressTable.from_env(settings.stream)  # where status and cutover look, when configured
        if self.progress is not None:
            self.progress.ensure_table()
            self.progress.save_capture(start, start)
        self.reason: str | None = None
        self.deadline = time.monotonic() + settings.max_seconds if settings.max_seconds else None
        self.next_checkpoint = self.next_progress = time.monotonic()
        self.ctl = target.connect()

    def stop(self, signum, _frame) -> None:
        self.reason = signal.Signals(signum).name

    def run(self) -> None:
        backoff = 1.0
        while self.reason is None:
            source = BinlogSource(self.target, self.settings.tables, self.read_to, self.info,
                                  reader_id=self.settings.reader_id, blocking=not self.settings.stop_at_end,
                                  policy=self.policy)
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
                publisher.add(item)
                self.read_to = item.end or self.read_to
            elif not publisher.backlog:
                metrics.lag_seconds = 0.0  # a heartbeat with nothing queued: caught up
            publisher.pump(block=publisher.backlog > MAX_BACKLOG)
            now = time.monotonic()
            if now >= self.next_checkpoint:
                self.save_checkpoint()
                self.next_checkpoint = now + s.checkpoint_every
            if now >= self.next_progress:
                _report(metrics, publisher, self.read_to, self.ctl, self.info, s, self.say)
                self.next_progress = now + s.progress_every
            if self.deadline and now >= self.deadline:
                self.reason = "max-seconds"
            if s.until and self.read_to >= s.until:
                self.reason = f"reached {s.until}"
            if self.reason:
                return
        self.reason = self.reason or "end of binlog"

    def save_checkpoint(self) -> None:
        acked = self.publisher.acknowledged
        if acked and acked > self.checkpointed:
            self.settings.checkpoint.save(Checkpoint(acked, self.settings.stream, time.time()))
            if self.progress is not None:
                self.progress.save_capture(acked, self.start)
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
        finally:
            self.publisher.close()
            self.metrics.warnings = sorted(set(self.metrics.warnings + self.policy.warnings))
            _report(self.metrics, self.publisher, self.read_to, self.ctl, self.info, self.settings, self.say)
            self.ctl.close()


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


def cascading_foreign_keys(conn, tables: list[str]) -> list[str]:
    """Warnings for captured tables that a cascade can change without row events in the binlog."""
    warnings = []
    for table in tables:
        try:
            schema = read_table_schema(conn, *table.split(".", 1))
        except LookupError:
            continue  # not created yet: its DDL will come through the stream
        warnings += [f"{table}: foreign key {fk.name} -> {fk.parent} is ON DELETE {fk.on_delete} ON UPDATE "
                     f"{fk.on_update}; the changes the cascade makes are not in the binlog, so DynamoDB would miss "
                     "them. Make the application change children explicitly, or verify and re-snapshot this table "
                     "after cutover." for fk in schema.foreign_keys if fk.cascades]
    return warnings


def _report(metrics: StreamMetrics, publisher: KinesisPublisher, position: BinlogPosition, ctl, info,
            settings: StreamSettings, say: Callable[[str], None]) -> None:
    metrics.records = publisher.stats.records
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
