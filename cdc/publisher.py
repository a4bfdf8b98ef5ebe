"""Putting change records on Kinesis fast, without ever reordering the changes of one row.

PutRecords takes up to 500 records per call and several calls run at once. Kinesis keeps the
order of records with the same partition key only if they are not in flight together: an entry
that fails inside a PutRecords batch does not stop the later entries of the same batch. So a
key is in at most one in-flight batch, at most once; a later change of a key waits until the
earlier one is acknowledged, and a failed entry is retried before anything after it on its key.
Different keys go in parallel.

A record over Kinesis' 1 MiB limit is stored whole in S3 and a small pointer goes on the
stream instead (claim check). Transactions are acknowledged in binlog order: the publisher's
`acknowledged` position is the end of the last transaction whose records are all on the stream,
which is what the checkpoint may store.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from mysql2dynamo.cdc.binlog import Transaction
from mysql2dynamo.cdc.envelope import Change
from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.ground.files import split_s3

log = logging.getLogger("mysql2dynamo.cdc")

MAX_RECORD_BYTES = 1024 * 1024  # data + partition key
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 5 * 1024 * 1024
# answers that no retry changes: the stream, the credentials or the key must be fixed first
PERMANENT_ERRORS = frozenset({
    "AccessDeniedException", "ResourceNotFoundException", "ValidationException", "InvalidArgumentException",
    "UnrecognizedClientException", "InvalidSignatureException", "KMSAccessDeniedException",
    "KMSDisabledException", "KMSNotFoundException", "KMSInvalidStateException", "KMSOptInRequired",
})


class PublishError(RuntimeError):
    """Kinesis refuses the records for good (no stream, no permission, a disabled key); nothing was lost:
    the checkpoint stays before the unacknowledged transactions."""


@dataclass(order=True)
class Record:
    seq: int
    tx: int = field(compare=False)
    partition_key: str = field(compare=False)
    data: bytes = field(compare=False)
    size: int = field(compare=False)  # data + partition key, as Kinesis counts it
    attempts: int = field(default=0, compare=False)
    not_before: float = field(default=0.0, compare=False)


@dataclass
class PublishStats:
    records: int = 0
    bytes: int = 0
    calls: int = 0
    retried_entries: int = 0
    failed_calls: int = 0
    claim_checks: int = 0


class ClaimCheck:
    """Stores oversize change envelopes in S3 (`s3://bucket/prefix`)."""

    def __init__(self, s3_client, url: str) -> None:
        self.s3 = s3_client
        self.bucket, self.prefix = split_s3(url)

    def store(self, change: Change, data: bytes, partition_key: str) -> str:
        # changes capture derives (cascades, backfills) share their cause's `ver`: the row's key tells them apart
        row = hashlib.md5(partition_key.encode()).hexdigest()[:16]
        key = f"{self.prefix.rstrip('/')}/{change.db}.{change.table}/{change.ver}-{row}.json".lstrip("/")
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/json")
        return f"s3://{self.bucket}/{key}"


class KinesisPublisher:
    def __init__(self, client, stream: str, *, in_flight: int = 4, claim_check: ClaimCheck | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.stream = stream
        self.in_flight = in_flight
        self.claim_check = claim_check
        self.clock = clock
        self.stats = PublishStats()
        self._pending: list[Record] = []  # sorted by seq
        self._busy: set[str] = set()
        self._calls: dict[Future, list[Record]] = {}
        self._pool = ThreadPoolExecutor(in_flight, thread_name_prefix="kinesis-put")
        self._seq = 0
        self._tx = 0
        self._outstanding: dict[int, int] = {}
        self._order: deque[tuple[int, BinlogPosition]] = deque()
        self.acknowledged: BinlogPosition | None = None

    # ------------------------------------------------------------------ intake

    def add(self, tx: Transaction) -> None:
        """Queue a transaction's changes; a transaction without changes is acknowledged in turn."""
        self._tx += 1
        self._order.append((self._tx, tx.end))
        self._outstanding[self._tx] = len(tx.changes)
        for change in tx.changes:
            key, data = change.record()
            size = len(data) + len(key.encode())
            if size > MAX_RECORD_BYTES:
                data = self._claim(change, data, key)
                size = len(data) + len(key.encode())
            self._seq += 1
            self._pending.append(Record(self._seq, self._tx, key, data, size))
        self._advance()

    def _claim(self, change: Change, data: bytes, partition_key: str) -> bytes:
        if self.claim_check is None:
            raise ValueError(f"{change.db}.{change.table} change at {change.source.file}:{change.source.pos} is "
                             f"{len(data)} bytes, over Kinesis' 1 MiB record limit: configure a claim-check "
                             "bucket (--claim-check s3://bucket/prefix) to carry it")
        url = self.claim_check.store(change, data, partition_key)
        self.stats.claim_checks += 1
        return change.pointer(url).to_bytes()

    @property
    def backlog(self) -> int:
        return len(self._pending) + sum(len(rs) for rs in self._calls.values())

    # ------------------------------------------------------------------ sending

    def pump(self, block: bool = False, timeout: float = 1.0) -> None:
        """Collect finished calls, then start new ones while there is room."""
        if block and self._calls:
            wait(list(self._calls), timeout=timeout, return_when=FIRST_COMPLETED)
        for future in [f for f in self._calls if f.done()]:
            self._finish(future, self._calls.pop(future))
        while len(self._calls) < self.in_flight:
            batch = self._next_batch()
            if not batch:
                break
            self._busy.update(r.partition_key for r in batch)
            self._calls[self._pool.submit(self._put, batch)] = batch
        if block and not self._calls and self._pending:
            # everything left waits for its backoff
            delay = min(r.not_before for r in self._pending) - self.clock()
            time.sleep(max(0.0, min(delay, timeout)))

    def drain(self, timeout: float) -> bool:
        """Send everything queued; False if records are still unacknowledged after `timeout`."""
        deadline = self.clock() + timeout
        while self.backlog and self.clock() < deadline:
            self.pump(block=True, timeout=min(1.0, max(0.01, deadline - self.clock())))
        return self.backlog == 0

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _next_batch(self) -> list[Record]:
        now = self.clock()
        batch: list[Record] = []
        taken: set[str] = set()
        blocked: set[str] = set()
        size = 0
        rest: list[Record] = []
        for i, record in enumerate(self._pending):
            key = record.partition_key
            full = len(batch) >= MAX_BATCH_RECORDS or size + record.size > MAX_BATCH_BYTES
            if full:
                rest.extend(self._pending[i:])
                break
            if key in self._busy or key in taken or key in blocked or record.not_before > now:
                blocked.add(key)  # everything after it on this key waits too
                rest.append(record)
                continue
            batch.append(record)
            taken.add(key)
            size += record.size
        self._pending = rest
        return batch

    def _put(self, batch: list[Record]):
        try:
            return self.client.put_records(
                StreamName=self.stream,
                Records=[{"Data": r.data, "PartitionKey": r.partition_key} for r in batch],
            )
        except Exception as e:  # throttling of the whole call, a dropped connection...
            return e

    def _finish(self, future: Future, batch: list[Record]) -> None:
        self._busy.difference_update(r.partition_key for r in batch)
        self.stats.calls += 1
        result = future.result()
        if isinstance(result, Exception):
            code = getattr(result, "response", {}).get("Error", {}).get("Code", "")
            if code in PERMANENT_ERRORS:
                raise PublishError(f"Kinesis refuses PutRecords to stream {self.stream}: {code}: {result}. "
                                   "Create the stream (mysql2dynamo stream --create), or grant kinesis:PutRecords "
                                   "on it, then restart: capture resumes at its checkpoint") from result
            self.stats.failed_calls += 1
            log.warning("PutRecords of %d records failed, retrying: %s", len(batch), result)
            failed = batch
        else:
            failed = []
            for record, entry in zip(batch, result["Records"], strict=True):
                if entry.get("ErrorCode"):
                    failed.append(record)
                else:
                    self.stats.records += 1
                    self.stats.bytes += record.size
                    self._outstanding[record.tx] -= 1
        for record in failed:
            record.attempts += 1
            record.not_before = self.clock() + min(2.0, 0.05 * 2**record.attempts) * random.uniform(0.5, 1.0)
            bisect.insort(self._pending, record)
        self.stats.retried_entries += len(failed) if not isinstance(result, Exception) else 0
        self._advance()

    def _advance(self) -> None:
        while self._order and self._outstanding[self._order[0][0]] == 0:
            tx, end = self._order.popleft()
            del self._outstanding[tx]
            self.acknowledged = end or self.acknowledged  # a part of a large transaction is no resume point
