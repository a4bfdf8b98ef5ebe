"""Where the stream remembers how far Kinesis has acknowledged the binlog.

A checkpoint is the end of the last transaction whose records are all on the stream, so a
restart resumes at a transaction boundary; the few transactions after it may be sent twice,
which the replay's version guard makes harmless. Two stores:

- a local JSON file, replaced atomically (write, fsync, rename), for one box and for tests;
- a DynamoDB table (`dynamodb://table/stream-id`), for production, written with a condition.

Neither store lets a checkpoint go backwards (a stale process, a restart from an older place): a
save below the stored `ver` is refused. A checkpoint also names the server it was taken on
(`server`: server_id, and server_uuid on MySQL), which capture checks when it resumes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.ground.files import atomic_write


@dataclass(frozen=True)
class Checkpoint:
    position: BinlogPosition
    stream: str
    updated_at: float
    server: dict | None = None  # the identity of the server the position belongs to (cdc.server.server_identity)

    def as_dict(self) -> dict:
        return {**self.position.as_dict(), "ver": str(self.position.ver()), "stream": self.stream,
                "updated_at": self.updated_at, "server": self.server}

    @classmethod
    def from_dict(cls, doc: dict) -> Checkpoint:
        return cls(BinlogPosition.from_dict(doc), doc["stream"], float(doc["updated_at"]), doc.get("server"))


class CheckpointBackwards(RuntimeError):
    """A save below the stored checkpoint: another process runs for the same stream, or a restart went back."""


def _backwards(where: str, position: BinlogPosition) -> CheckpointBackwards:
    return CheckpointBackwards(f"checkpoint {where} is already past {position}: another "
                               "stream process is running for the same checkpoint, or capture was started again "
                               "from an older place; a checkpoint never goes backwards")


class CheckpointStore(Protocol):
    def load(self) -> Checkpoint | None: ...

    def save(self, checkpoint: Checkpoint) -> None: ...


class FileCheckpointStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> Checkpoint | None:
        try:
            return Checkpoint.from_dict(json.loads(self.path.read_text()))
        except FileNotFoundError:
            return None

    def save(self, checkpoint: Checkpoint) -> None:
        stored = self.load()
        if stored is not None and checkpoint.position.ver() < stored.position.ver():
            raise _backwards(str(self.path), checkpoint.position)
        atomic_write(self.path, json.dumps(checkpoint.as_dict()), durable=True)

    def __str__(self) -> str:
        return str(self.path)


class DynamoCheckpointStore:
    """One item per stream id in a table with a string hash key `id` (created when missing)."""

    def __init__(self, client, table: str, stream_id: str) -> None:
        self.client, self.table, self.id = client, table, stream_id

    def ensure_table(self) -> None:
        try:
            self.client.describe_table(TableName=self.table)
        except self.client.exceptions.ResourceNotFoundException:
            self.client.create_table(
                TableName=self.table, BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            )
            self.client.get_waiter("table_exists").wait(TableName=self.table)

    def load(self) -> Checkpoint | None:
        item = self.client.get_item(TableName=self.table, Key={"id": {"S": self.id}}, ConsistentRead=True).get("Item")
        if not item:
            return None
        return Checkpoint.from_dict(json.loads(item["doc"]["S"]))

    def save(self, checkpoint: Checkpoint) -> None:
        ver = str(checkpoint.position.ver())
        try:
            self.client.put_item(
                TableName=self.table,
                Item={"id": {"S": self.id}, "ver": {"N": ver}, "doc": {"S": json.dumps(checkpoint.as_dict())}},
                ConditionExpression="attribute_not_exists(id) OR ver <= :v",
                ExpressionAttributeValues={":v": {"N": ver}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            raise _backwards(str(self), checkpoint.position) from None

    def __str__(self) -> str:
        return f"dynamodb://{self.table}/{self.id}"


def open_store(url: str, stream: str, dynamodb_client=None) -> CheckpointStore:
    """`dynamodb://table/id` or a file path."""
    if url.startswith("dynamodb://"):
        table, _, stream_id = url[len("dynamodb://"):].partition("/")
        if dynamodb_client is None:
            import boto3

            dynamodb_client = boto3.client("dynamodb")
        store = DynamoCheckpointStore(dynamodb_client, table, stream_id or stream)
        store.ensure_table()
        return store
    return FileCheckpointStore(url)
