"""`mysql2dynamo replay`: the Lambda's work without Lambda, polling Kinesis like the event source.

One poller per shard (Lambda's concurrency with parallelization factor 1): GetRecords, build the
exact Lambda Kinesis event, call the same `process` the handler calls, and on success store the
last sequence number of the shard. A reported batch item failure is retried from that record,
after a backoff, as Lambda does; nothing is skipped. Checkpoints live in a JSON file replaced
atomically, and/or in the DynamoDB progress table (`cdc.progress`, written by `process` exactly as
the Lambda handler writes it), so a killed runner resumes where its last acknowledged batch ended.

Catch-up progress: a counter beside the pollers reads each shard once from its checkpoint to the
records that arrived before the run started (the backlog); the bar shows the records applied of it,
the rate and ETA until every shard has caught up (`~`: records arriving meanwhile count as done too).
A record here is a change: an aggregated Kinesis record counts as the changes it holds.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mysql2dynamo.cdc.aggregate import count
from mysql2dynamo.cdc.progress import ProgressTable
from mysql2dynamo.ground.files import atomic_write
from mysql2dynamo.ground.progress import Bar
from mysql2dynamo.replay.apply import ApplyStats
from mysql2dynamo.replay.handler import process
from mysql2dynamo.replay.runtime import ReplayRuntime

ACCOUNT = "000000000000"


class ShardCheckpoints:
    """Last applied sequence number per shard, in one JSON file (atomic replace)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lock = threading.Lock()
        self.state: dict[str, str] = json.loads(self.path.read_text()) if self.path.exists() else {}

    def get(self, shard: str) -> str | None:
        return self.state.get(shard)

    def set(self, shard: str, sequence: str) -> None:
        with self.lock:
            self.state[shard] = sequence
            atomic_write(self.path, json.dumps(self.state))


@dataclass
class RunnerStats:
    batches: int = 0
    records: int = 0
    retried_batches: int = 0
    apply: ApplyStats = field(default_factory=ApplyStats)
    millis_behind: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def as_dict(self) -> dict:
        return {"batches": self.batches, "records": self.records, "retried_batches": self.retried_batches,
                "millis_behind_latest": dict(self.millis_behind), **self.apply.__dict__}


def lambda_event(records: list[dict], shard: str, stream_arn: str, region: str) -> dict:
    """The event AWS Lambda hands a Kinesis-triggered function."""
    return {"Records": [{
        "kinesis": {
            "kinesisSchemaVersion": "1.0", "partitionKey": r["PartitionKey"], "sequenceNumber": r["SequenceNumber"],
            "data": base64.b64encode(r["Data"]).decode(),
            "approximateArrivalTimestamp": r["ApproximateArrivalTimestamp"].timestamp(),
        },
        "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"{shard}:{r['SequenceNumber']}",
        "eventName": "aws:kinesis:record", "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/mysql2dynamo-replay",
        "awsRegion": region, "eventSourceARN": stream_arn,
    } for r in records]}


class ReplayRunner:
    def __init__(self, rt: ReplayRuntime, kinesis, stream: str, checkpoints: ShardCheckpoints | None, *,
                 batch_size: int = 500, batch_timeout: float = 60.0, poll_interval: float = 0.05,
                 say: Callable[[str], None] = lambda m: None, metrics_path: Path | None = None,
                 progress: ProgressTable | None = None) -> None:
        if checkpoints is None and progress is None:
            raise ValueError("the replay runner needs a checkpoint file or a progress table")
        self.rt, self.kinesis, self.stream = rt, kinesis, stream
        self.checkpoints, self.progress = checkpoints, progress
        self.batch_size, self.batch_timeout, self.poll_interval = batch_size, batch_timeout, poll_interval
        self.say = say
        self.stats = RunnerStats()
        self.stop = threading.Event()
        self.backlog: int | None = None  # records waiting when the run started (None: still counting)
        self.metrics_path = metrics_path
        summary = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
        self.arn = summary["StreamARN"]
        self.region = kinesis.meta.region_name

    def run(self, until_caught_up: bool = False, max_seconds: float | None = None) -> RunnerStats:
        shards = [s["ShardId"] for s in self.kinesis.list_shards(StreamName=self.stream)["Shards"]]
        caught_up = {s: False for s in shards}
        errors: list[BaseException] = []

        def poll(shard: str) -> None:
            try:
                self._poll(shard, caught_up, until_caught_up)
            except BaseException as e:  # surfaced by run()
                errors.append(e)
                self.stop.set()

        counter = threading.Thread(target=self._count_backlog, args=(shards, time.time()), name="replay-backlog",
                                   daemon=True)
        counter.start()
        threads = [threading.Thread(target=poll, args=(s,), name=f"replay-{s}", daemon=True) for s in shards]
        for t in threads:
            t.start()
        deadline = time.monotonic() + max_seconds if max_seconds else None
        next_report = 0.0
        bar: Bar | None = Bar(f"replay {self.stream} catch-up", None, "records", approx=True)
        while any(t.is_alive() for t in threads):
            if deadline and time.monotonic() >= deadline:
                self.stop.set()
            if bar is not None:
                bar.update(self.stats.records, self.backlog and max(self.backlog, self.stats.records))
                if all(caught_up.values()):
                    bar.close()
                    bar = None
            if time.monotonic() >= next_report:
                self._report()
                next_report = time.monotonic() + 5
            time.sleep(0.1)
        if bar is not None:
            bar.update(self.stats.records, self.backlog and max(self.backlog, self.stats.records))
            bar.close()
        self._report()
        if errors:
            raise errors[0]
        return self.stats

    def _report(self) -> None:
        with self.stats.lock:
            m = self.stats.as_dict()
        lag = max(m["millis_behind_latest"].values(), default=0)
        self.say(f"replay {self.stream}: {m['records']} records in {m['batches']} batches, {m['puts']} puts, "
                      f"{m['tombstones']} tombstones, {m['stale']} stale, {m['rejected']} dead letters, "
                      f"{m['coalesced']} coalesced, lag {lag} ms")
        if self.metrics_path:
            atomic_write(self.metrics_path, json.dumps({**m, "stream": self.stream, "updated_at": time.time()},
                                                       indent=2))

    def _count_backlog(self, shards: list[str], started: float) -> None:
        """The records waiting after each shard's checkpoint that arrived before `started` (a second read of
        them; on any error the backlog stays unknown and the bar shows records and rate only)."""
        total = 0
        try:
            for shard in shards:
                iterator = self._iterator(shard)
                while iterator and not self.stop.is_set():
                    resp = self.kinesis.get_records(ShardIterator=iterator, Limit=10000)
                    before = [r for r in resp["Records"] if r["ApproximateArrivalTimestamp"].timestamp() <= started]
                    total += sum(count(r["Data"]) for r in before)
                    if len(before) < len(resp["Records"]) or (not resp["Records"]
                                                              and not resp.get("MillisBehindLatest")):
                        break
                    iterator = resp.get("NextShardIterator")
        except Exception as e:  # progress only: the replay goes on without a total
            self.say(f"replay {self.stream}: backlog not counted ({e})")
            return
        self.backlog = total

    def _applied(self, shard: str) -> str | None:
        """The last applied sequence number of the shard (the checkpoint file first, else the progress table)."""
        if self.checkpoints is not None:
            return self.checkpoints.get(shard)
        held = self.progress.shard(shard)
        return held.sequence if held else None

    def _checkpoint(self, shard: str, sequence: str) -> None:
        if self.checkpoints is not None:  # the progress table is written by `process`
            self.checkpoints.set(shard, sequence)

    def _iterator(self, shard: str, at: str | None = None) -> str:
        applied = None if at else self._applied(shard)
        if at:
            kw = {"ShardIteratorType": "AT_SEQUENCE_NUMBER", "StartingSequenceNumber": at}
        elif applied:
            kw = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": applied}
        else:
            kw = {"ShardIteratorType": "TRIM_HORIZON"}
        return self.kinesis.get_shard_iterator(StreamName=self.stream, ShardId=shard, **kw)["ShardIterator"]

    def _poll(self, shard: str, caught_up: dict[str, bool], until_caught_up: bool) -> None:
        iterator = self._iterator(shard)
        attempt = 0
        while not self.stop.is_set():
            resp = self.kinesis.get_records(ShardIterator=iterator, Limit=self.batch_size)
            records = resp["Records"]
            with self.stats.lock:
                self.stats.millis_behind[shard] = resp.get("MillisBehindLatest", 0)
            if not records:
                caught_up[shard] = resp.get("MillisBehindLatest", 0) == 0
                if until_caught_up and all(caught_up.values()):
                    return
                iterator = resp["NextShardIterator"]
                time.sleep(self.poll_interval)
                continue
            caught_up[shard] = False
            event = lambda_event(records, shard, self.arn, self.region)
            response, outcome = process(event, self.rt, time.monotonic() + self.batch_timeout, progress=self.progress)
            failures = response["batchItemFailures"]
            with self.stats.lock:
                self.stats.batches += 1
                self.stats.apply.add(outcome.stats)
            if failures:
                failed_seq = failures[0]["itemIdentifier"]
                done = [r for r in records if r["SequenceNumber"] == failed_seq]
                position = records.index(done[0]) if done else 0
                if position:
                    self._checkpoint(shard, records[position - 1]["SequenceNumber"])
                with self.stats.lock:
                    self.stats.records += sum(count(r["Data"]) for r in records[:position])
                    self.stats.retried_batches += 1
                attempt += 1
                self.say(f"{shard}: batch failed from {failed_seq}, retrying (attempt {attempt})")
                time.sleep(min(30.0, 0.5 * 2 ** attempt))
                iterator = self._iterator(shard, at=failed_seq)
                continue
            attempt = 0
            self._checkpoint(shard, records[-1]["SequenceNumber"])
            with self.stats.lock:
                self.stats.records += sum(count(r["Data"]) for r in records)
            iterator = resp["NextShardIterator"]
