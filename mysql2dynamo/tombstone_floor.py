"""Removing delete tombstones while the pipeline runs: raise the tombstone floor, then remove below it.

Invariant: a tombstone is removed only when nothing can bring its row back:
- every change at or below its `ver` has been applied on every shard (so none still comes for the
  first time);
- every replay batch that could still write a change at or below the floor has read the floor, and
  so drops a change at or below it that comes again (capture republishing after a crash, a retried
  batch): `replay.apply.ApplyEngine.floor`;
- no load of a snapshot at or below the floor can write the row back: each target table carries the
  floor in its tag `m2d:tombstone-floor`, which `load` reads and refuses snapshots at or below; the
  floor is capped below the snapshot of a load still running into a target (its tag `m2d:loading`).

Steps (`raise_floor`):
1. the mark: capture's acknowledged position (every change at or below it is on the stream), or the
   cutover's fence position;
2. applied: on each shard, every record on the stream that holds a `ver` at or below the mark is
   applied (read once, from the shard's applied sequence number to its end, then the progress table
   is polled);
3. the floor: the mark, capped below any running load's snapshot;
4. each target is tagged with it, then it is saved in the progress table;
5. every shard has seen it: a batch that read it saved its progress, or nothing waits on the shard
   and `settle_s` passed (a batch already running then, such as a Lambda retry of a batch whose
   progress was saved, ends within the function's timeout: give that on AWS);
6. `replay.tombstones.cleanup_tombstones` removes the tombstones at or below it (guarded by `_ver`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from mysql2dynamo.cdc.envelope import changes_in
from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.cdc.progress import SEQUENCE_WIDTH, ProgressTable
from mysql2dynamo.ground.waiting import wait_until
from mysql2dynamo.jobs.targets import LOADING_TAG, TOMBSTONE_FLOOR_TAG, table_tags, tag_tables
from mysql2dynamo.replay.tombstones import CleanupStats, cleanup_tombstones
from mysql2dynamo.status import first_waiting, iterator_after

SETTLE_S = 5.0  # default wait for a shard with nothing waiting: on AWS, give the replay Lambda's timeout


class FloorError(RuntimeError):
    pass


@dataclass
class FloorResult:
    mark: int
    floor: int
    capped_by: dict[str, int]  # target -> snapshot ver of the load running into it
    cleaned: dict[str, CleanupStats]  # target -> tombstones removed, and those replaced meanwhile (kept)


def _order(sequence: str) -> str:
    return sequence.zfill(SEQUENCE_WIDTH)


def _ver(data: bytes) -> int:
    """The lowest `ver` the record holds (an aggregate holds several); 0 for one that does not decode (the
    replay dead-letters it: it is waited for)."""
    try:
        return min(c.ver for c in changes_in(data))
    except Exception:
        return 0


def _last_at_or_below(kinesis, stream: str, shard: str, applied: str | None, mark: int,
                      limit_s: float) -> str | None:
    """The sequence number of the last record after `applied` on the shard (now) holding a ver at or below `mark`."""
    it = iterator_after(kinesis, stream, shard, applied)
    last, ends = None, time.monotonic() + limit_s
    while it and time.monotonic() < ends:
        resp = kinesis.get_records(ShardIterator=it, Limit=10_000)
        for record in resp["Records"]:
            if _ver(record["Data"]) <= mark:
                last = record["SequenceNumber"]
        if not resp["Records"] and not resp.get("MillisBehindLatest"):
            return last
        it = resp.get("NextShardIterator")
    if it:
        raise FloorError(f"shard {shard} of {stream}: its backlog could not be read in {limit_s:.0f} s; "
                         "run cleanup-tombstones once the replay has caught up")
    return last


def _wait(what: str, done: Callable[[], bool], timeout_s: float, poll_s: float) -> None:
    if not wait_until(done, timeout_s, poll_s):
        raise FloorError(f"gave up after {timeout_s:.0f} s waiting for {what}; nothing was removed")


def raise_floor(progress: ProgressTable, kinesis, dynamodb, targets: list[str], mark: BinlogPosition,
                version_attribute: str = "_ver", segments: int = 4, settle_s: float = SETTLE_S,
                timeout_s: float = 600.0, poll_s: float = 0.2,
                say: Callable[[str], None] = lambda m: None) -> FloorResult:
    """Steps 2 to 6 of the module docstring for the targets of `progress`' stream, at `mark`."""
    stream = progress.stream
    ver = mark.ver()
    shards = [s["ShardId"] for s in kinesis.list_shards(StreamName=stream)["Shards"]]
    held = {s: progress.shard(s) for s in shards}
    applied = {s: p.sequence if p else None for s, p in held.items()}
    silent = sorted(s for s in shards if applied[s] is None and first_waiting(kinesis, stream, s, None)[0])
    if silent:
        raise FloorError(f"shard {', '.join(silent)} of {stream} holds records but no applied position in {progress}: "
                         "the replay must record its progress there (M2D_PROGRESS_TABLE), or it could not learn the "
                         "floor; nothing was removed")
    due = {s: _last_at_or_below(kinesis, stream, s, applied[s], ver, timeout_s) for s in shards}
    say(f"tombstones: waiting until every shard applied every change up to {mark}")

    def caught_up() -> bool:
        return all(d is None or _order(progress.shard(s).sequence) >= _order(d) for s, d in due.items())

    _wait(f"every shard to apply the changes up to {mark}", caught_up, timeout_s, poll_s)
    loading = {t: int(v) for t in targets if (v := table_tags(dynamodb, t).get(LOADING_TAG)) is not None}
    floor, held_floor = min([ver, *(v - 1 for v in loading.values())]), progress.floor()
    if floor <= held_floor:
        say(f"tombstones: the floor is already at {held_floor}; removing the tombstones at or below it")
        floor = held_floor
    tag_tables(dynamodb, targets, TOMBSTONE_FLOOR_TAG, str(floor))
    progress.save_floor(floor)
    saved = time.monotonic()
    say(f"tombstones: floor {floor} saved; waiting until every shard's replay has read it")

    def seen(shard: str) -> bool:
        p = progress.shard(shard)
        if p is not None and p.floor >= floor:
            return True
        return (time.monotonic() - saved >= settle_s
                and first_waiting(kinesis, stream, shard, p.sequence if p else None)[0] is None)

    _wait(f"every shard's replay to read the floor {floor}", lambda: all(seen(s) for s in shards), timeout_s, poll_s)
    return FloorResult(ver, floor, loading, {t: cleanup_tombstones(dynamodb, t, version_attribute, segments,
                                                                   low_water=floor) for t in targets})
