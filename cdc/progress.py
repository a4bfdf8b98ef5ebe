"""Where capture and replay record how far they got, so `status` and `cutover` can see it anywhere.

A record never moves backwards: every save is a put conditioned on the stored order key being at
or below the new one, so a stale process (a retried Lambda batch, a second runner) is a no-op,
not a regression. It is a property of the storage, as for `checkpoint.DynamoCheckpointStore`.

One DynamoDB table (string hash key `id`), one item per record:

| id | written by | attributes |
|---|---|---|
| `capture#STREAM` | `mysql2dynamo stream` | `position` (file:pos), `ver`, `time`, `started` (set once) |
| `replay#STREAM#SHARD` | the replay (local runner or Lambda) | `sequence`, `ver`, `arrival`, `time` |
| `dead#STREAM` | the replay | `count` of dead letters written (added to, never reset) |
| `floor#STREAM` | `cleanup-tombstones`, `cutover` | `ver`: the tombstone floor, `time` |

The tombstone floor is the `ver` at or below which tombstones may be removed: every change at or below
it has been applied, so the replay drops any change at or below it that comes again (a redelivery),
and it reads the floor at the start of every batch and records the one it read with its shard
(`floor` on `replay#...`), which tells the cleanup when every shard has seen it.

`M2D_PROGRESS_TABLE` (or a command's `--progress-table`) names the table.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from mysql2dynamo.cdc.checkpoint import DynamoCheckpointStore
from mysql2dynamo.cdc.position import BinlogPosition

PROGRESS_ENV = "M2D_PROGRESS_TABLE"
SEQUENCE_WIDTH = 80  # Kinesis sequence numbers are decimal strings of up to 56 digits: padded, they sort


@dataclass(frozen=True)
class CaptureProgress:
    position: BinlogPosition
    started: BinlogPosition | None
    time: float


@dataclass(frozen=True)
class ShardProgress:
    shard: str
    sequence: str
    ver: int
    arrival: float  # the applied record's arrival time on the stream (epoch seconds)
    time: float
    floor: int = 0  # the tombstone floor the batch that saved this read at its start


def parse_position(text: str) -> BinlogPosition:
    """`file:pos`, as `str(BinlogPosition)` writes it (a trailing ` (gtid ...)` is ignored)."""
    file, sep, pos = text.split(" ")[0].rpartition(":")
    if not sep or not pos.isdigit():
        raise ValueError(f"expected a binlog position FILE:POS, got {text!r}")
    return BinlogPosition(file, int(pos))


class ProgressTable:
    def __init__(self, client, table: str, stream: str) -> None:
        self.client, self.table, self.stream = client, table, stream
        self._capture_started: str | None = None  # read once: where capture first started never changes

    @classmethod
    def from_env(cls, stream: str, client=None, table: str | None = None) -> ProgressTable | None:
        """The progress table named by `table` or `M2D_PROGRESS_TABLE`; None when neither is set."""
        table = table or os.environ.get(PROGRESS_ENV)
        if not table:
            return None
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        return cls(client, table, stream)

    def ensure_table(self) -> None:
        """Created when missing, with the checkpoint table's schema (a string hash key `id`)."""
        DynamoCheckpointStore(self.client, self.table, self.stream).ensure_table()

    def _save(self, record_id: str, order: dict, values: dict) -> None:
        """Put unless the stored `order` attribute is already past this one (then nothing changes)."""
        (name, value), = order.items()
        try:
            self.client.put_item(
                TableName=self.table, Item={"id": {"S": record_id}, name: value, **values},
                ConditionExpression="attribute_not_exists(id) OR #o <= :o",
                ExpressionAttributeNames={"#o": name}, ExpressionAttributeValues={":o": value})
        except self.client.exceptions.ConditionalCheckFailedException:
            pass

    def _get(self, record_id: str) -> dict | None:
        return self.client.get_item(TableName=self.table, Key={"id": {"S": record_id}},
                                    ConsistentRead=True).get("Item")

    # -- capture

    def save_capture(self, position: BinlogPosition, started: BinlogPosition) -> None:
        """One PutItem per checkpoint (capture's loop waits for it); the first also reads where capture started."""
        if self._capture_started is None:
            held = self._get(f"capture#{self.stream}")
            self._capture_started = (held["started"]["S"] if held and "started" in held
                                     else f"{started.file}:{started.pos}")
        self._save(f"capture#{self.stream}", {"ver": {"N": str(position.ver())}},
                   {"position": {"S": f"{position.file}:{position.pos}"}, "started": {"S": self._capture_started},
                    "time": {"N": repr(time.time())}})

    def capture(self) -> CaptureProgress | None:
        item = self._get(f"capture#{self.stream}")
        if not item:
            return None
        return CaptureProgress(parse_position(item["position"]["S"]),
                               parse_position(item["started"]["S"]) if "started" in item else None,
                               float(item["time"]["N"]))

    # -- replay

    def save_shard(self, shard: str, sequence: str, ver: int, arrival: float, floor: int = 0) -> None:
        self._save(f"replay#{self.stream}#{shard}", {"order": {"S": sequence.zfill(SEQUENCE_WIDTH)}},
                   {"shard": {"S": shard}, "sequence": {"S": sequence}, "ver": {"N": str(ver)},
                    "arrival": {"N": repr(arrival)}, "time": {"N": repr(time.time())},
                    "floor": {"N": str(floor)}})

    def shard(self, shard: str) -> ShardProgress | None:
        item = self._get(f"replay#{self.stream}#{shard}")
        if not item:
            return None
        return ShardProgress(shard, item["sequence"]["S"], int(item["ver"]["N"]), float(item["arrival"]["N"]),
                             float(item["time"]["N"]), int(item["floor"]["N"]) if "floor" in item else 0)

    def save_batch(self, event_records: list[dict], applied: int, ver: int, dead_letters: int,
                   floor: int = 0) -> None:
        """After a Lambda Kinesis batch: its first `applied` records are applied (the shard moves to the last)."""
        if dead_letters:
            self.add_dead_letters(dead_letters)
        if applied:
            last = event_records[applied - 1]
            self.save_shard(last["eventID"].rpartition(":")[0], last["kinesis"]["sequenceNumber"], ver,
                            float(last["kinesis"]["approximateArrivalTimestamp"]), floor)

    # -- the tombstone floor

    def save_floor(self, ver: int) -> None:
        """Raise the floor to `ver` (never lowers it)."""
        self._save(f"floor#{self.stream}", {"ver": {"N": str(ver)}}, {"time": {"N": repr(time.time())}})

    def floor(self) -> int:
        """The tombstone floor (0: tombstones were never removed)."""
        item = self._get(f"floor#{self.stream}")
        return int(item["ver"]["N"]) if item else 0

    def add_dead_letters(self, count: int) -> None:
        self.client.update_item(TableName=self.table, Key={"id": {"S": f"dead#{self.stream}"}},
                                UpdateExpression="ADD #c :n", ExpressionAttributeNames={"#c": "count"},
                                ExpressionAttributeValues={":n": {"N": str(count)}})

    def dead_letters(self) -> int:
        item = self._get(f"dead#{self.stream}")
        return int(item["count"]["N"]) if item else 0

    def __str__(self) -> str:
        return f"dynamodb://{self.table} ({self.stream})"
