"""The apply engine: changes -> guarded DynamoDB writes, in any order, exactly once in effect.

Every item carries the version attribute (`_ver`): the `ver` of the change that wrote it (the
snapshot's for bulk-loaded items). A write only lands if the item is absent or older:

    PutItem ... ConditionExpression: attribute_not_exists(<partition key>) OR <_ver> < :ver

so a late, repeated or reordered change is skipped (counted as stale, not an error). Deletes
leave a tombstone (the key, `_ver`, `_deleted`, `_ttl`), so an older change cannot bring the row
back. `cleanup-tombstones` (and `cutover`) remove the tombstones at or below the tombstone floor
(`cdc.progress`): every change at or below it has been applied, so the engine drops any change at or
below its `floor` (a redelivery) instead of writing it where its tombstone was. An update that
changes the mapped key, or moves the row out of a rule's `where`, tombstones the old item and puts the
new one; a row whose new image is rejected tombstones its old item too (its key, even when the old
image itself no longer fits).

Each change is mapped with its own table version (replay.schema_versions): after an ALTER TABLE the
rules are compiled again for the new columns, or, when the mapping no longer holds, the change goes
to the dead letters with reason `schema_changed`.

Within a batch only the newest write of each target item can still matter: the others are
dropped before any request is made (coalescing), and different items are written in parallel.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from mysql2dynamo.cdc.envelope import Change
from mysql2dynamo.keymap.compile_python import PythonMapper, Result
from mysql2dynamo.replay.dead_letter import Poison
from mysql2dynamo.replay.schema_versions import SchemaStop, SchemaVersions
from mysql2dynamo.replay.writers import CONNECTION_ERROR, BotoPutter, Putter

log = logging.getLogger("mysql2dynamo.replay")
DELETED_ATTRIBUTE = "_deleted"
STALLED_S = 2.0  # a write retried this long is logged (and again every STALLED_S while writes stall)
TTL_ATTRIBUTE = "_ttl"
RETRYABLE = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
             "InternalServerError", "ServiceUnavailable", "TransactionConflictException"}


@dataclass(frozen=True)
class Write:
    """The one write that matters for a target item: a put of the item, or a tombstone."""

    table: str
    key: str  # DynamoDB JSON of the key attributes (identity of the item)
    ver: int
    item: str | None  # DynamoDB JSON of the item; None for a tombstone
    index: int  # position of the originating record in the batch

    @property
    def is_tombstone(self) -> bool:
        return self.item is None


@dataclass
class ApplyStats:
    changes: int = 0
    below_snapshot: int = 0
    below_floor: int = 0  # at or below the tombstone floor: applied before, and its tombstone may be gone
    unmapped: int = 0
    planned_writes: int = 0
    coalesced: int = 0  # writes made unnecessary by a newer write of the same item in the batch
    puts: int = 0
    tombstones: int = 0
    stale: int = 0  # the item already had this or a newer version
    retries: int = 0
    rejected: int = 0
    failed: int = 0

    def add(self, other: ApplyStats) -> None:
        for name, value in other.__dict__.items():
            setattr(self, name, getattr(self, name) + value)


@dataclass
class ApplyOutcome:
    stats: ApplyStats
    failed_indexes: list[int] = field(default_factory=list)  # records whose writes did not land
    poisons: list[tuple[int, Poison]] = field(default_factory=list)  # (record index, what and why)
    errors: list[str] = field(default_factory=list)  # why writes failed (first few)


class ApplyEngine:
    def __init__(self, mapper: PythonMapper, dynamodb, *, snapshot_ver: int | None = None,
                 tombstone_ttl_days: float = 7.0, workers: int = 16) -> None:
        """`dynamodb`: a `Putter` (replay.writers), or a boto3-like client with `put_item`."""
        self.mapper = mapper
        self.versions = SchemaVersions(mapper)
        self.putter: Putter = dynamodb if hasattr(dynamodb, "put") else BotoPutter(dynamodb)
        self.snapshot_ver = snapshot_ver
        self.version_attribute = mapper.checked.mapping.version_attribute
        self.ttl_seconds = int(tombstone_ttl_days * 86400)
        self.workers = workers
        self.floor = 0  # the tombstone floor (the replay reads it from the progress table before each batch)
        self._stalled_lock, self._stalled_said = threading.Lock(), float("-inf")

    # ------------------------------------------------------------------ planning

    def plan(self, changes: Iterable[tuple[int, Change]], stats: ApplyStats,
             poisons: list[tuple[int, Poison]]) -> list[Write]:
        """The newest write per target item for a batch of (record index, change)."""
        newest: dict[tuple[str, str], Write] = {}
        for index, change in changes:
            stats.changes += 1
            for write in self._writes(index, change, stats, poisons):
                stats.planned_writes += 1
                slot = (write.table, write.key)
                held = newest.get(slot)
                if held is None or (write.ver, not write.is_tombstone) > (held.ver, not held.is_tombstone):
                    newest[slot] = write
        stats.coalesced += stats.planned_writes - len(newest)
        return list(newest.values())

    def _writes(self, index: int, change: Change, stats: ApplyStats,
                poisons: list[tuple[int, Poison]]) -> list[Write]:
        if self.snapshot_ver is not None and change.ver <= self.snapshot_ver:
            stats.below_snapshot += 1  # the snapshot (bulk load) already holds this change
            return []
        if change.ver <= self.floor:
            stats.below_floor += 1
            return []
        source = f"{change.db}.{change.table}"
        if source not in self.mapper.sources:
            stats.unmapped += 1
            return []
        try:
            mapper = self.versions.mapper_for(change)
        except SchemaStop as e:
            stats.rejected += 1
            poisons.append((index, Poison(e.reason, str(e), None, change.partition_key, change.to_bytes())))
            return []
        rules = len(mapper.checked.rules_for(source))
        none: list[Result | None] = [None] * rules
        try:
            old: list[Result | None] = mapper.map_row(source, change.before, change.ver) if change.before else none
            new: list[Result | None] = mapper.map_row(source, change.after, change.ver) if change.after else none
        except Exception as e:  # not a value the rules refuse (those are Results): the mapping cannot run on it
            stats.rejected += 1
            poisons.append((index, Poison("mapping_error", f"{source} ver {change.ver} key {change.key}: "
                                          f"{type(e).__name__}: {e}", None, change.partition_key, change.to_bytes())))
            return []
        writes = []
        for o, n in zip(old, new, strict=True):
            if n is not None and n.status == "rejected":
                stats.rejected += 1
                poisons.append((index, Poison(n.reason or "rejected", f"{source} ver {change.ver}: {n.message}",
                                              None, change.partition_key, change.to_bytes())))
            if n is not None and n.status == "item":
                writes.append(Write(n.target, n.key, change.ver, n.item, index))
            old_key = None if o is None else o.key or o.rejected_key
            if old_key is not None and not (n is not None and n.status == "item" and n.key == old_key):
                writes.append(Write(o.target, old_key, change.ver, None, index))
        return writes

    # ------------------------------------------------------------------ writing

    def apply(self, changes: Iterable[tuple[int, Change]], deadline: float | None = None) -> ApplyOutcome:
        """Plan and write; `deadline` (time.monotonic) bounds the retries of throttled writes."""
        outcome = ApplyOutcome(ApplyStats())
        writes = self.plan(changes, outcome.stats, outcome.poisons)
        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(writes)))) as pool:
            results = list(pool.map(lambda w: self._write(w, deadline), writes))
        for write, (status, retries, error) in zip(writes, results, strict=True):
            outcome.stats.retries += retries
            if status == "put":
                outcome.stats.puts += 1
            elif status == "tombstone":
                outcome.stats.tombstones += 1
            elif status == "stale":
                outcome.stats.stale += 1
            elif status == "invalid":
                outcome.stats.rejected += 1
                poison = Poison("dynamodb_validation", f"{write.table} {write.key}: {error}", None, None,
                                (write.item or write.key).encode())
                outcome.poisons.append((write.index, poison))
            else:
                outcome.stats.failed += 1
                outcome.failed_indexes.append(write.index)
                if len(outcome.errors) < 5:
                    outcome.errors.append(f"{write.table} {write.key}: {error}")
        return outcome

    def _say_stalled(self, table: str, seconds: float, error: str | None) -> None:
        """A write retried for `STALLED_S` or more is logged (once per `STALLED_S` per engine): an unreachable
        or throttling DynamoDB shows in the log within seconds, with what the replay waits for."""
        now = time.monotonic()
        if seconds < STALLED_S:
            return
        with self._stalled_lock:
            if now - self._stalled_said < STALLED_S:
                return
            self._stalled_said = now
        log.warning("replay: a write to %s has been retried for %.1f s (%s); the shard waits for DynamoDB",
                    table, seconds, error)

    def _item_json(self, write: Write) -> str:
        if not write.is_tombstone:
            return write.item
        ttl = int(time.time()) + self.ttl_seconds
        return (write.key[:-1] + f',{json.dumps(self.version_attribute)}:{{"N":"{write.ver}"}},'
                f'"{DELETED_ATTRIBUTE}":{{"BOOL":true}},"{TTL_ATTRIBUTE}":{{"N":"{ttl}"}}}}')

    def _write(self, write: Write, deadline: float | None) -> tuple[str, int, str | None]:
        item = self._item_json(write)
        partition_key = next(iter(json.loads(write.key)))  # the first key attribute's name
        attempt, first_failure = 0, None
        while True:
            code, error = self.putter.put(write.table, item, partition_key, self.version_attribute, write.ver)
            if code is None:
                return ("tombstone" if write.is_tombstone else "put"), attempt, None
            if code == "ConditionalCheckFailedException":
                return "stale", attempt, None
            if code == "ValidationException":
                return "invalid", attempt, error
            if code not in RETRYABLE and code != CONNECTION_ERROR:
                return "failed", attempt, error
            attempt += 1
            first_failure = first_failure or time.monotonic()
            self._say_stalled(write.table, time.monotonic() - first_failure, error)
            delay = min(5.0, 0.05 * 2 ** attempt) * random.uniform(0.5, 1.0)
            if deadline is not None and time.monotonic() + delay >= deadline:
                return "failed", attempt, error
            time.sleep(delay)
