"""The AWS Lambda entry point for the Kinesis event source mapping (`replay.handler.handler`).

Receives the standard Kinesis event (base64 records of one shard, in order), decodes the change
envelopes (fetching claim-checked ones from S3), applies them with the apply engine, sends
poison records to the dead-letter destination, and answers with ReportBatchItemFailures: the
first failed record's sequence number, so Lambda retries from there and nothing after it is
lost (everything before it is applied; re-applying is harmless).
"""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

from mysql2dynamo.cdc.envelope import Change
from mysql2dynamo.cdc.progress import ProgressTable
from mysql2dynamo.ground.files import split_s3
from mysql2dynamo.replay.apply import ApplyOutcome
from mysql2dynamo.replay.dead_letter import Poison
from mysql2dynamo.replay.runtime import ReplayRuntime

log = logging.getLogger("mysql2dynamo.replay")
SAFETY_MS = 3000  # stop retrying this long before Lambda's own timeout

_runtime: ReplayRuntime | None = None
_progress: dict[str, ProgressTable | None] = {}  # per stream, when M2D_PROGRESS_TABLE names the table


def runtime() -> ReplayRuntime:
    """Built once per container: the mapping is compiled at cold start, not per batch."""
    global _runtime
    if _runtime is None:
        _runtime = ReplayRuntime.from_env()
    return _runtime


def decode_records(records: list[dict], s3=None) -> tuple[list[tuple[int, Change]], list[Poison]]:
    changes, poisons = [], []
    for i, record in enumerate(records):
        k = record["kinesis"]
        data = base64.b64decode(k["data"])
        try:
            change = Change.from_bytes(data)
            if change.claim_check:
                change = _resolve(change, s3)
            changes.append((i, change))
        except Exception as e:  # undecodable: a poison record, it must not block the shard
            poisons.append(Poison("undecodable", f"{type(e).__name__}: {e}", k.get("sequenceNumber"),
                                  k.get("partitionKey"), data))
    return changes, poisons


def _resolve(pointer: Change, s3) -> Change:
    if s3 is None:
        import boto3

        s3 = boto3.client("s3")
    bucket, key = split_s3(pointer.claim_check)
    full = Change.from_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    if full.ver != pointer.ver:
        raise ValueError(f"claim check {pointer.claim_check} holds ver {full.ver}, the record says {pointer.ver}")
    return full


def progress_of(event: dict) -> ProgressTable | None:
    """The progress table of the event's stream (built once per container)."""
    records = event.get("Records", [])
    if not records:
        return None
    stream = records[0]["eventSourceARN"].rpartition("/")[2]
    if stream not in _progress:
        _progress[stream] = ProgressTable.from_env(stream)
    return _progress[stream]


def process(event: dict, rt: ReplayRuntime, deadline: float | None,
            progress: ProgressTable | None = None) -> tuple[dict, ApplyOutcome]:
    """The handler's work, shared with the local runner; returns the Lambda response and the outcome.

    With a progress table, the applied part of the batch is recorded there (sequence number, ver)."""
    records = event.get("Records", [])
    changes, poisons = decode_records(records)
    outcome = rt.engine.apply(changes, deadline)
    for index, p in outcome.poisons:
        k = records[index]["kinesis"]
        poisons.append(Poison(p.reason, p.message, k.get("sequenceNumber"), p.partition_key or k.get("partitionKey"),
                              p.data))
    failed = sorted(outcome.failed_indexes)
    try:
        rt.dead_letter.put(poisons)
    except Exception as e:  # the dead letters could not be stored: retry the whole batch
        log.error("dead-letter destination failed: %s", e)
        failed = [0]
    outcome.stats.rejected = len(poisons)
    failures = [{"itemIdentifier": records[failed[0]]["kinesis"]["sequenceNumber"]}] if failed else []
    if progress is not None:
        applied = failed[0] if failed else len(records)
        progress.save_batch(records, applied, max((c.ver for i, c in changes if i < applied), default=0),
                            len(poisons))
    return {"batchItemFailures": failures}, outcome


def handler(event: dict, context: Any) -> dict:
    remaining_ms = context.get_remaining_time_in_millis() if context is not None else 60_000
    deadline = time.monotonic() + max(0, remaining_ms - SAFETY_MS) / 1000
    response, outcome = process(event, runtime(), deadline, progress_of(event))
    log.info("replay batch: %s", outcome.stats.__dict__)
    return response
