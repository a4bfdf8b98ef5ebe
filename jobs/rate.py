"""The write-rate budget of a bulk load: an absolute rate for the whole job, split across tasks.

A budget is items/s or WCU/s (`--max-items-per-second`, `--max-wcu`) for the *job*, whatever the
number of executors. The load repartitions its items into exactly `tasks` write partitions, all of
which run at once (tasks = the task slots of the cluster, `spark.default.parallelism`), and gives
each task `budget / tasks`. If fewer slots than tasks exist, some tasks wait and the job runs
*below* the budget, never above it.

A standard put of an item of `s` bytes costs ceil(s / 1024) WCU (at least 1); `item_wcu` is that.

- The `dynamodb` sink paces each task with a `TokenBucket` (shared by the task's writer threads).
- The `emr-connector` sink is paced by the connector itself: its per-task rate is
  `dynamodb.throughput.write * dynamodb.throughput.write.percent / mapreduce.job.maps`, so we set
  `dynamodb.throughput.write` to the job's WCU budget, the percent to 1 and `mapreduce.job.maps` to
  the real task count (`connector_conf`). Without a budget we never let the connector guess: an
  on-demand table would otherwise be assumed to take 40,000 WCU.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

WCU_BYTES = 1024

# without a budget the connector gets a rate it never reaches (throttling is then handled by retries)
UNLIMITED_WCU = 10_000_000


def item_wcu(size_bytes: int) -> int:
    """WCU of one standard (non-transactional) put of an item of `size_bytes`."""
    return max(1, math.ceil(size_bytes / WCU_BYTES))


@dataclass(frozen=True)
class Budget:
    """The job's write budget; at most one of the two is set (None = unlimited)."""

    items_per_second: float | None = None
    wcu_per_second: float | None = None

    def __post_init__(self):
        if self.items_per_second is not None and self.wcu_per_second is not None:
            raise ValueError("give either an items/s or a WCU/s budget, not both")
        for v in (self.items_per_second, self.wcu_per_second):
            if v is not None and v <= 0:
                raise ValueError(f"a write budget must be positive, got {v}")

    @property
    def limited(self) -> bool:
        return self.items_per_second is not None or self.wcu_per_second is not None

    def per_task(self, tasks: int) -> Budget:
        if tasks < 1:
            raise ValueError("tasks must be >= 1")
        if self.items_per_second is not None:
            return Budget(items_per_second=self.items_per_second / tasks)
        if self.wcu_per_second is not None:
            return Budget(wcu_per_second=self.wcu_per_second / tasks)
        return self

    def wcu_rate(self, wcu_per_item: float = 1.0) -> float | None:
        """The budget in WCU/s, converting an items/s budget with the items' mean WCU."""
        if self.wcu_per_second is not None:
            return self.wcu_per_second
        if self.items_per_second is not None:
            return self.items_per_second * wcu_per_item
        return None

    def describe(self) -> str:
        if self.items_per_second is not None:
            return f"{self.items_per_second:g} items/s"
        if self.wcu_per_second is not None:
            return f"{self.wcu_per_second:g} WCU/s"
        return "unlimited"

    def as_dict(self) -> dict:
        return {"items_per_second": self.items_per_second, "wcu_per_second": self.wcu_per_second}


def connector_conf(budget: Budget, tasks: int, wcu_per_item: float, table_wcu: float | None = None,
                   write_percent: float = 1.0) -> dict[str, str]:
    """Connector settings that make its per-task rate the job budget / tasks.

    `table_wcu`: the provisioned WCU of the table when there is no budget (the connector would
    otherwise read it itself, and assume 40,000 for an on-demand table).
    """
    rate = budget.wcu_rate(wcu_per_item)
    if rate is None:
        rate = table_wcu * write_percent if table_wcu else UNLIMITED_WCU
    # the connector floors the total and then the per-task share (min 1 WCU/s per task)
    return {
        "dynamodb.throughput.write": str(max(int(math.floor(rate)), tasks)),
        "dynamodb.throughput.write.percent": "1.0",
        "mapreduce.job.maps": str(tasks),
    }


class TokenBucket:
    """Thread-safe pacing to `rate` units/s with a small burst; `acquire(n)` blocks until allowed.

    The burst is a tenth of a second of budget (at least one 25-item batch), so a task never
    writes more than `rate * t + burst` units in any window of t seconds.
    """

    def __init__(self, rate: float, burst: float | None = None, clock=time.monotonic, sleep=time.sleep):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(rate / 10, 25.0))
        self.clock, self.sleep = clock, sleep
        self._tokens = self.burst
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self, n: float) -> float:
        """Take `n` units (n may exceed the burst: the caller then waits n/rate); returns seconds waited."""
        waited = 0.0
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= n
            if self._tokens < 0:
                waited = -self._tokens / self.rate
        if waited > 0:
            self.sleep(waited)
        return waited


def task_limiter(budget: Budget) -> tuple[TokenBucket | None, str]:
    """A per-task limiter for a per-task budget and the unit it counts ("items" or "wcu")."""
    if budget.items_per_second is not None:
        return TokenBucket(budget.items_per_second), "items"
    if budget.wcu_per_second is not None:
        return TokenBucket(budget.wcu_per_second), "wcu"
    return None, "items"
