"""Where changes that cannot be applied go, with the reason, so that nothing is lost silently.

A poison record is one that can never be applied: a bad envelope, a claim-check object that is
gone, a row the mapping rejects (e.g. a NULL key) or cannot map (an exception in the mapping, e.g.
a value an ALTER made text in a DECIMAL attribute). It must not block its shard: it is written
here with its data and the reason, and the rest of the batch is applied. Dead letters block the
cutover until an operator has dealt with them. Destinations: a local folder
(JSON lines, one file per batch), `s3://bucket/prefix`, or an SQS queue URL (http(s)://...).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from mysql2dynamo.ground.files import is_s3, split_s3


@dataclass(frozen=True)
class Poison:
    reason: str  # undecodable | claim_check | mapping_error | a keymap rejection reason | dynamodb_validation
    message: str
    sequence_number: str | None
    partition_key: str | None
    data: bytes  # the record as it came from the stream

    def as_dict(self) -> dict:
        d = asdict(self)
        d["data"] = base64.b64encode(self.data).decode()
        return d


class DeadLetter(Protocol):
    def put(self, poisons: list[Poison]) -> None: ...


class FolderDeadLetter:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def put(self, poisons: list[Poison]) -> None:
        if not poisons:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.jsonl"
        with open(self.path / name, "w") as f:
            for p in poisons:
                f.write(json.dumps(p.as_dict()) + "\n")

    def read(self) -> list[dict]:
        return [json.loads(line) for file in sorted(self.path.glob("*.jsonl")) for line in file.open()]


class S3DeadLetter:
    def __init__(self, s3, url: str) -> None:
        self.s3 = s3
        self.bucket, self.prefix = split_s3(url)

    def put(self, poisons: list[Poison]) -> None:
        if poisons:
            key = f"{self.prefix.rstrip('/')}/{time.strftime('%Y/%m/%d/%H%M%S')}-{uuid.uuid4().hex[:8]}.jsonl"
            body = "".join(json.dumps(p.as_dict()) + "\n" for p in poisons)
            self.s3.put_object(Bucket=self.bucket, Key=key.lstrip("/"), Body=body.encode())


class SqsDeadLetter:
    def __init__(self, sqs, queue_url: str) -> None:
        self.sqs, self.queue_url = sqs, queue_url

    def put(self, poisons: list[Poison]) -> None:
        for i in range(0, len(poisons), 10):
            entries = [{"Id": str(n), "MessageBody": json.dumps(p.as_dict())}
                       for n, p in enumerate(poisons[i:i + 10])]
            failed = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries).get("Failed")
            if failed:
                raise RuntimeError(f"dead-letter queue refused {len(failed)} messages: {failed[0]}")


def open_dead_letter(url: str) -> DeadLetter:
    import boto3

    if is_s3(url):
        return S3DeadLetter(boto3.client("s3"), url)
    if url.startswith(("https://", "http://")):  # an SQS queue URL
        return SqsDeadLetter(boto3.client("sqs"), url)
    return FolderDeadLetter(url)
