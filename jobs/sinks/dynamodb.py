"""The `dynamodb` sink: a Spark Python data source writer (boto3 BatchWriteItem), no JVM code.

    items.select("_item", "_size").write.format("m2d_dynamodb").option("table", T).mode("append").save()

Each task writes its partition in batches of 25 with a few threads (BatchWriteItem is I/O bound),
paced by a per-task token bucket (`rate_items` or `rate_wcu`, the job budget / tasks, see
jobs.rate). Every throttling answer is retried with exponential backoff and full jitter:
ProvisionedThroughputExceededException, ThrottlingException, RequestLimitExceeded, internal and
unavailable errors, dropped connections, and the UnprocessedItems of a partly done batch. A task
never drops an item: it retries until `retry_seconds` pass without any progress and then fails
(Spark retries the task; puts are idempotent), and any other error fails the task at once, naming
the table and the item's key.

A re-load into a table that already holds items (the replay may have applied newer changes) is
guarded: each item is a conditional PutItem that only lands when the table has no item with that
key or an older `_ver` (BatchWriteItem cannot be conditional), so a re-load never rolls an item
back; an item skipped that way is counted as `stale`.

`BatchWriter` is the same code without Spark (tests drive it with a throttling client).
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, ClassVar

from mysql2dynamo.jobs.rate import TokenBucket, item_wcu

from .base import Guard, SinkResult, WriteJob

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

FORMAT = "m2d_dynamodb"
BATCH = 25
RETRYABLE = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable", "InternalFailure", "TransactionInProgressException",
    "LimitExceededException",
})


class WriteError(RuntimeError):
    pass


@dataclass
class WriteStats:
    items: int = 0
    wcu_estimated: int = 0
    wcu_consumed: float = 0.0  # as reported by DynamoDB (ReturnConsumedCapacity=TOTAL), when it reports
    batches: int = 0
    requests: int = 0
    retries: int = 0
    throttled: dict[str, int] = field(default_factory=dict)
    unprocessed: int = 0
    waited_s: float = 0.0
    stale: int = 0  # guarded writes skipped: the table holds this item with a newer (or the same) version

    def add(self, other: WriteStats) -> None:
        for k in ("items", "wcu_estimated", "wcu_consumed", "batches", "requests", "retries", "unprocessed",
                  "waited_s", "stale"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        for k, v in other.throttled.items():
            self.throttled[k] = self.throttled.get(k, 0) + v

    def as_dict(self) -> dict:
        d = asdict(self)
        d["wcu_consumed"] = round(d["wcu_consumed"], 3)
        d["waited_s"] = round(d["waited_s"], 3)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> WriteStats:
        return cls(**d)


def classify(e: Exception) -> tuple[str, bool]:
    """(error code, retryable) of an exception raised by a boto3 call."""
    from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

    if isinstance(e, ClientError):
        code = e.response.get("Error", {}).get("Code") or "ClientError"
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return code, code in RETRYABLE or status >= 500
    if isinstance(e, (ConnectionClosedError, EndpointConnectionError, ReadTimeoutError, ConnectionError)):
        return type(e).__name__, True
    return type(e).__name__, False


class BatchWriter:
    """Writes DynamoDB-JSON items to one table, 25 per BatchWriteItem, never dropping one."""

    def __init__(self, client, table: str, *, limiter: TokenBucket | None = None, unit: str = "items",
                 threads: int = 4, base_delay: float = 0.05, max_delay: float = 5.0, retry_seconds: float = 600.0,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None,
                 consumed_capacity: bool = True, guard: Guard | None = None):
        self.client, self.table = client, table
        self.guard = guard
        self.limiter, self.unit = limiter, unit
        self.threads = max(1, threads)
        self.base_delay, self.max_delay, self.retry_seconds = base_delay, max_delay, retry_seconds
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.consumed_capacity = consumed_capacity
        self._lock = threading.Lock()

    def _backoff(self, attempt: int) -> float:
        # full jitter: uniform(0, min(cap, base * 2^attempt))
        with self._lock:
            return self.rng.uniform(0, min(self.max_delay, self.base_delay * (2 ** min(attempt, 20))))

    def _pace(self, requests: list[dict], wcus: list[int], stats: WriteStats) -> None:
        if self.limiter is not None:
            stats.waited_s += self.limiter.acquire(len(requests) if self.unit == "items" else sum(wcus))

    def write_batch(self, items: list[tuple[dict, int]]) -> WriteStats:
        """One batch of (client item, size) pairs, until every item is written."""
        if self.guard is not None:
            return self._write_guarded(items)
        stats = WriteStats(batches=1)
        pending = [({"PutRequest": {"Item": it}}, item_wcu(size)) for it, size in items]
        stats.items = len(pending)
        stats.wcu_estimated = sum(w for _, w in pending)
        attempt, last_progress = 0, time.monotonic()
        while pending:
            requests = [r for r, _ in pending]
            self._pace(requests, [w for _, w in pending], stats)
            stats.requests += 1
            kwargs = {"RequestItems": {self.table: requests}}
            if self.consumed_capacity:
                kwargs["ReturnConsumedCapacity"] = "TOTAL"
            try:
                resp = self.client.batch_write_item(**kwargs)
            except Exception as e:  # noqa: BLE001 - classified below
                code, retryable = classify(e)
                if not retryable:
                    key = dict(list(requests[0]["PutRequest"]["Item"].items())[:2])
                    raise WriteError(f"BatchWriteItem to {self.table} failed ({code}): {e}; "
                                     f"first item of the batch: {key}") from e
                stats.throttled[code] = stats.throttled.get(code, 0) + 1
                self._retry_wait(attempt, last_progress, code, stats)
                attempt += 1
                continue
            for cc in resp.get("ConsumedCapacity") or []:
                stats.wcu_consumed += float(cc.get("CapacityUnits") or 0)
            left = (resp.get("UnprocessedItems") or {}).get(self.table) or []
            if len(left) < len(pending):
                last_progress = time.monotonic()
                attempt = 0
            if not left:
                break
            stats.unprocessed += len(left)
            stats.throttled["UnprocessedItems"] = stats.throttled.get("UnprocessedItems", 0) + 1
            # keep the WCU of each unprocessed item (match by identity of the request dicts' keys)
            wcu_of = {json.dumps(r["PutRequest"]["Item"], sort_keys=True, default=str): w for r, w in pending}
            pending = [(r, wcu_of.get(json.dumps(r["PutRequest"]["Item"], sort_keys=True, default=str), 1))
                       for r in left]
            self._retry_wait(attempt, last_progress, "UnprocessedItems", stats)
            attempt += 1
        return stats

    def _write_guarded(self, items: list[tuple[dict, int]]) -> WriteStats:
        """Each item by a conditional PutItem (retried like a batch); an older-or-equal version is skipped."""
        stats = WriteStats(batches=1, items=len(items))
        for item, size in items:
            wcu = item_wcu(size)
            stats.wcu_estimated += wcu
            attempt, last_progress = 0, time.monotonic()
            while True:
                self._pace([item], [wcu], stats)
                stats.requests += 1
                try:
                    resp = self.client.put_item(TableName=self.table, Item=item, ReturnConsumedCapacity="TOTAL"
                                                if self.consumed_capacity else "NONE", **self.guard.put_kwargs(item))
                except Exception as e:  # noqa: BLE001 - classified below
                    code, retryable = classify(e)
                    if code == "ConditionalCheckFailedException":
                        stats.stale += 1
                        break
                    if not retryable:
                        key = dict(list(item.items())[:2])
                        raise WriteError(f"PutItem to {self.table} failed ({code}): {e}; item key {key}") from e
                    stats.throttled[code] = stats.throttled.get(code, 0) + 1
                    self._retry_wait(attempt, last_progress, code, stats)
                    attempt += 1
                    continue
                stats.wcu_consumed += float((resp.get("ConsumedCapacity") or {}).get("CapacityUnits") or 0)
                break
        return stats

    def _retry_wait(self, attempt: int, last_progress: float, code: str, stats: WriteStats) -> None:
        if time.monotonic() - last_progress > self.retry_seconds:
            raise WriteError(f"writing {self.table}: no progress for {self.retry_seconds:.0f}s of retries "
                             f"(last answer {code}); the task fails and Spark retries it (puts are idempotent)")
        stats.retries += 1
        self.sleep(self._backoff(attempt))

    def write(self, items: Iterable[tuple[str, int]]) -> WriteStats:
        """Write (DynamoDB-JSON text, size) pairs with `threads` batches in flight."""
        from mysql2dynamo.ground.dynamo_json import to_client_item

        total = WriteStats()
        if self.threads == 1:
            for batch in _batches(items):
                total.add(self.write_batch([(to_client_item(t), s) for t, s in batch]))
            return total
        with ThreadPoolExecutor(self.threads) as pool:
            inflight = set()
            for batch in _batches(items):
                inflight.add(pool.submit(self.write_batch, [(to_client_item(t), s) for t, s in batch]))
                if len(inflight) >= self.threads * 2:
                    done, inflight = wait(inflight, return_when=FIRST_COMPLETED)
                    for f in done:
                        total.add(f.result())
            for f in inflight:
                total.add(f.result())
        return total


def _batches(items: Iterable[tuple[str, int]]) -> Iterator[list[tuple[str, int]]]:
    batch: list[tuple[str, int]] = []
    for pair in items:
        batch.append(pair)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def make_client(endpoint: str | None = None, region: str | None = None, max_pool: int = 16):
    import boto3
    from botocore.config import Config

    # the SDK's own retries are off: BatchWriter retries (with jitter, and UnprocessedItems too)
    # items come from the compiled mapping, already valid: skip botocore's parameter validation (CPU)
    cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=max_pool,
                 connect_timeout=10, read_timeout=60, parameter_validation=False)
    return boto3.client("dynamodb", endpoint_url=endpoint or None, region_name=region or None, config=cfg)


def _load_factory(path: str):
    module, _, name = path.partition(":")
    import importlib

    return getattr(importlib.import_module(module), name)


# --- the Spark data source ----------------------------------------------------------------------------

try:
    from pyspark.sql.datasource import DataSource, DataSourceWriter, WriterCommitMessage
except ImportError:  # pyspark < 4.0: the module stays importable, the sink is not
    DataSource = DataSourceWriter = WriterCommitMessage = object  # type: ignore[misc, assignment]


@dataclass
class TaskResult(WriterCommitMessage):  # type: ignore[misc]
    stats: dict


class DynamoDBDataSource(DataSource):  # type: ignore[misc]
    """Options: table (required), endpoint, region, rate_items | rate_wcu (per task), threads,
    retry_seconds, guard_key + guard_version (guarded puts, see `Guard`), stats_path (the driver
    writes the summed task stats there as JSON),
    client_factory (`module:function(endpoint, region)`, for tests)."""

    @classmethod
    def name(cls) -> str:
        return FORMAT

    def writer(self, schema, overwrite: bool):
        return DynamoDBWriter(dict(self.options))


class DynamoDBWriter(DataSourceWriter):  # type: ignore[misc]
    def __init__(self, options: dict):
        if not options.get("table"):
            raise ValueError("the dynamodb sink needs option table")
        self.options = options

    def write(self, iterator) -> TaskResult:
        o = self.options
        factory = _load_factory(o["client_factory"]) if o.get("client_factory") else make_client
        threads = int(o.get("threads", 4))
        client = factory(o.get("endpoint"), o.get("region"))
        limiter, unit = None, "items"
        if o.get("rate_items"):
            limiter, unit = TokenBucket(float(o["rate_items"])), "items"
        elif o.get("rate_wcu"):
            limiter, unit = TokenBucket(float(o["rate_wcu"])), "wcu"
        guard = Guard(o["guard_key"], o["guard_version"]) if o.get("guard_key") else None
        writer = BatchWriter(client, o["table"], limiter=limiter, unit=unit, threads=threads,
                             retry_seconds=float(o.get("retry_seconds", 600)), guard=guard)
        pairs = ((row["_item"], int(row["_size"]) if row["_size"] is not None else 0) for row in iterator)
        return TaskResult(writer.write(pairs).as_dict())

    def commit(self, messages) -> None:
        path = self.options.get("stats_path")
        if not path:
            return
        total = WriteStats()
        for m in messages:
            if m is not None:
                total.add(WriteStats.from_dict(m.stats))
        with open(path, "w") as f:
            json.dump({"tasks": len(messages), **total.as_dict()}, f)

    def abort(self, messages) -> None:
        # items already written stay (idempotent puts): a rerun of the load rewrites them
        pass


_registered: set[int] = set()


def register(spark) -> None:
    """Register the data source once per session, with the interpreter Spark is configured to use.

    The data source planner runs in `SparkContext.pythonExec` ($PYSPARK_PYTHON or "python3"),
    which ignores `spark.pyspark.python` in a session made in-process (spark-submit and EMR set
    $PYSPARK_PYTHON): align it, or the planner may start a Python without pyarrow.
    """
    if id(spark) not in _registered:
        sc = spark.sparkContext
        sc.pythonExec = sc.getConf().get("spark.pyspark.python", sc.pythonExec)
        spark.dataSource.register(DynamoDBDataSource)
        _registered.add(id(spark))


def write_items(items_df, table: str, *, tasks: int, per_task_rate_items: float | None = None,
                per_task_rate_wcu: float | None = None, endpoint: str | None = None, region: str | None = None,
                threads: int = 4, stats_path: str | None = None, client_factory: str | None = None,
                guard: Guard | None = None) -> dict:
    """Write the `_item`/`_size` columns of `items_df` (already `tasks` partitions) to `table`."""
    register(items_df.sparkSession)
    w = items_df.select("_item", "_size").write.format(FORMAT).mode("append").option("table", table) \
        .option("threads", str(threads))
    for k, v in (("endpoint", endpoint), ("region", region), ("rate_items", per_task_rate_items),
                 ("rate_wcu", per_task_rate_wcu), ("stats_path", stats_path), ("client_factory", client_factory),
                 ("guard_key", guard and guard.partition_key), ("guard_version", guard and guard.version_attribute)):
        if v is not None:
            w = w.option(k, str(v))
    w.save()
    if stats_path:
        try:
            with open(stats_path) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}
    return {}


@dataclass(frozen=True)
class DynamoDBSink:
    name: ClassVar[str] = "dynamodb"
    creates_table: ClassVar[bool] = False
    guards: ClassVar[bool] = True

    endpoint: str | None
    region: str | None
    threads: int  # batches in flight per task
    client_factory: str | None  # `module:function(endpoint, region)` (tests)

    def write(self, frame: DataFrame, job: WriteJob) -> SinkResult:
        per_task = job.budget.per_task(job.tasks)
        fd, stats_path = tempfile.mkstemp(prefix="m2d-load-", suffix=".json")
        os.close(fd)
        try:
            stats = write_items(frame, job.target, tasks=job.tasks, per_task_rate_items=per_task.items_per_second,
                                per_task_rate_wcu=per_task.wcu_per_second, endpoint=self.endpoint,
                                region=self.region, threads=self.threads, stats_path=stats_path,
                                client_factory=self.client_factory, guard=job.guard)
        finally:
            os.unlink(stats_path)
        return {"sink_stats": stats, "wcu_consumed": stats.get("wcu_consumed") or None,
                "guarded": job.guard is not None}
