"""Putting change records on Kinesis fast, without ever reordering the changes of one row.

PutRecords takes up to 500 records per call and several calls run at once. Kinesis keeps the
order of records with the same partition key only if they are not in flight together: an entry
that fails inside a PutRecords batch does not stop the later entries of the same batch. So a
key is in at most one in-flight batch, at most once; a later change of a key waits until the
earlier one is acknowledged, and a failed entry is retried before anything after it on its key.
Different keys go in parallel.

The changes of one call that go to the same shard travel in aggregates (cdc/aggregate.py, the
KPL's format) of up to 50 KiB: Kinesis limits and charges per record, and changes are small. An
aggregate is stored or refused whole, so the rule above holds for it as for a record; it is sent
to its shard's starting hash key (ListShards), and a reply from another shard (a reshard) reloads
the shard map. A call with one change for a shard sends it as a plain record.

Envelopes are serialized with orjson here (capture is the one place that encodes them at volume, and
its JSON encoding was a quarter of capture's CPU with the standard library's); the replay Lambda reads
them with the standard library. Same JSON, except that a float may be spelled differently (0.00001,
not 1e-05): the same number.

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

import orjson

from mysql2dynamo.cdc.aggregate import MAX_AGGREGATE_BYTES, aggregate, overhead
from mysql2dynamo.cdc.binlog import Transaction
from mysql2dynamo.cdc.envelope import Change, partition_key
from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.ground.files import split_s3

log = logging.getLogger("mysql2dynamo.cdc")

MAX_RECORD_BYTES = 1024 * 1024  # data + partition key
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 5 * 1024 * 1024
PARALLEL_CALL_RECORDS = 200  # changes waiting that justify another call while one is in flight
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
    shard: int = field(default=0, compare=False)  # index in the publisher's ShardMap
    attempts: int = field(default=0, compare=False)
    not_before: float = field(default=0.0, compare=False)


@dataclass
class PublishStats:
    records: int = 0  # changes acknowledged
    kinesis_records: int = 0  # records they took on the stream (aggregates count once)
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


class ShardMap:
    """The stream's open shards by hash key range: where Kinesis puts a partition key (MD5, big-endian)."""

    def __init__(self, starts: list[int], ids: list[str]) -> None:
        self.starts, self.ids = starts, ids

    @classmethod
    def load(cls, client, stream: str) -> ShardMap | None:
        """None when ListShards is not allowed: each change then goes as a record of its own."""
        shards: list[tuple[int, str]] = []
        kwargs: dict = {"StreamName": stream}
        try:
            while True:
                resp = client.list_shards(**kwargs)
                shards += [(int(s["HashKeyRange"]["StartingHashKey"]), s["ShardId"]) for s in resp["Shards"]
                           if "EndingSequenceNumber" not in s["SequenceNumberRange"]]
                if not resp.get("NextToken"):
                    break
                kwargs = {"NextToken": resp["NextToken"]}
        except Exception as e:
            code = getattr(e, "response", {}).get("Error", {}).get("Code", type(e).__name__)
            log.warning("ListShards on stream %s failed (%s): changes go one record each, not aggregated; grant "
                        "kinesis:ListShards to put several in a record", stream, code)
            return None
        shards.sort()
        return cls([start for start, _ in shards], [shard_id for _, shard_id in shards])

    def shard(self, partition_key: str) -> int:
        return self.of_hash(int.from_bytes(hashlib.md5(partition_key.encode()).digest(), "big"))

    def of_hash(self, hashed: int) -> int:
        """The index of the shard whose range holds the 128-bit hash key `hashed`."""
        return max(0, bisect.bisect_right(self.starts, hashed) - 1)


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
        # each call's entries (one record, or an aggregate) and the shard each aggregate was sent to
        self._calls: dict[Future, list[tuple[list[Record], str | None]]] = {}
        self._pool = ThreadPoolExecutor(in_flight, thread_name_prefix="kinesis-put")
        self.shards = ShardMap.load(client, stream)
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
            doc = change.to_json()  # the key's values encoded once, for the record and its partition key
            key, data = partition_key(change.db, change.table, list(doc["key"].values())), orjson.dumps(doc)
            size = len(data) + len(key.encode())
            if size > MAX_RECORD_BYTES:
                data = self._claim(change, data, key)
                size = len(data) + len(key.encode())
            self._seq += 1
            shard = self.shards.shard(key) if self.shards else 0
            self._pending.append(Record(self._seq, self._tx, key, data, size, shard))
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
        return len(self._pending) + sum(len(rs) for entries in self._calls.values() for rs, _ in entries)

    # ------------------------------------------------------------------ sending

    def pump(self, block: bool = False, timeout: float = 1.0) -> None:
        """Collect finished calls, then start new ones while there is room."""
        if block and self._calls:
            wait(list(self._calls), timeout=timeout, return_when=FIRST_COMPLETED)
        for future in [f for f in self._calls if f.done()]:
            self._finish(future, self._calls.pop(future))
        # a second call only for a backlog: otherwise what comes meanwhile waits for the one in flight and
        # goes in one call with the rest (each call costs ~1 ms of CPU here, whatever it carries)
        while len(self._calls) < self.in_flight and (not self._calls or len(self._pending) >= PARALLEL_CALL_RECORDS):
            batch = self._next_batch()
            if not batch:
                break
            self._busy.update(r.partition_key for entry in batch for r in entry)
            sent = [self._entry(entry) for entry in batch]
            self._calls[self._pool.submit(self._put, [e for e, _ in sent])] = [
                (entry, shard_id) for entry, (_, shard_id) in zip(batch, sent, strict=True)]
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

    def _next_batch(self) -> list[list[Record]]:
        """The next call's entries, in order: a key at most once, and not while it is in flight or backing off."""
        now = self.clock()
        entries: list[list[Record]] = []
        open_: dict[int, tuple[list[Record], int]] = {}  # shard -> its aggregate being filled, its size
        taken: set[str] = set()
        blocked: set[str] = set()
        size = 0
        rest: list[Record] = []
        for i, record in enumerate(self._pending):
            key = record.partition_key
            cost = record.size + overhead(key)
            if len(entries) >= MAX_BATCH_RECORDS or size + cost > MAX_BATCH_BYTES:
                rest.extend(self._pending[i:])
                break
            if key in self._busy or key in taken or key in blocked or record.not_before > now:
                blocked.add(key)  # everything after it on this key waits too
                rest.append(record)
                continue
            aggregating = self.shards is not None and cost <= MAX_AGGREGATE_BYTES
            entry, filled = open_.get(record.shard, (None, 0)) if aggregating else (None, 0)
            if entry is None or filled + cost > MAX_AGGREGATE_BYTES:
                entry, filled = [], 0
                entries.append(entry)
            entry.append(record)
            if aggregating:
                open_[record.shard] = (entry, filled + cost)
            taken.add(key)
            size += cost
        self._pending = rest
        return entries

    def _entry(self, records: list[Record]) -> tuple[dict, str | None]:
        """The PutRecords entry of `records`, and the shard an aggregate must land on."""
        if len(records) == 1:
            return {"Data": records[0].data, "PartitionKey": records[0].partition_key}, None
        assert self.shards is not None
        shard = records[0].shard
        return {"Data": aggregate([(r.partition_key, r.data) for r in records]),
                "PartitionKey": records[0].partition_key,
                "ExplicitHashKey": str(self.shards.starts[shard])}, self.shards.ids[shard]

    def _put(self, entries: list[dict]):
        try:
            return self.client.put_records(StreamName=self.stream, Records=entries)
        except Exception as e:  # throttling of the whole call, a dropped connection...
            return e

    def _finish(self, future: Future, batch: list[tuple[list[Record], str | None]]) -> None:
        self._busy.difference_update(r.partition_key for entry, _ in batch for r in entry)
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
            failed = [r for entry, _ in batch for r in entry]
            moved = False
        else:
            failed, moved = [], False
            for (entry, shard_id), answer in zip(batch, result["Records"], strict=True):
                if answer.get("ErrorCode"):
                    failed.extend(entry)
                    continue
                self.stats.kinesis_records += 1
                for record in entry:
                    self.stats.records += 1
                    self.stats.bytes += record.size
                    self._outstanding[record.tx] -= 1
                moved = moved or (shard_id is not None and answer.get("ShardId") != shard_id)
            self.stats.retried_entries += len(failed)
        for record in failed:
            record.attempts += 1
            record.not_before = self.clock() + min(2.0, 0.05 * 2**record.attempts) * random.uniform(0.5, 1.0)
            bisect.insort(self._pending, record)
        if moved:  # the stream was resharded: later aggregates follow the new map
            log.warning("stream %s was resharded: reloading its shard map", self.stream)
            self.shards = ShardMap.load(self.client, self.stream)
            for record in self._pending:
                record.shard = self.shards.shard(record.partition_key) if self.shards else 0
        self._advance()

    def _advance(self) -> None:
        while self._order and self._outstanding[self._order[0][0]] == 0:
            tx, end = self._order.popleft()
            del self._outstanding[tx]
            self.acknowledged = end or self.acknowledged  # a part of a large transaction is no resume point
