"""What every bulk-load sink is: a name, whether it makes its target table, and `write`.

    sink = make_sink(opts.sink, opts)                      # jobs.sinks: the sinks by name
    result = sink.write(frame, WriteJob(target, tasks, budget, wcu_per_item, checked, scheme, say))

`frame` holds the items of one target table, `_item` (DynamoDB-JSON text) and `_size` (bytes),
already in `tasks` partitions. A sink is a dataclass whose fields are load options of the same
names (`LoadOptions.endpoint`, ...): `make_sink` fills them in. What `write` returns joins the
summary's entry for the target table. A job with a `guard` is a re-load into a table that holds
items: only a sink with `guards` may take it (each write conditional on the version attribute).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from mysql2dynamo.jobs.rate import Budget

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from mysql2dynamo.keymap.checker import CheckedMapping

SinkResult = dict[str, Any]


@dataclass(frozen=True)
class Guard:
    """Write an item only over an older version: `attribute_not_exists(key) OR version < :v`."""

    partition_key: str
    version_attribute: str

    def put_kwargs(self, item: dict) -> dict:
        return {"ConditionExpression": "attribute_not_exists(#k) OR #v < :v",
                "ExpressionAttributeNames": {"#k": self.partition_key, "#v": self.version_attribute},
                "ExpressionAttributeValues": {":v": item[self.version_attribute]}}


@dataclass(frozen=True)
class WriteJob:
    """One target table's write, as the load hands it to the sink."""

    target: str
    tasks: int  # the frame's partitions, written in parallel
    budget: Budget  # the whole job's write rate
    wcu_per_item: float  # the items' mean estimated WCU
    checked: CheckedMapping
    scheme: str  # how Spark addresses s3:// here: s3a locally, s3 (EMRFS) on EMR
    say: Callable[[str], None]
    guard: Guard | None = None  # the table holds items already (a re-load): write only over older versions


class Sink(Protocol):
    name: ClassVar[str]
    creates_table: ClassVar[bool]  # the sink makes the target table itself (it must not exist yet)
    guards: ClassVar[bool]  # the sink can honour WriteJob.guard (a re-load into a table that holds items)

    def write(self, frame: DataFrame, job: WriteJob) -> SinkResult: ...
